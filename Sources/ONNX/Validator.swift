import Tensors

/// One structural problem of a graph, naming the node and value concerned.
public struct ValidationIssue: Equatable, Sendable, CustomStringConvertible {
    public enum Kind: String, Sendable {
        case danglingInput = "dangling input"
        case undefinedOutput = "undefined graph output"
        case duplicateName = "duplicate name"
        case cycle
        case notSorted = "not topologically sorted"
        case typeMismatch = "type mismatch"
        case emptyOpType = "missing op type"
        case badDimension = "bad dimension"
    }
    public var kind: Kind
    /// The node concerned (label: name or op type and first output), if any.
    public var node: String?
    /// The value concerned, if any.
    public var value: String?
    public var message: String
    /// Which graph, for nested subgraphs ("main", or a path like "main/Loop 'body'").
    public var graph: String = "main"

    public init(kind: Kind, node: String?, value: String?, message: String, graph: String = "main") {
        self.kind = kind
        self.node = node
        self.value = value
        self.message = message
        self.graph = graph
    }

    public var description: String {
        var where_ = graph == "main" ? "" : "in \(graph): "
        if let node { where_ += "node \(node): " }
        return "\(kind.rawValue): \(where_)\(message)"
    }
}

/// Structural checks of a model: dangling inputs, undefined outputs, duplicate definitions,
/// cycles, ordering, and element types that disagree (declared vs inferred, or inputs an operator
/// binds to one type). Scopes nest: a subgraph may read values of the graphs around it.
public enum Validator {
    public static func validate(_ model: Model) -> [ValidationIssue] {
        let inference = TypeInference(model)
        var issues: [ValidationIssue] = []
        check(model.graph, path: "main", outerScope: [], model: model, inference: inference, into: &issues)
        return issues
    }

    private static func check(_ graph: Graph, path: String, outerScope: Set<String>, model: Model, inference: TypeInference, into issues: inout [ValidationIssue]) {
        func report(_ kind: ValidationIssue.Kind, _ node: Node?, _ value: String?, _ message: String) {
            issues.append(ValidationIssue(kind: kind, node: node?.label, value: value, message: message, graph: path))
        }
        // Definitions: graph inputs and initializers may coincide (IR < 4 lists weights as inputs).
        var defined = Set<String>()
        var seenInputs = Set<String>(), seenInitializers = Set<String>()
        for input in graph.inputs where !seenInputs.insert(input.name).inserted {
            report(.duplicateName, nil, input.name, "graph input '\(input.name)' is declared twice")
        }
        for initializer in graph.initializers where !seenInitializers.insert(initializer.name).inserted {
            report(.duplicateName, nil, initializer.name, "initializer '\(initializer.name)' is defined twice")
        }
        for initializer in graph.initializers {
            if initializer.dims.contains(where: { $0 < 0 }) {
                report(.badDimension, nil, initializer.name, "initializer '\(initializer.name)' has dims \(initializer.dims)")
            }
        }
        defined = seenInputs.union(seenInitializers)
        defined.formUnion(graph.proto.sparseInitializer.map(\.values.name))
        var producedBy: [String: Node] = [:]
        for node in graph.nodes {
            if node.opType.isEmpty { report(.emptyOpType, node, nil, "node has no op_type") }
            for output in node.outputs where !output.isEmpty {
                if let earlier = producedBy[output] {
                    report(.duplicateName, node, output, "value '\(output)' is also produced by \(earlier.label)")
                } else if defined.contains(output) {
                    report(.duplicateName, node, output, "value '\(output)' is already a graph input or initializer")
                }
                producedBy[output] = node
            }
        }
        let allDefined = defined.union(producedBy.keys)
        // Inputs must exist somewhere in scope, and (if the graph has no cycle) be produced earlier.
        let cycle: Bool
        if case .failure(let error) = TopologicalSort.order(graph) {
            issues.append(ValidationIssue(kind: .cycle, node: error.nodeLabels.first, value: nil, message: error.issue.message, graph: path))
            cycle = true
        } else {
            cycle = false
        }
        var available = defined.union(outerScope)
        for node in graph.nodes {
            for input in node.inputs where !input.isEmpty {
                if !allDefined.contains(input) && !outerScope.contains(input) {
                    report(.danglingInput, node, input, "input '\(input)' is not produced by any node, graph input or initializer")
                } else if !cycle && !available.contains(input) {
                    report(.notSorted, node, input, "uses '\(input)' before \(producedBy[input]?.label ?? "its producer") produces it")
                }
            }
            for attribute in node.attributes {
                for (i, sub) in ((attribute.graph.map { [$0] } ?? []) + attribute.graphs).enumerated() {
                    let name = attribute.graphs.isEmpty ? attribute.name : "\(attribute.name)[\(i)]"
                    check(sub, path: "\(path)/\(node.label) '\(name)'", outerScope: available.union(outerScope), model: model, inference: inference, into: &issues)
                }
            }
            for output in node.outputs where !output.isEmpty { available.insert(output) }
        }
        for output in graph.outputs where !allDefined.contains(output.name) && !outerScope.contains(output.name) {
            report(.undefinedOutput, nil, output.name, "graph output '\(output.name)' is never produced")
        }
        checkTypes(graph, producedBy: producedBy, model: model, inference: inference, report: report)
    }

    private static func checkTypes(_ graph: Graph, producedBy: [String: Node], model: Model, inference: TypeInference,
                                   report: (ValidationIssue.Kind, Node?, String?, String) -> Void) {
        let inferred = inference.types(in: graph)
        for declaration in graph.outputs + graph.valueInfo {
            guard let declared = declaration.elementType, let node = producedBy[declaration.name],
                  let actual = inferred[declaration.name], actual != declared else { continue }
            report(.typeMismatch, node, declaration.name, "'\(declaration.name)' is declared \(declared) but \(node.opType) produces \(actual)")
        }
        for node in graph.nodes {
            let version = model.opsetVersion(node.canonicalDomain)
            guard let rule = OperatorTypeRule.lookup(domain: node.canonicalDomain, opType: node.opType, version: version) else { continue }
            for group in rule.sameTypeInputs {
                var positions = group.filter { $0 >= 0 }
                if group.last == -1, let first = positions.last { positions += Array((first + 1)..<max(first + 1, node.inputs.count)) }
                let typed = positions.compactMap { i -> (String, DType)? in
                    guard node.inputs.indices.contains(i), !node.inputs[i].isEmpty, let t = inferred[node.inputs[i]] else { return nil }
                    return (node.inputs[i], t)
                }
                guard let first = typed.first, let other = typed.first(where: { $0.1 != first.1 }) else { continue }
                report(.typeMismatch, node, other.0, "inputs '\(first.0)' (\(first.1)) and '\(other.0)' (\(other.1)) must have the same element type")
            }
        }
    }
}
