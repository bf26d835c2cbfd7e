#!/usr/bin/env python3
"""Generates Sources/ONNX/Generated/OperatorTypeRules.swift from ONNX's own operator schemas.

Run from the repository root with the project venv (it pins onnx):

    .venv/bin/python scripts/generate-type-rules.py

For every version of every operator in every domain the installed onnx knows, the Swift table
says how each formal output's element type follows from the node: copied from an input, fixed,
read from an int attribute, or `.special` (hand-written code in Swift); and which inputs one
type constraint binds to a single element type (`sameTypeInputs`, see same_type_inputs). The output is sorted so
reruns give byte-identical files, and it is written atomically so a failed run never leaves a
half-written file. scripts/check-type-rules.py verifies the table against the ONNX node tests.
"""
import os
import sys
import tempfile

import onnx
from onnx import defs
from onnx.defs import OpSchema

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT_PATH = os.path.join(ROOT, "Sources", "ONNX", "Generated", "OperatorTypeRules.swift")
SLOTS_PATH = os.path.join(ROOT, "Sources", "ONNX", "Generated", "OperatorFloatSlots.swift")

# Our Swift `DType` cases in raw-value order: raw value = index + 1 = TensorProto.DataType code.
DTYPE_CASES = [
    "float32", "uint8", "int8", "uint16", "int16", "int32", "int64", "string", "bool",
    "float16", "float64", "uint32", "uint64", "complex64", "complex128", "bfloat16",
    "float8e4m3fn", "float8e4m3fnuz", "float8e5m2", "float8e5m2fnuz", "uint4", "int4",
    "float4e2m1", "float8e8m0", "uint2", "int2",
]
# ONNX spells element types like TensorProto.DataType names, lower-cased, except these two.
ONNX_NAME_TO_CASE = {"float": "float32", "double": "float64"}

# Outputs whose type no input/constraint determines but an int attribute does. Applied only to
# outputs the generic rules leave open (so LayerNormalization's Y stays `.input(0)`).
#   "attribute": the attribute's code; its default comes from the schema (nil if required/none).
#   "attributeOrInput": the attribute if present, else the element type of input 0.
ATTRIBUTE_OPS = {
    ("", "Cast"): ("attribute", "to"),
    ("", "BitCast"): ("attribute", "to"),
    ("", "RandomNormal"): ("attribute", "dtype"),
    ("", "RandomUniform"): ("attribute", "dtype"),
    ("", "Multinomial"): ("attribute", "dtype"),
    ("", "HannWindow"): ("attribute", "output_datatype"),
    ("", "HammingWindow"): ("attribute", "output_datatype"),
    ("", "BlackmanWindow"): ("attribute", "output_datatype"),
    ("", "MelWeightMatrix"): ("attribute", "output_datatype"),
    # Mean/InvStdDev are computed in stash_type (onnx shape inference does the same).
    ("", "LayerNormalization"): ("attribute", "stash_type"),
    ("", "RandomNormalLike"): ("attributeOrInput", "dtype"),
    ("", "RandomUniformLike"): ("attributeOrInput", "dtype"),
    ("", "EyeLike"): ("attributeOrInput", "dtype"),
    ("", "Bernoulli"): ("attributeOrInput", "dtype"),
}

# Ops whose generic rule would be incomplete, so Swift must handle them by hand.
# QuantizeLinear's y follows y_zero_point, but defaults to uint8 when that input is absent
# (and, since opset 21, to the output_dtype attribute): `.input(2)` would miss those cases.
SPECIAL_OPS = {("", "QuantizeLinear")}


def dtype_case(onnx_name):
    """Swift DType case for an ONNX element type name such as 'float' or 'float8e4m3fn'."""
    case = ONNX_NAME_TO_CASE.get(onnx_name, onnx_name)
    if case not in DTYPE_CASES:
        sys.exit(f"generate-type-rules: unknown ONNX element type {onnx_name!r}")
    return case


def check_dtype_cases():
    """Fails loudly if our raw values ever drift from onnx's TensorProto.DataType codes."""
    for raw, case in enumerate(DTYPE_CASES, start=1):
        onnx_name = {v: k for k, v in ONNX_NAME_TO_CASE.items()}.get(case, case)
        if onnx.TensorProto.DataType.Value(onnx_name.upper()) != raw:
            sys.exit(f"generate-type-rules: DType.{case} should be TensorProto code {raw}")


def single_tensor_type(type_strs):
    """'tensor(X)' -> DType case when the type strings allow exactly one tensor type, else None."""
    if len(type_strs) == 1 and type_strs[0].startswith("tensor(") and type_strs[0].endswith(")"):
        return dtype_case(type_strs[0][len("tensor("):-1])
    return None


