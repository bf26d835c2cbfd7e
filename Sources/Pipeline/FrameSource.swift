import Dispatch
import FoundationEssentials
import Imaging
import Tensors

/// Where a frame came from and when.
public struct FrameInfo: Sendable, Equatable {
    /// 0, 1, 2 … over the whole run (every source, in order).
    public var index: Int
    /// The file, video or stream it came from.
    public var source: String
    /// The frame's number within its own source (a video's frame number; 0 for a still image).
    public var sourceFrame: Int
    /// Seconds from its source's start (video), nil for still images.
    public var timestamp: Double?
    public var width: Int
    public var height: Int

    public init(index: Int, source: String, sourceFrame: Int, timestamp: Double?, width: Int, height: Int) {
        self.index = index
        self.source = source
        self.sourceFrame = sourceFrame
        self.timestamp = timestamp
        self.width = width
        self.height = height
    }
}

/// One item a source yields: a frame, or why one could not be read (a corrupt image in a folder
/// is reported in its place, not silently skipped).
public struct SourceFrame: Sendable {
    public var info: FrameInfo
    public var image: Image?
    /// A JPEG left compressed for a GPU lane to decode with nvJPEG (then `image` is nil).
    public var jpeg: EncodedJPEG?
    public var error: String?

    public init(info: FrameInfo, image: Image? = nil, jpeg: EncodedJPEG? = nil, error: String? = nil) {
        self.info = info
        self.image = image
        self.jpeg = jpeg
        self.error = error
    }

    /// What preprocessing takes from it: its pixels, or its JPEG (nil: unreadable).
    public var picture: PictureInput? { image.map { .pixels($0) } ?? jpeg.map { .jpeg($0) } }
}

/// Frames in order from somewhere. Called from the pipeline's decode thread only.
public protocol FrameSource: AnyObject {
    /// For messages and summaries.
    var name: String { get }
    /// A camera or network stream: frames come at their own pace and may be dropped if asked.
    var isLive: Bool { get }
    /// How many frames are coming, when known (progress).
    var expectedFrames: Int? { get }
    /// The next frame, nil at the end. `index` is the run-wide number to give it.
    func next(index: Int) throws -> SourceFrame?
    /// Once `next` gave nil: why the source ended before its end (a truncated video: what was
    /// read, where it stopped, the decoder's word); nil when it was read whole.
    var stoppedEarly: String? { get }
}

extension FrameSource {
    public var stoppedEarly: String? { nil }
}

/// Still images (JPEG, PNG), decoded a window at a time on every core, yielded in order. With
/// `jpegsStayEncoded`, JPEG files are only read and their headers parsed: a GPU lane decodes them
/// with nvJPEG.
public final class ImageFileSource: FrameSource {
    public let files: [String]
    private let decoder: ImageDecoder
    private let window: Int
    private let jpegsStayEncoded: Bool
    private var decoded: [Int: Result<SourceFrame, ImagingError>] = [:]
    private var position = 0

    public init(files: [String], order: ChannelOrder = .rgb, window: Int = 2 * ProcessInfo.processInfo.activeProcessorCount, jpegsStayEncoded: Bool = false) {
        self.files = files
        decoder = ImageDecoder(order: order)
        self.window = max(1, window)
        self.jpegsStayEncoded = jpegsStayEncoded
    }

    public var name: String { files.count == 1 ? files[0] : "\(files.count) images" }
    public var isLive: Bool { false }
    public var expectedFrames: Int? { files.count }

    public func next(index: Int) throws -> SourceFrame? {
        guard position < files.count else { return nil }
        if decoded[position] == nil { decodeWindow() }
        let file = files[position]
        let result = decoded.removeValue(forKey: position)!
        position += 1
        switch result {
        case .success(var frame):
            frame.info.index = index
            return frame
        case .failure(let error):
            return SourceFrame(info: FrameInfo(index: index, source: file, sourceFrame: 0, timestamp: nil, width: 0, height: 0), error: "\(error)")
        }
    }

    private func decodeWindow() {
        let range = position..<min(files.count, position + window)
        let results = UncheckedSendable(UnsafeMutableBufferPointer<Result<SourceFrame, ImagingError>?>.allocate(capacity: range.count))
        results.value.initialize(repeating: nil)
        defer { results.value.deallocate() }
        let decoder = self.decoder, files = self.files, first = range.lowerBound, encoded = jpegsStayEncoded
        DispatchQueue.concurrentPerform(iterations: range.count) { i in
            let file = files[first + i]
            do throws(ImagingError) {
                let frame: SourceFrame
                if encoded, let ext = file.split(separator: ".").last?.lowercased(), ext == "jpg" || ext == "jpeg",
                   let jpeg = try EncodedJPEG.read(file: file, order: decoder.order) {
                    frame = SourceFrame(info: FrameInfo(index: 0, source: file, sourceFrame: 0, timestamp: nil, width: jpeg.width, height: jpeg.height), jpeg: jpeg)
                } else {
                    let image = try decoder.decode(file: file)
                    frame = SourceFrame(info: FrameInfo(index: 0, source: file, sourceFrame: 0, timestamp: nil, width: image.width, height: image.height), image: image)
                }
                results.value[i] = .success(frame)
            } catch {
                results.value[i] = .failure(error)
            }
        }
        for i in 0..<range.count { decoded[first + i] = results.value[i]! }
    }
}

/// A video file, URI or camera through GStreamer.
public final class VideoSource: FrameSource {
    private let reader: VideoReader
    public let name: String
    public let isLive: Bool
    public let expectedFrames: Int?

    public init(_ source: String, order: ChannelOrder = .rgb) throws {
        reader = try VideoReader(source: source, order: order)
        name = source
        isLive = source.hasPrefix("/dev/video") || source.hasPrefix("rtsp://") || source.hasPrefix("udp://")
        // The container's duration × frame rate; known only once the first frame's caps are in.
        expectedFrames = nil
    }

