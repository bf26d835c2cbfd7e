#!/usr/bin/env python3
"""Checks Sources/ONNX/Generated/OperatorTypeRules.swift against the ONNX backend node tests.

Run from the repository root:  .venv/bin/python scripts/check-type-rules.py [TABLE.swift]

It parses the generated Swift table (so what is checked is exactly what Swift compiles), then,
for every .cache/material/onnx-tests/node/*/model.onnx, propagates element types through the
graph node by node the way the Swift side does, and compares the result with each graph
output's declared element type. As a second, broader check it also compares every value that
onnx's own shape inference types (intermediate values of the "_expanded" function bodies too).
Third, it checks the sameTypeInputs groups: for every node whose rule has groups (subgraphs of
If/Loop/Scan included), all present inputs of a group whose element types onnx shape inference
knows must have the same element type.
Exit status 1 if any inferred type differs from the declared one, or any group is violated.
"""
import glob
import os
import re
import sys
from collections import Counter, defaultdict

import onnx

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TABLE_PATH = os.path.join(ROOT, "Sources", "ONNX", "Generated", "OperatorTypeRules.swift")
TESTS_GLOB = os.path.join(ROOT, ".cache", "material", "onnx-tests", "node", "*", "model.onnx")

DTYPE_CASES = [
    "float32", "uint8", "int8", "uint16", "int16", "int32", "int64", "string", "bool",
    "float16", "float64", "uint32", "uint64", "complex64", "complex128", "bfloat16",
    "float8e4m3fn", "float8e4m3fnuz", "float8e5m2", "float8e5m2fnuz", "uint4", "int4",
    "float4e2m1", "float8e8m0", "uint2", "int2",
]
CODE = {case: raw for raw, case in enumerate(DTYPE_CASES, start=1)}

KEY_RE = re.compile(r'^    "([^"]+)": \[$')
RULE_RE = re.compile(r"^        OperatorTypeRule\(sinceVersion: (\d+), outputs: \[([^\[\]]*)\]"
                     r"(?:, sameTypeInputs: \[((?:\[[-\d, ]+\](?:, )?)+)\])?\),$")
GROUP_RE = re.compile(r"\[([-\d, ]+)\]")
OUTPUT_RES = [
    (re.compile(r"\.input\((\d+)\)"), lambda m: ("input", int(m[1]))),
    (re.compile(r"\.fixed\(\.(\w+)\)"), lambda m: ("fixed", CODE[m[1]])),
    (re.compile(r'\.attribute\("(\w+)", default: (?:\.(\w+)|nil)\)'),
     lambda m: ("attribute", m[1], CODE[m[2]] if m[2] else None)),
    (re.compile(r'\.attributeOrInput\("(\w+)", (\d+)\)'), lambda m: ("attributeOrInput", m[1], int(m[2]))),
    (re.compile(r"\.special"), lambda m: ("special",)),
]


def parse_table(path):
    """{key: [(since_version, [rule tuple, ...], [group, ...]), ...]} from the generated Swift source."""
    table, key = {}, None
    for line in open(path, encoding="utf-8"):
        line = line.rstrip("\n")
        if m := KEY_RE.match(line):
            key = m[1]
            table[key] = []
        elif m := RULE_RE.match(line):
            rules, rest = [], m[2]
            while rest:
                for regex, make in OUTPUT_RES:
                    if om := regex.match(rest):
                        rules.append(make(om))
                        rest = rest[om.end():].removeprefix(", ")
                        break
                else:
                    sys.exit(f"check-type-rules: cannot parse {rest!r}")
            groups = [parse_group(g, line) for g in GROUP_RE.findall(m[3] or "")]
            table[key].append((int(m[1]), rules, groups))
        elif not (line in ("", "    ],", "]") or line.startswith(("//", "let generatedOperatorTypeRules"))):
            sys.exit(f"check-type-rules: unexpected line {line!r}")  # parse strictly, never skip rules
    return table


def parse_group(text, line):
    """[0, 1, 2] or [0, -1] (-1: "and every later actual input too"), validated strictly."""
    group = [int(x) for x in text.split(", ")]
    positions = group[:-1] if group[-1] == -1 else group
    if (not positions or any(p < 0 for p in positions) or positions != sorted(set(positions))
            or len(group) < 2):
        sys.exit(f"check-type-rules: bad sameTypeInputs group {text!r} in {line!r}")
    return group