def is_variadic(param):
    return param.option == OpSchema.FormalParameterOption.Variadic


def swift_dtype(case):
    return "nil" if case is None else "." + case


def attribute_rule(schema):
    """Rule for an output that ATTRIBUTE_OPS covers, or None."""
    entry = ATTRIBUTE_OPS.get((schema.domain, schema.name))
    if entry is None:
        return None
    kind, name = entry
    attr = schema.attributes.get(name)
    # Cast-1 had a string "to" ("FLOAT"); only int attributes hold a DataType code.
    if attr is None or attr.type != OpSchema.AttrType.INT:
        return None
    if kind == "attributeOrInput":
        if not schema.inputs or is_variadic(schema.inputs[0]):
            return None
        return f'.attributeOrInput("{name}", 0)'
    default = None
    if not attr.required and attr.default_value.HasField("i"):
        default = DTYPE_CASES[attr.default_value.i - 1]
    return f'.attribute("{name}", default: {swift_dtype(default)})'


def output_rule(schema, output_index):
    """Swift `OutputTypeRule` expression for formal output `output_index` of `schema`."""
    if (schema.domain, schema.name) in SPECIAL_OPS:
        return ".special"
    output = schema.outputs[output_index]
    constraints = {c.type_param_str: list(c.allowed_type_strs) for c in schema.type_constraints}
    # A type string is either a constraint name ("T") or a literal ("tensor(int64)").
    allowed = constraints.get(output.type_str, [output.type_str])

    # Sequences, optionals and maps have no single element type: Swift handles them.
    if not any(t.startswith("tensor(") for t in allowed):
        return ".special"
    # Exactly one possible tensor type: fixed. Checked before input matching because it does
    # not depend on the input's type being known (same answer whenever both apply).
    fixed = single_tensor_type(allowed)
    if fixed is not None:
        return f".fixed(.{fixed})"
    # Heterogeneous variadic outputs (Loop, Scan, If) differ per position.
    if is_variadic(output) and not output.is_homogeneous:
        return ".special"

    for index, formal in enumerate(schema.inputs):
        # An optional input may be absent, and then the type comes from elsewhere (e.g.
        # LinearAttention's present_state: past_state's type, else query's): skip it, and
        # leave the output to Swift if no input that is always there shares its type.
        if formal.type_str != output.type_str or formal.option == OpSchema.FormalParameterOption.Optional:
            continue
        # Formal index == actual index only while no variadic input comes earlier; and a
        # heterogeneous variadic input's first actual input says nothing about the others.
        if any(is_variadic(p) for p in schema.inputs[:index]):
            return ".special"
        if is_variadic(formal) and not formal.is_homogeneous:
            return ".special"
        return f".input({index})"

    return attribute_rule(schema) or ".special"


def same_type_inputs(schema):
    """Groups of actual input positions that one type constraint binds to one element type.

    Formal inputs with the same constraint name as type_str (Conv's X, W, B: "T") must have equal
    element types. A group lists actual positions, ascending; a homogeneous variadic formal input
    can only be listed when it is the last formal input, by its first position followed by the
    marker -1 ("and every later actual input too"). Groups are left out when the constraint
    allows non-tensor types (we compare tensor element types only), when a variadic input that is
    not last belongs to them (positions unknown), and when they bind fewer than two inputs.
    Heterogeneous variadic inputs bind nothing, so they never join a group.
    """
    constraints = {c.type_param_str: list(c.allowed_type_strs) for c in schema.type_constraints}
    members = {}  # type_str -> [formal index, ...]
    for index, formal in enumerate(schema.inputs):
        if formal.type_str not in constraints:
            continue  # a literal type such as "tensor(int64)", not a type variable
        if is_variadic(formal) and not formal.is_homogeneous:
            continue
        members.setdefault(formal.type_str, []).append(index)
    last = len(schema.inputs) - 1
    groups = []
    for type_str, indices in members.items():
        if not all(t.startswith("tensor(") for t in constraints[type_str]):
            continue
        # Formal index == actual position only while no variadic input comes earlier.
        if any(is_variadic(p) for p in schema.inputs[:max(indices)]):
            continue
        group = list(indices)
        if is_variadic(schema.inputs[indices[-1]]):
            if indices[-1] != last:
                continue
            group.append(-1)
        if len(group) >= 2:
            groups.append(group)
    groups.sort()
    return groups


def table_key(schema):
    return f"{schema.domain or 'ai.onnx'}:{schema.name}"


