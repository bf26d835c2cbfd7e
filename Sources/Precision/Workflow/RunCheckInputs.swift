import FoundationEssentials
import Inference
import ONNX
import Tensors

/// Random inputs (fixed seed) the float32 model runs on, for the run check of a converted or
/// quantized model when no inputs are given. Symbolic dimensions take, in order: the size given
/// for the input (`--shape`); the image size an Ultralytics export records (`imgsz`) for the
/// spatial axes of a 4-D input; 1 for the batch axis; and for any other, the smallest of a few
/// sizes common in vision models that the float32 model runs at.
struct RunCheckInputs {
    /// Sizes tried for the symbolic axes nothing else fixes, smallest first (the same for every such axis).
    static let candidateSizes = [32, 64, 128, 224, 256, 320, 416, 512, 640]

    let model: Model
    let given: [String: [Int]]

    /// The feed and a description of its shapes; nil when the float32 model runs on none of them
    /// (an input that takes indices or shapes, say), with why.
    func feed(runningOn runtime: ExecutionTarget, float32: Data) -> Result<(feed: [String: Tensor], shapes: String), RunCheckInputs.Failure> {
        let weights = Set(model.graph.initializers.map(\.name))
        let inputs = model.graph.inputs.filter { !weights.contains($0.name) }
        let imageSize = ExportMetadata(model).imageSize
        let needsSearch = inputs.contains { input in
            given[input.name] == nil && (input.shape ?? []).enumerated().contains { axis, d in
                Self.fixed(d) == nil && axis != 0 && !(imageSize != nil && (input.shape?.count == 4) && axis >= 2)
            }
        }
        let session: any Session
        do { session = try runtime.session(.bytes(float32, name: "float32 model")) } catch {
            return .failure(Failure(reason: "the float32 model does not load in \(runtime.backend.name) either: \(String(describing: error).prefix(300))", floatModelLoads: false))
        }
        var last = "no input shapes"
        for size in needsSearch ? Self.candidateSizes : [Self.candidateSizes[0]] {
            var generator = SeededGenerator(seed: 0)
            var feed: [String: Tensor] = [:]
            var described: [String] = []
            for input in inputs {
                guard let type = input.elementType else { return .failure(Failure(reason: "input '\(input.name)' has no element type")) }
                let dims = given[input.name] ?? (input.shape ?? []).enumerated().map { axis, d in
                    if let n = Self.fixed(d) { return n }
                    if axis == 0 { return 1 }
                    if let imageSize, input.shape?.count == 4, axis >= 2 { return imageSize[axis - 2] }
                    return size
                }
                guard let shape = try? Shape(dims), let tensor = try? Tensor.random(dtype: type, shape: shape, generator: &generator) else {
                    return .failure(Failure(reason: "input '\(input.name)': no tensor of shape \(dims)"))
                }
                feed[input.name] = tensor
                described.append("\(input.name) \(dims)")
            }
            do {
                _ = try session.run(feed)
                return .success((feed, described.joined(separator: ", ")))
            } catch {
                last = "\(described.joined(separator: ", ")): \(error)"
            }
        }
        return .failure(Failure(reason: "the float32 model runs on no random inputs tried (last: \(last.prefix(300)))"))
    }

    struct Failure: Error {
        var reason: String
        /// false: the float32 model itself does not load there (a custom op): nothing to check against.
        var floatModelLoads = true
    }

    static func fixed(_ d: Dimension) -> Int? {
        if case .fixed(let n) = d, n > 0 { n } else { nil }
    }
}
