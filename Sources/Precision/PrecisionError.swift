/// Errors of the precision passes and their options.
public enum PrecisionError: Error, CustomStringConvertible, Equatable {
    case badOption(String)
    /// The model cannot be converted as asked (already float16, nothing to convert …).
    case notConvertible(String)
    /// The result would not meet its accuracy target (exit code 1, as a failed check).
    case accuracyNotMet(String)

    public var description: String {
        switch self {
        case .badOption(let m): m
        case .notConvertible(let m): m
        case .accuracyNotMet(let m): m
        }
    }
}
