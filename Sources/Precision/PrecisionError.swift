/// Errors of the precision passes and their options.
public enum PrecisionError: Error, CustomStringConvertible, Equatable {
    case badOption(String)
    /// The model cannot be converted as asked (already float16, nothing to convert …).
    case notConvertible(String)

    public var description: String {
        switch self {
        case .badOption(let m): m
        case .notConvertible(let m): m
        }
    }
}