def group_positions(group, input_count):
    """Actual input positions a group covers on a node with `input_count` inputs."""
    if group[-1] == -1:
        return group[:-1] + list(range(group[-2] + 1, input_count))
    return [p for p in group if p < input_count]


def rules_for(table, opsets, node):
    """(rules, groups) of the newest rule version <= the model's opset for the node's domain, or None."""
    domain = node.domain or "ai.onnx"
    versions = [e for e in table.get(f"{domain}:{node.op_type}", []) if e[0] <= opsets.get(domain, 0)]
    return max(versions)[1:] if versions else None


def constant_type(node):
    """Element type code of a Constant node's output, from whichever value attribute it has."""
    for attr in node.attribute:
        if attr.name == "value":
            return attr.t.data_type
        if attr.name == "sparse_value":
            return attr.sparse_tensor.values.data_type
        if attr.name in ("value_float", "value_floats"):
            return onnx.TensorProto.FLOAT
        if attr.name in ("value_int", "value_ints"):
            return onnx.TensorProto.INT64
        if attr.name in ("value_string", "value_strings"):
            return onnx.TensorProto.STRING
    return None


def infer(model, table):
    """{value name: (elem type code or None, cause)}; cause names the op where unknown began."""
    opsets = {(o.domain or "ai.onnx"): o.version for o in model.opset_import}
    graph = model.graph
    env = {}
    for vi in graph.input:
        code = vi.type.tensor_type.elem_type if vi.type.HasField("tensor_type") else 0
        env[vi.name] = (code or None, "graph input without element type")
    for init in graph.initializer:
        env[init.name] = (init.data_type, None)

    def input_type(node, i):
        if i < len(node.input) and node.input[i]:
            return env.get(node.input[i], (None, f"{node.op_type}: input {i} undefined"))
        return (None, f"{node.op_type}: input {i} absent")

    for node in graph.node:
        domain = node.domain or "ai.onnx"
        if domain == "ai.onnx" and node.op_type == "Constant":
            for name in node.output:
                env[name] = (constant_type(node), "Constant without value")
            continue
        found = rules_for(table, opsets, node)
        rules = found[0] if found else None
        attrs = {a.name: a for a in node.attribute}
        for j, name in enumerate(node.output):
            if not name:
                continue
            if not rules:
                env[name] = (None, f"{node.op_type}: no rule")
                continue
            rule = rules[min(j, len(rules) - 1)]  # the last formal output may be variadic
            kind = rule[0]
            if kind == "input":
                env[name] = input_type(node, rule[1])
            elif kind == "fixed":
                env[name] = (rule[1], None)
            elif kind == "attribute":
                code = attrs[rule[1]].i if rule[1] in attrs else rule[2]
                env[name] = (code, None if code else f"{node.op_type}: attribute missing")
            elif kind == "attributeOrInput":
                env[name] = (attrs[rule[1]].i, None) if rule[1] in attrs else input_type(node, rule[2])
            else:
                env[name] = (None, f"{node.op_type} (.special)")
    return env


def shape_inferred_types(model):
    """{value name: elem type} for every tensor value onnx shape inference types, or {} on failure."""
    try:
        inferred = onnx.shape_inference.infer_shapes(model, strict_mode=False)
    except Exception:
        return {}
    return {vi.name: vi.type.tensor_type.elem_type
            for vi in list(inferred.graph.value_info) + list(inferred.graph.output)
            if vi.type.HasField("tensor_type") and vi.type.tensor_type.elem_type}