    public func next(index: Int) throws -> SourceFrame? {
        guard let frame = try reader.next() else { return nil }
        let info = FrameInfo(index: index, source: name, sourceFrame: frame.index, timestamp: frame.timestamp,
                             width: frame.image.width, height: frame.image.height)
        return SourceFrame(info: info, image: frame.image)
    }

    public var framesPerSecond: Double? { reader.framesPerSecond }
    public var stoppedEarly: String? { reader.stoppedEarly.map { "\(name): \($0)" } }
}

/// Frames already in memory as `.npy` files of uint8 pixels, `[H, W, 3]` or `[N, H, W, 3]` (RGB).
public final class ArraySource: FrameSource {
    public let files: [String]
    private var pending: [Image] = []
    private var fileIndex = 0
    private var frameInFile = 0

    public init(files: [String]) { self.files = files }

    public var name: String { files.count == 1 ? files[0] : "\(files.count) arrays" }
    public var isLive: Bool { false }
    public var expectedFrames: Int? { nil }

    public func next(index: Int) throws -> SourceFrame? {
        while pending.isEmpty {
            guard fileIndex < files.count else { return nil }
            let file = files[fileIndex]
            fileIndex += 1
            frameInFile = 0
            let tensor = try NPY.read(contentsOf: file)
            guard tensor.dtype == .uint8, tensor.shape.rank == 3 || tensor.shape.rank == 4, tensor.shape.dimensions.last == 3 else {
                throw PipelineError.badSource(file, "frames in a .npy must be uint8 [H, W, 3] or [N, H, W, 3] (RGB), got \(tensor.dtype) \(tensor.shape)")
            }
            let frames = tensor.shape.rank == 3 ? try tensor.reshaped(try Shape([1] + tensor.shape.dimensions)) : tensor
            for i in 0..<frames.shape[0] {
                let slice = try frames.slice(i..<(i + 1)).reshaped(try Shape(Array(frames.shape.dimensions.dropFirst())))
                pending.append(try Image(pixels: slice, order: .rgb, source: "\(file)[\(i)]"))
            }
            pending.reverse()
        }
        let image = pending.removeLast()
        defer { frameInFile += 1 }
        let info = FrameInfo(index: index, source: files[fileIndex - 1], sourceFrame: frameInFile, timestamp: nil, width: image.width, height: image.height)
        return SourceFrame(info: info, image: image)
    }
}

/// Several sources one after the other.
public final class SourceSequence: FrameSource {
    private let sources: [any FrameSource]
    private var current = 0

    public init(_ sources: [any FrameSource]) { self.sources = sources }

    public var name: String { sources.count == 1 ? sources[0].name : sources.map(\.name).joined(separator: ", ") }
    public var isLive: Bool { sources.contains { $0.isLive } }
    public var expectedFrames: Int? {
        let counts = sources.map(\.expectedFrames)
        return counts.contains { $0 == nil } ? nil : counts.reduce(0) { $0 + $1! }
    }

    public func next(index: Int) throws -> SourceFrame? {
        while current < sources.count {
            if let frame = try sources[current].next(index: index) { return frame }
            current += 1
        }
        return nil
    }

    public var stoppedEarly: String? {
        let stops = sources.compactMap(\.stoppedEarly)
        return stops.isEmpty ? nil : stops.joined(separator: "; ")
    }
}

/// The first `limit` frames of another source (a quick look at a long video).
public final class LimitedSource: FrameSource {
    private let base: any FrameSource
    private let limit: Int
    private var given = 0

    public init(_ base: any FrameSource, limit: Int) {
        self.base = base
        self.limit = limit
    }

    public var name: String { base.name }
    public var isLive: Bool { base.isLive }
    public var expectedFrames: Int? { base.expectedFrames.map { min($0, limit) } ?? limit }
    /// The source it limits (a video's frame rate).
    public var underlying: any FrameSource { base }
    public var stoppedEarly: String? { base.stoppedEarly }

    public func next(index: Int) throws -> SourceFrame? {
        guard given < limit, let frame = try base.next(index: index) else { return nil }
        given += 1
        return frame
    }
}

/// Every frame of a source read before the run, then served `repeats` times from memory: the
/// benchmark case of frames already decoded (decoding stays out of the figure). Frames keep their
/// source numbers and timestamps; their run-wide index keeps counting.
public final class PreloadedSource: FrameSource {
    private let frames: [SourceFrame]
    private let repeats: Int
    private var position = 0
    public let name: String
    public let stoppedEarly: String?

    public init(_ base: any FrameSource, repeats: Int = 1) throws(PipelineError) {
        guard !base.isLive else { throw .badConfiguration("\(base.name) is a live stream; only files can be read into memory first") }
        guard repeats >= 1 else { throw .badConfiguration("frames must be served at least once, got \(repeats)") }
        var frames: [SourceFrame] = []
        do {
            while let frame = try base.next(index: frames.count) { frames.append(frame) }
        } catch let error as PipelineError {
            throw error
        } catch {
            throw .badConfiguration("reading \(base.name) into memory: \(error)")
        }
        self.frames = frames
        self.repeats = repeats
        stoppedEarly = base.stoppedEarly
        name = base.name + (repeats > 1 ? " (from memory, \(repeats) times)" : " (from memory)")
    }

    public var isLive: Bool { false }
    public var expectedFrames: Int? { frames.count * repeats }

    public func next(index: Int) throws -> SourceFrame? {
        guard !frames.isEmpty, position < frames.count * repeats else { return nil }
        var frame = frames[position % frames.count]
        frame.info.index = index
        position += 1
        return frame
    }
}
