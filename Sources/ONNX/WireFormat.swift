import FoundationEssentials

/// Just enough of the protobuf wire format to walk fields, for the zero-copy path of weights.
enum WireFormat {
    struct Field {
        var number: UInt64
        var wireType: UInt8
        /// The whole field, tag included.
        var range: Range<Int>
        /// For length-delimited fields, the payload.
        var payload: Range<Int>
    }

    /// The fields of the message in `bytes[range]`; nil if the bytes are not well formed.
    static func fields(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>) -> [Field]? {
        var fields: [Field] = []
        var i = range.lowerBound
        while i < range.upperBound {
            let start = i
            guard let tag = varint(bytes, &i, limit: range.upperBound) else { return nil }
            let wire = UInt8(tag & 7)
            var payload = i..<i
            switch wire {
            case 0: guard varint(bytes, &i, limit: range.upperBound) != nil else { return nil }
            case 1: i += 8
            case 5: i += 4
            case 2:
                guard let length = varint(bytes, &i, limit: range.upperBound), length <= UInt64(range.upperBound - i) else { return nil }
                payload = i..<(i + Int(length))
                i += Int(length)
            default: return nil  // groups: never in ONNX
            }
            guard i <= range.upperBound, tag >> 3 != 0 else { return nil }
            fields.append(Field(number: tag >> 3, wireType: wire, range: start..<i, payload: payload))
        }
        return fields
    }

    static func varint(_ bytes: UnsafeRawBufferPointer, _ i: inout Int, limit: Int) -> UInt64? {
        var value: UInt64 = 0
        var shift: UInt64 = 0
        while i < limit && shift < 64 {
            let b = bytes[i]
            i += 1
            value |= UInt64(b & 0x7f) << shift
            if b & 0x80 == 0 { return value }
            shift += 7
        }
        return nil
    }

    static func encodeVarint(_ value: UInt64) -> [UInt8] {
        var v = value
        var out: [UInt8] = []
        while v >= 0x80 { out.append(UInt8(v & 0x7f) | 0x80); v >>= 7 }
        out.append(UInt8(v))
        return out
    }

    static func lengthDelimitedHeader(field: UInt64, length: Int) -> [UInt8] {
        encodeVarint(field << 3 | 2) + encodeVarint(UInt64(length))
    }
}
