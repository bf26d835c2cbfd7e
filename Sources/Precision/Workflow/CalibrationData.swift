import FoundationEssentials
import Imaging
import Inference
import Tensors

/// Calibration data, streamed a batch at a time so memory holds one batch whatever the number of
/// samples: image files (decoded and preprocessed per batch), `.npy` files (each one sample or a
/// batch of the model's single input), or `.npz` files (each one feed, members named after the
/// inputs). Paths may be files or folders (read in name order). Everything that can be wrong with
/// the paths is found when it is made, before any model runs.
public struct CalibrationData: Sendable {
    public enum Kind: Sendable { case images, arrays }
    public let kind: Kind
    public let files: [String]
    /// The paths as given, for reports.
    public let paths: [String]

    public init(paths: [String]) throws(PrecisionError) {
        var files: [String] = []
        for path in paths {
            var isDirectory = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
                throw .badOption("--calibration \(path): no such file or folder")
            }
            if isDirectory {
                let names: [String]
                do { names = try FileManager.default.contentsOfDirectory(atPath: path).sorted() } catch {
                    throw .badOption("--calibration \(path): cannot list the folder: \(error)")
                }
                files += names.filter { Self.isImage($0) || Self.isArray($0) }.map { path.hasSuffix("/") ? path + $0 : path + "/" + $0 }
            } else {
                guard Self.isImage(path) || Self.isArray(path) else {
                    throw .badOption("--calibration \(path): not an image (\(ImageFiles.extensions.joined(separator: ", "))), .npy or .npz file")
                }
                files.append(path)
            }
        }
        guard !files.isEmpty else {
            throw .badOption("no calibration data: \(paths.isEmpty ? "give --calibration DIR|FILE (images, .npy or .npz)" : "\(paths.joined(separator: ", ")) hold(s) no images, .npy or .npz files")")
        }
        let images = files.filter(Self.isImage).count
        guard images == 0 || images == files.count else {
            throw .badOption("--calibration mixes images and arrays (\(images) image(s), \(files.count - images) .npy/.npz); give one kind")
        }
        self.files = files
        self.paths = paths
        kind = images > 0 ? .images : .arrays
    }

    private init(files: [String], paths: [String], kind: Kind) {
        (self.files, self.paths, self.kind) = (files, paths, kind)
    }

    /// The files split in two: those calibration reads, and `fraction` of them (at least
    /// `atLeast`, at most half and at most `atMost`) held back, spread evenly through the name
    /// order, for judging the result on samples calibration never saw. Fewer than 4 files:
    /// nothing is held back. The held-back batches stay in memory and every candidate runs on
    /// them all, hence the upper bound.
    public func holdingBack(_ fraction: Double = 0.2, atLeast: Int = 8, atMost: Int = 64) -> (calibration: CalibrationData, heldBack: CalibrationData?) {
        let n = files.count
        guard n >= 4, fraction > 0 else { return (self, nil) }
        let count = min(max(Int((fraction * Double(n)).rounded(.up)), min(atLeast, n / 2)), n / 2, atMost)
        // The i-th held-back file sits in the middle of the i-th of `count` equal stretches.
        let held = Set((0..<count).map { min(n - 1, Int((Double(2 * $0 + 1) * Double(n) / Double(2 * count)).rounded(.down))) })
        let kept = files.indices.filter { !held.contains($0) }.map { files[$0] }
        let back = files.indices.filter { held.contains($0) }.map { files[$0] }
        return (CalibrationData(files: kept, paths: paths, kind: kind), CalibrationData(files: back, paths: paths, kind: kind))
    }

    static func isImage(_ name: String) -> Bool { ImageFiles.extensions.contains(name.split(separator: ".").last.map { $0.lowercased() } ?? "") }
    static func isArray(_ name: String) -> Bool { name.hasSuffix(".npy") || name.hasSuffix(".npz") }

    public var summary: String { "\(files.count) \(kind == .images ? "image" : "array") file(s)" }

    /// The data as a conversion or quantization job's feeds: batches of `batch` samples, images
    /// preprocessed as `images` asks.
    public func feeds(batch: Int, images: ImageFeedRequest) -> ConversionJob.Feeds {
        ConversionJob.Feeds(source: "\(summary) (\(paths.joined(separator: ", ")))", measuresRanges: true) { inputs in
            try self.batches(for: inputs, batch: batch, images: images)
        }
    }

    /// Batches of `batch` samples for a model with `inputs`, one per call, nil at the end.
    public func batches(for inputs: [TensorDescription], batch: Int, images: ImageFeedRequest) throws -> () throws -> [String: Tensor]? {
        var remaining = files[...]
        switch kind {
        case .images:
            let (input, preprocessor) = try images.preprocessor(for: inputs)
            if let fixed = input.dimensions[0], fixed != batch {
                throw PrecisionError.badOption("input '\(input.name)' has a fixed batch of \(fixed); use --calibration-batch \(fixed)")
            }
            if let other = inputs.first(where: { $0.name != input.name }) {
                throw PrecisionError.badOption("the model has inputs besides '\(input.name)' ('\(other.name)'); images feed one input: give .npz feeds instead")
            }
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
                throw PrecisionError.badOption("\(file): a .npy feeds a model's only input, but this model has \(inputs.count) (\(inputs.map(\.name).joined(separator: ", "))); use .npz files")
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
                throw PrecisionError.badOption("\(file): no array for input '\(input.name)' (it holds \(feed.keys.sorted().joined(separator: ", ")))")
            }
            guard tensor.dtype == input.elementType else {
                throw PrecisionError.badOption("\(file): input '\(input.name)' takes \(input.elementType.map { "\($0)" } ?? "?"), the file holds \(tensor.dtype)")
            }
            let dims = tensor.shape.dimensions
            let fits = dims.count == input.dimensions.count && zip(dims, input.dimensions).allSatisfy { d, want in want.map { $0 == d } ?? true }
            guard fits else {
                throw PrecisionError.badOption("\(file): input '\(input.name)' is \(input), the file holds \(tensor.shape) (preprocess the samples to the model's input first)")
            }
        }
        return feed
    }

    /// Joins feeds along the first axis.
    static func concatenate(_ parts: [[String: Tensor]], inputs: [TensorDescription]) throws -> [String: Tensor] {
        var out: [String: Tensor] = [:]
        for input in inputs {
            let tensors = parts.map { $0[input.name]! }
            do { out[input.name] = try Tensor.concatenated(tensors) } catch {
                throw PrecisionError.badOption("calibration files for input '\(input.name)' differ in shape (\(tensors.map(\.shape.description).joined(separator: ", "))); use --calibration-batch 1")
            }
        }
        return out
    }
}
