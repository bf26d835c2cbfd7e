import FoundationEssentials
#if canImport(Glibc)
import Glibc
#endif

/// Numbers as report text, built from integers (no C format strings, no full Foundation).
public enum NumberText {
    /// `3.41e-03`: three significant digits, built from integers (no C format strings).
    public static func scientific(_ v: Double) -> String {
        guard v.isFinite else { return v.isNaN ? "nan" : (v > 0 ? "inf" : "-inf") }
        if v == 0 { return "0" }
        var exponent = Int(log10(abs(v)).rounded(.down))
        var digits = Int((abs(v) / pow(10, Double(exponent)) * 100).rounded())
        if digits >= 1000 { digits /= 10; exponent += 1 }
        let e = abs(exponent) < 10 ? "0\(abs(exponent))" : "\(abs(exponent))"
        return "\(v < 0 ? "-" : "")\(digits / 100).\(String(digits % 100).leftPadded(to: 2))e\(exponent < 0 ? "-" : "+")\(e)"
    }

    /// `0.999994`: `decimals` places, rounded half away from zero.
    public static func fixed(_ v: Double, _ decimals: Int) -> String {
        guard v.isFinite else { return v.isNaN ? "nan" : (v > 0 ? "inf" : "-inf") }
        let scale = pow(10, Double(decimals))
        let units = Int((abs(v) * scale).rounded())
        let whole = units / Int(scale), fraction = units % Int(scale)
        let sign = v < 0 && units != 0 ? "-" : ""
        return decimals == 0 ? "\(sign)\(whole)" : "\(sign)\(whole).\(String(fraction).leftPadded(to: decimals))"
    }
}

extension String {
    fileprivate func leftPadded(to width: Int) -> String { count >= width ? self : String(repeating: "0", count: width - count) + self }
}
