/// Order statistics and durations as every report states them: one definition, so `bench`, the
/// GPU timings and the pipeline's stage percentiles agree.
public enum Percentiles {
    /// The middle element (upper middle for an even count), as our reports have always used; 0 for none.
    public static func median(_ values: [Double]) -> Double {
        values.isEmpty ? 0 : values.sorted()[values.count / 2]
    }

    /// The value at fraction `p` (0…1) of the sorted values, nearest rank; 0 for none.
    public static func value(_ p: Double, of values: [Double]) -> Double {
        guard !values.isEmpty else { return 0 }
        return value(p, ofSorted: values.sorted())
    }

    /// As `value(_:of:)` for values already sorted (several percentiles of one sample).
    public static func value(_ p: Double, ofSorted sorted: [Double]) -> Double {
        guard !sorted.isEmpty else { return 0 }
        return sorted[min(sorted.count - 1, max(0, Int((p * Double(sorted.count - 1)).rounded())))]
    }
}

extension Duration {
    /// The duration in milliseconds, as a Double.
    public var milliseconds: Double {
        Double(components.seconds) * 1e3 + Double(components.attoseconds) / 1e15
    }
}
