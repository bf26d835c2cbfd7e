import Tensors

/// Two sessions — a reference and a candidate — on the same inputs, output by output.
public enum ModelComparison {
    /// Runs both on `feeds` (converted where the candidate declares other input types) and compares
    /// every output of the reference; an output the candidate lacks is a failed row.
    public static func outputs(reference a: any Session, candidate b: any Session, feeds: [String: Tensor],
                               tolerance: ComparisonTolerance) throws -> [OutputComparison] {
        let outputsA = try a.run(feeds)
        let outputsB = try b.run(try converted(feeds, for: b.inputs))
        var entries: [OutputComparison] = []
        for output in a.outputs {
            guard let x = outputsA[output.name] else { continue }
            guard let y = outputsB[output.name] else {
                entries.append(.missing(output.name, shape: x.shape.dimensions))
                continue
            }
            entries.append(.compare(name: output.name, reference: x, candidate: y, tolerance: tolerance, isOutput: true))
        }
        return entries
    }

    /// The feed for a model with `inputs`: the given tensors, converted where the model declares
    /// another element type (an FP16 model that takes FP16 inputs gets the same values rounded).
    public static func converted(_ feeds: [String: Tensor], for inputs: [TensorDescription]) throws(TensorError) -> [String: Tensor] {
        var out = feeds
        for input in inputs {
            guard let tensor = feeds[input.name], let wanted = input.elementType, wanted != tensor.dtype else { continue }
            guard let made = try? tensor.converted(to: wanted) else {
                throw TensorError.dtypeMismatch(expected: "\(wanted) for input '\(input.name)' (the feed's \(tensor.dtype) does not convert to it)", actual: tensor.dtype)
            }
            out[input.name] = made
        }
        return out
    }
}
