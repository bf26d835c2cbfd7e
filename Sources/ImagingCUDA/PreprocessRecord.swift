/// The per-image record the preprocessing kernel reads, defined once: `Field`'s cases, in order, are
/// both the CUDA C struct embedded in the kernel's source (`cDeclaration`) and the Int32 words
/// `GPUPreprocessor` stages (`words`), so the two cannot disagree, and the kernel reads the fields by
/// name. Every field is a C `int`: the struct has no padding and the staging is plain Int32s.
struct PreprocessRecord: Equatable {
    /// The record's fields in memory order; a case's name is the C field's name. Add a field here,
    /// give it a value in `value(of:)`, and both sides have it.
    enum Field: Int, CaseIterable {
        case pixelOffsetLow, width, height, padLeft, padTop, visibleWidth, visibleHeight
        case xTable, yTable, xTaps, yTaps, channelMap0, channelMap1, channelMap2, pixelOffsetHigh

        /// What the field holds, for the C declaration's reader.
        var meaning: String {
            switch self {
            case .pixelOffsetLow: "the image's pixels: bytes from the staging buffer's start, low 32 bits"
            case .width: "source image width"
            case .height: "source image height"
            case .padLeft: "first output column of the image"
            case .padTop: "first output row of the image"
            case .visibleWidth: "output columns the image covers"
            case .visibleHeight: "output rows the image covers"
            case .xTable: "x tap indices (then weights), in ints from the tables' start"
            case .yTable: "y tap indices (then weights), in ints from the tables' start"
            case .xTaps: "taps per output column"
            case .yTaps: "taps per output row"
            case .channelMap0: "source channel of output channel 0"
            case .channelMap1: "source channel of output channel 1"
            case .channelMap2: "source channel of output channel 2"
            case .pixelOffsetHigh: "the pixels' offset, high 32 bits"
            }
        }

        var name: String { String(describing: self) }
    }

    /// The C struct's name in the kernel source.
    static let cTypeName = "HalfpipePreprocessRecord"
    /// Int32 words per record.
    static var wordCount: Int { Field.allCases.count }

    /// Bytes from the staging buffer's start to the image's pixels (split in two words: the kernel
    /// adds them as 64-bit, and staging buffers may pass 4 GiB).
    var pixelOffset: UInt64 = 0
    var width: Int32 = 0, height: Int32 = 0
    var padLeft: Int32 = 0, padTop: Int32 = 0
    var visibleWidth: Int32 = 0, visibleHeight: Int32 = 0
    var xTable: Int32 = 0, yTable: Int32 = 0
    var xTaps: Int32 = 0, yTaps: Int32 = 0
    var channelMap: (Int32, Int32, Int32) = (0, 0, 0)

    /// The word the kernel reads as `field`.
    func value(of field: Field) -> Int32 {
        switch field {
        case .pixelOffsetLow: Int32(bitPattern: UInt32(truncatingIfNeeded: pixelOffset))
        case .width: width
        case .height: height
        case .padLeft: padLeft
        case .padTop: padTop
        case .visibleWidth: visibleWidth
        case .visibleHeight: visibleHeight
        case .xTable: xTable
        case .yTable: yTable
        case .xTaps: xTaps
        case .yTaps: yTaps
        case .channelMap0: channelMap.0
        case .channelMap1: channelMap.1
        case .channelMap2: channelMap.2
        case .pixelOffsetHigh: Int32(truncatingIfNeeded: pixelOffset >> 32)
        }
    }

    /// The record as the kernel reads it: one word per field, in `Field` order.
    var words: [Int32] { Field.allCases.map(value(of:)) }

    /// The CUDA C declaration of the record, with a compile-time check of its size.
    static var cDeclaration: String {
        let fields = Field.allCases.map { "    int \($0.name);  // \($0.meaning)" }
        return (["struct \(cTypeName) {"] + fields + ["};",
            "static_assert(sizeof(\(cTypeName)) == \(wordCount) * sizeof(int), \"one int per record field\");"])
            .joined(separator: "\n")
    }

    static func == (a: PreprocessRecord, b: PreprocessRecord) -> Bool { a.words == b.words }
}