def build_table():
    """{key: [(since_version, [rule, ...]), ...]} for all schemas, versions ascending."""
    table = {}
    for schema in defs.get_all_schemas_with_history():
        rules = [output_rule(schema, i) for i in range(len(schema.outputs))]
        table.setdefault(table_key(schema), []).append((schema.since_version, rules, same_type_inputs(schema)))
    for versions in table.values():
        versions.sort()
        if len({v for v, _, _ in versions}) != len(versions):
            sys.exit("generate-type-rules: duplicate schema version")
    return table


def render(table):
    # A plain dictionary literal: with the annotated type, swiftc type-checks it in ~2 s.
    lines = [
        f"// Generated by scripts/generate-type-rules.py from onnx=={onnx.__version__}'s operator schemas.",
        "// Do not edit: rerun the script instead.",
        "",
        '/// Element-type rules of every ONNX operator version, keyed by "domain:OpType" ("" domain written as "ai.onnx").',
        "let generatedOperatorTypeRules: [String: [OperatorTypeRule]] = [",
    ]
    for key in sorted(table):
        lines.append(f'    "{key}": [')
        for version, outputs, groups in table[key]:
            # sameTypeInputs defaults to [] in Swift: omitted when empty, so most lines stay short.
            same = ""
            if groups:
                same = ", sameTypeInputs: [" + ", ".join(f"[{', '.join(map(str, g))}]" for g in groups) + "]"
            lines.append(f"        OperatorTypeRule(sinceVersion: {version}, outputs: [{', '.join(outputs)}]{same}),")
        lines.append("    ],")
    lines += ["]", ""]
    return "\n".join(lines)


def float_slots(schema, params):
    """One token per formal parameter for the FP16/BF16 conversion: "-" when the parameter can
    never hold a float32 tensor; else "<variable><flags>", where parameters with the same variable
    must share one element type (a literal such as "tensor(float)" is a variable of its own) and
    the flags say which of float32 (f), float16 (h) and bfloat16 (b) it allows; "*" marks a
    variadic last parameter whose token repeats."""
    constraints = {c.type_param_str: list(c.allowed_type_strs) for c in schema.type_constraints}
    variables = {}
    for p in list(schema.inputs) + list(schema.outputs):
        variables.setdefault(p.type_str, len(variables))
    tokens = []
    for p in params:
        allowed = constraints.get(p.type_str, [p.type_str])
        flags = "".join(f for f, t in (("f", "tensor(float)"), ("h", "tensor(float16)"), ("b", "tensor(bfloat16)")) if t in allowed)
        token = "-" if "f" not in flags else f"{variables[p.type_str]}{flags}"
        if is_variadic(p):
            token += "*"
        tokens.append(token)
    return " ".join(tokens)


def render_slots():
    table = {}
    for schema in defs.get_all_schemas_with_history():
        table.setdefault(table_key(schema), []).append(
            (schema.since_version, float_slots(schema, schema.inputs), float_slots(schema, schema.outputs)))
    lines = [
        f"// Generated by scripts/generate-type-rules.py from onnx=={onnx.__version__}'s operator schemas.",
        "// Do not edit: rerun the script instead.",
        "",
        "/// Per operator version, which formal inputs and outputs may carry float32, float16 and bfloat16 and",
        "/// which of them share a type variable (see `FloatSlots`), keyed like `generatedOperatorTypeRules`.",
        "let generatedFloatSlots: [String: [FloatSlotRule]] = [",
    ]
    for key in sorted(table):
        versions = sorted(table[key])
        if all(i.replace("*", "").split(" ") == ["-"] * len(i.split(" ")) and set(o.replace("*", "").split(" ")) <= {"-"} for _, i, o in versions):
            continue  # never touches float32: nothing for the converter to decide
        lines.append(f'    "{key}": [')
        for version, inputs, outputs in versions:
            lines.append(f'        FloatSlotRule(sinceVersion: {version}, inputs: "{inputs}", outputs: "{outputs}"),')
        lines.append("    ],")
    lines += ["]", ""]
    return "\n".join(lines)


def write_atomically(path, text):
    directory = os.path.dirname(path)
    fd, tmp = tempfile.mkstemp(prefix=".OperatorTypeRules.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; the committed file should be 0644
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def main():
    check_dtype_cases()
    table = build_table()
    write_atomically(OUT_PATH, render(table))
    write_atomically(SLOTS_PATH, render_slots())
    versions = sum(len(v) for v in table.values())
    special = sum(r == ".special" for v in table.values() for _, rs, _ in v for r in rs)
    grouped = sum(bool(gs) for v in table.values() for _, _, gs in v)
    print(f"wrote {os.path.relpath(OUT_PATH, ROOT)}: {len(table)} ops, {versions} versions, "
          f"{special} .special outputs, {grouped} versions with sameTypeInputs groups")


if __name__ == "__main__":
    main()
