import FoundationEssentials
import Imaging
import Inference
import Tensors

/// Calibration data, streamed a batch at a time so memory holds one batch whatever the number of
/// samples: image files (decoded and preprocessed per batch), `.npy` files (each one sample or a
/// batch of the model's single input), or `.npz` files (each one feed, members named after the
/// inputs). Paths may be files or folders (read in name order).
struct CalibrationSource {
    enum Kind { case images, arrays }
    let kind: Kind
    let files: [String]

    init(paths: [String]) throws {
        var files: [String] = []
        for path in paths {
            var isDirectory = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
                throw CLIError("--calibration \(path): no such file or folder")
            }
            if isDirectory {
                let names = try FileManager.default.contentsOfDirectory(atPath: path).sorted()
                files += names.filter { Self.isImage($0) || Self.isArray($0) }.map { path.hasSuffix("/") ? path + $0 : path + "/" + $0 }
            } else {
                guard Self.isImage(path) || Self.isArray(path) else {
                    throw CLIError("--calibration \(path): not an image (\(ImageFiles.extensions.joined(separator: ", "))), .npy or .npz file")
                }
                files.append(path)
            }
        }
        guard !files.isEmpty else {
            throw CLIError("no calibration data: \(paths.isEmpty ? "give --calibration DIR|FILE (images, .npy or .npz)" : "\(paths.joined(separator: ", ")) hold(s) no images, .npy or .npz files")")
        }
        let images = files.filter(Self.isImage).count
        guard images == 0 || images == files.count else {
            throw CLIError("--calibration mixes images and arrays (\(images) image(s), \(files.count - images) .npy/.npz); give one kind")
        }
        self.files = files
        kind = images > 0 ? .images : .arrays
    }

    static func isImage(_ name: String) -> Bool { ImageFiles.extensions.contains(name.split(separator: ".").last.map { $0.lowercased() } ?? "") }
    static func isArray(_ name: String) -> Bool { name.hasSuffix(".npy") || name.hasSuffix(".npz") }

    var summary: String { "\(files.count) \(kind == .images ? "image" : "array") file(s)" }

    /// Batches of `batch` samples for a model with `inputs`; images go through `images`' spec.
    func batches(for inputs: [TensorDescription], batch: Int, images: ImageFeedOptions) throws -> () throws -> [String: Tensor]? {
        switch kind {
        case .images:
            let (input, preprocessor) = try images.preprocessor(for: inputs)
            if let fixed = input.dimensions[0], fixed != batch {
                throw CLIError("input '\(input.name)' has a fixed batch of \(fixed); use --calibration-batch \(fixed)")
            }
            if let other = inputs.first(where: { $0.name != input.name }) {
                throw CLIError("the model has inputs besides '\(input.name)' ('\(other.name)'); images feed one input: give .npz feeds instead")
            }
            var remaining = files[...]
            return {
                guard !remaining.isEmpty else { return nil }
                let chunk = Array(remaining.prefix(batch))
                remaining = remaining.dropFirst(chunk.count)
                let decoded = try ImageDecoder().decode(files: chunk)
                // A partial last batch stays partial where the batch is symbolic (no padded samples skew the ranges).
                let size = input.dimensions[0] ?? chunk.count
                return [input.name: try preprocessor.batch(decoded, size: size).0]
            }
        case .arrays:
            var remaining = files[...]
            return {
                // Consecutive files join along the batch axis until `batch` samples are in.
                var parts: [[String: Tensor]] = []
                var samples = 0
                while samples < batch, let file = remaining.popFirst() {
                    let feed = try Self.read(file, inputs: inputs)
                    parts.append(feed)
                    samples += feed.values.first?.shape.dimensions.first ?? 1
                }
                guard !parts.isEmpty else { return nil }
                return try Self.concatenate(parts, inputs: inputs)
            }
        }
    }

    /// One file's feed, checked against the model's inputs.
    static func read(_ file: String, inputs: [TensorDescription]) throws -> [String: Tensor] {
        var feed: [String: Tensor] = [:]
        if file.hasSuffix(".npy") {
            guard inputs.count == 1 else {
                throw CLIError("\(file): a .npy feeds a model's only input, but this model has \(inputs.count) (\(inputs.map(\.name).joined(separator: ", "))); use .npz files")
            }
            feed[inputs[0].name] = try NPY.read(contentsOf: file)
        } else {
            let members = try NPZ.read(contentsOf: file)
            if inputs.count == 1 && members.count == 1 {
                feed[inputs[0].name] = members[0].tensor
            } else {
                for (name, tensor) in members { feed[name] = tensor }
            }
        }
        for input in inputs {
            guard let tensor = feed[input.name] else {
                throw CLIError("\(file): no array for input '\(input.name)' (it holds \(feed.keys.sorted().joined(separator: ", ")))")
            }
            guard tensor.dtype == input.elementType else {
                throw CLIError("\(file): input '\(input.name)' takes \(input.elementType.map { "\($0)" } ?? "?"), the file holds \(tensor.dtype)")
            }
            let dims = tensor.shape.dimensions
            let fits = dims.count == input.dimensions.count && zip(dims, input.dimensions).allSatisfy { d, want in want.map { $0 == d } ?? true }
            guard fits else {
                throw CLIError("\(file): input '\(input.name)' is \(input), the file holds \(tensor.shape) (preprocess the samples to the model's input first)")
            }
        }
        return feed
    }

    /// Joins feeds along the first axis.
    static func concatenate(_ parts: [[String: Tensor]], inputs: [TensorDescription]) throws -> [String: Tensor] {
        guard parts.count > 1 else { return parts[0] }
        var out: [String: Tensor] = [:]
        for input in inputs {
            let tensors = parts.map { $0[input.name]! }
            let rest = Array(tensors[0].shape.dimensions.dropFirst())
            guard tensors.allSatisfy({ Array($0.shape.dimensions.dropFirst()) == rest }) else {
                throw CLIError("calibration files for input '\(input.name)' differ in shape (\(tensors.map(\.shape.description).joined(separator: ", "))); use --calibration-batch 1")
            }
            let rows = tensors.reduce(0) { $0 + $1.shape.dimensions[0] }
            var joined = try Tensor(dtype: tensors[0].dtype, shape: Shape([rows] + rest), zeroed: false)
            joined.withUnsafeMutableBytes { dst in
                var offset = 0
                for t in tensors {
                    t.withUnsafeBytes { src in dst.baseAddress!.advanced(by: offset).copyMemory(from: src.baseAddress!, byteCount: src.count) }
                    offset += t.byteCount
                }
            }
            out[input.name] = joined
        }
        return out
    }
}
