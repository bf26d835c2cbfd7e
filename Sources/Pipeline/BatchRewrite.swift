import FoundationEssentials
import Inference
import ONNX
import Tensors

/// Makes a model exported with a fixed batch of 1 take any batch: the image input's and the
/// outputs' first dimension become `batch`, and Reshapes whose constant target starts with that 1
/// copy the batch from their input instead (ONNX's `0`). Whether the graph really allows it is not
/// guessed: the rewritten model must give, for a batch of two different samples, what the original
/// gives for each alone. When it does not (a batch folded into a constant elsewhere), the reason
/// says so and the caller runs at batch 1.
public struct BatchRewrite {
    /// The outcome for the caller's summary.
    public enum Outcome: Sendable, Equatable {
        /// The model already takes a symbolic batch.
        case alreadyBatched
        /// Rewritten; the model bytes and the number of Reshapes changed.
        case rewritten(reshapes: Int)
        /// Left at batch 1, with why.
        case notBatchable(String)
    }

    /// The rewritten model's bytes (nil when it is unchanged or cannot batch) and what happened.
    /// `model` itself is changed in the attempt; callers keep it for nothing else.
    /// - Parameters:
    ///   - input: the image input.
    ///   - session: makes a session of model bytes (the check runs the original and the rewrite).
    public static func rewrite(_ model: Model, input: String, check session: (ModelSource) throws -> any Session) throws -> (Data?, Outcome) {
        let graph = model.graph
        guard let index = graph.inputs.firstIndex(where: { $0.name == input }), let shape = graph.inputs[index].shape, let first = shape.first else {
            return (nil, .notBatchable("the input \(input) declares no shape"))
        }
        guard case .fixed(let fixed) = first else { return (nil, .alreadyBatched) }
        guard fixed == 1 else { return (nil, .notBatchable("the input \(input) has a fixed batch of \(fixed), not 1")) }
        let others = graph.inputs.map(\.name).filter { $0 != input && !graph.initializers.map(\.name).contains($0) }
        guard others.isEmpty else { return (nil, .notBatchable("the model has other inputs (\(others.joined(separator: ", "))) whose batch cannot be told")) }
        let originalBytes = try model.serialized()

        var inputs = graph.inputs
        inputs[index].shape = [.symbol("batch")] + shape.dropFirst()
        graph.inputs = inputs
        graph.outputs = graph.outputs.map { output in
            var output = output
            if let s = output.shape, s.first == .fixed(1) { output.shape = [.symbol("batch")] + s.dropFirst() }
            return output
        }
        // Intermediate shapes written at export all say batch 1; ONNX Runtime infers them again.
        graph.valueInfo = []
        let reshapes = rewriteReshapes(graph)
        let bytes = try model.serialized()

        let original = try session(.bytes(originalBytes, name: "original"))
        let batched: any Session
        do { batched = try session(.bytes(bytes, name: "batched")) } catch {
            return (nil, .notBatchable("the model with a symbolic batch does not load: \(error)"))
        }
        if let why = mismatch(original: original, batched: batched, input: input) { return (nil, .notBatchable(why)) }
        return (bytes, .rewritten(reshapes: reshapes))
    }

    /// Why a batch of two samples through `batched` differs from each through `original`; nil when it does not.
    private static func mismatch(original: any Session, batched: any Session, input: String) -> String? {
        guard let description = original.inputs.first(where: { $0.name == input }), let dtype = description.elementType,
              let sample = try? Shape(description.dimensions.map { $0 ?? 1 }) else { return "the input \(input) has no static shape" }
        var generator = SeededGenerator(seed: 0xBA7C4)
        do {
            let a = try Tensor.random(dtype: dtype, shape: sample, generator: &generator)
            let b = try Tensor.random(dtype: dtype, shape: sample, generator: &generator)
            let pair = try Tensor.concatenated([a, b])
            let alone = [try original.run([input: a]), try original.run([input: b])]
            let together = try batched.run([input: pair])
            for (name, both) in together {
                guard both.shape.rank >= 1, both.shape[0] == 2 else { return "output \(name) has shape \(both.shape) for a batch of 2" }
                let values = try both.floatValues(), half = values.count / 2
                for (k, single) in alone.enumerated() {
                    guard let reference = try single[name]?.floatValues(), reference.count == half else {
                        return "output \(name) does not split into the two samples"
                    }
                    var error = 0.0, norm = 0.0
                    for i in 0..<half {
                        let d = Double(values[k * half + i]) - Double(reference[i])
                        error += d * d
                        norm += Double(reference[i]) * Double(reference[i])
                    }
                    let relative = (error / max(norm, 1e-30)).squareRoot()
                    if relative > 1e-4 { return "output \(name) of sample \(k + 1) in a batch of 2 differs from the sample alone (relative L2 \(relative))" }
                }
            }
            return nil
        } catch {
            return "a batch of 2 does not run: \(error)"
        }
    }

    /// Reshape targets `[1, …]` held in constants become `[0, …]` (copy the input's first dimension).
    private static func rewriteReshapes(_ graph: Graph) -> Int {
        let reshapes = graph.nodes.filter { $0.opType == "Reshape" && $0.domain.isEmpty && $0.inputs.count == 2 }
        // Only the shape operands are decoded, not the model's weights.
        let shapeNames = Set(reshapes.map { $0.inputs[1] })
        var constants: [String: Tensor] = [:]
        for initializer in graph.initializers where shapeNames.contains(initializer.name) { constants[initializer.name] = try? initializer.tensor() }
        for node in graph.nodes where node.opType == "Constant" && node.domain.isEmpty {
            if let output = node.outputs.first, shapeNames.contains(output), let value = node[attribute: "value"]?.tensor {
                constants[output] = try? TensorCodec.decode(value)
            }
        }
        var count = 0
        for node in reshapes {
            if node[attribute: "allowzero"]?.int == 1 { continue }
            let name = node.inputs[1]
            guard let tensor = constants[name], tensor.dtype == .int64,
                  var values = try? tensor.elements(as: Int64.self), values.first == 1 else { continue }
            values[0] = 0
            guard let changed = try? Tensor(shape: tensor.shape, elements: values) else { continue }
            // A new initializer, so other consumers of the old one keep theirs.
            let fresh = "\(name)__batch"
            if constants[fresh] == nil {
                graph.initializers.append(Initializer(name: fresh, tensor: changed))
                constants[fresh] = changed
            }
            node.inputs[1] = fresh
            count += 1
        }
        return count
    }
}