def check_groups(model, table, counts, violations, test):
    """Checks every node's sameTypeInputs groups against onnx shape inference's element types."""
    try:
        inferred = onnx.shape_inference.infer_shapes(model, strict_mode=False)
    except Exception:
        counts["models shape inference failed"] += 1
        return
    opsets = {(o.domain or "ai.onnx"): o.version for o in inferred.opset_import}

    def walk(graph, outer):
        types = dict(outer)  # a subgraph sees the enclosing scopes' values
        for vi in list(graph.input) + list(graph.value_info) + list(graph.output):
            if vi.type.HasField("tensor_type") and vi.type.tensor_type.elem_type:
                types[vi.name] = vi.type.tensor_type.elem_type
        for init in graph.initializer:
            types[init.name] = init.data_type
        for node in graph.node:
            found = rules_for(table, opsets, node)
            for group in (found[1] if found else []):
                present = [p for p in group_positions(group, len(node.input)) if node.input[p]]
                known = {p: types[node.input[p]] for p in present if node.input[p] in types}
                if len(present) < 2:
                    counts["groups with < 2 inputs present"] += 1
                elif len(known) < 2:
                    counts["groups with < 2 known types"] += 1
                else:
                    counts["checked"] += 1
                    if len(set(known.values())) > 1:
                        counts["violations"] += 1
                        violations[node.op_type].append(f"{test}:{node.name or node.output[0]} {group} {known}")
            for attr in node.attribute:
                for sub in ([attr.g] if attr.type == onnx.AttributeProto.GRAPH else
                            attr.graphs if attr.type == onnx.AttributeProto.GRAPHS else []):
                    walk(sub, types)

    walk(inferred.graph, {})


def main():
    table = parse_table(sys.argv[1] if len(sys.argv) > 1 else TABLE_PATH)
    paths = sorted(glob.glob(TESTS_GLOB))
    outputs, values = Counter(), Counter()
    unknown_causes, mismatches, value_mismatches = Counter(), defaultdict(list), defaultdict(list)
    group_counts, group_violations = Counter(), defaultdict(list)
    for path in paths:
        model = onnx.load(path, load_external_data=False)
        test = os.path.basename(os.path.dirname(path))
        env = infer(model, table)
        producer = {name: node.op_type for node in model.graph.node for name in node.output}
        for out in model.graph.output:
            declared = out.type.tensor_type.elem_type if out.type.HasField("tensor_type") else 0
            if not declared:
                continue
            code, cause = env.get(out.name, (None, "not produced"))
            if code is None:
                outputs["unknown"] += 1
                unknown_causes[cause] += 1
            elif code == declared:
                outputs["matched"] += 1
            else:
                outputs["mismatched"] += 1
                mismatches[producer.get(out.name, "?")].append(f"{test}:{out.name} {code}!={declared}")
        for name, declared in shape_inferred_types(model).items():
            code, _ = env.get(name, (None, None))
            values["unknown" if code is None else "matched" if code == declared else "mismatched"] += 1
            if code is not None and code != declared:
                value_mismatches[producer.get(name, "?")].append(f"{test}:{name} {code}!={declared}")
        check_groups(model, table, group_counts, group_violations, test)

    grouped = sum(bool(e[2]) for v in table.values() for e in v)
    print(f"table: {len(table)} ops, {sum(len(v) for v in table.values())} versions "
          f"({grouped} with sameTypeInputs groups); {len(paths)} test models")
    total = sum(outputs.values())
    print(f"declared graph outputs: {total}: matched {outputs['matched']}, "
          f"unknown {outputs['unknown']}, mismatched {outputs['mismatched']}")
    print(f"values typed by onnx shape inference: {sum(values.values())}: matched {values['matched']}, "
          f"unknown {values['unknown']}, mismatched {values['mismatched']}")
    print("unknown graph outputs, by where the unknown began:")
    for cause, n in unknown_causes.most_common():
        print(f"  {n:5}  {cause}")
    print(f"sameTypeInputs groups on nodes: checked {group_counts['checked']}, "
          f"violations {group_counts['violations']}; not checkable: "
          f"{group_counts['groups with < 2 inputs present']} with < 2 inputs present, "
          f"{group_counts['groups with < 2 known types']} with < 2 known element types"
          + (f"; shape inference failed on {group_counts['models shape inference failed']} models"
             if group_counts["models shape inference failed"] else ""))
    for title, found in (("graph-output", mismatches), ("shape-inference", value_mismatches),
                         ("sameTypeInputs group", group_violations)):
        print(f"{title} mismatches by op: {sorted(found) or 'none'}")
        for op, cases in sorted(found.items()):
            print(f"  {op}: {len(cases)}, e.g. {cases[:3]}")
    sys.exit(1 if mismatches or value_mismatches or group_violations else 0)


if __name__ == "__main__":
    main()
