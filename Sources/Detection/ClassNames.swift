import FoundationEssentials

/// Class names a model carries in its metadata. Ultralytics writes `names` as a Python dict
/// literal (`{0: 'person', 1: 'bicycle'}`); a plain list (`['a', 'b']`) or one name per line is
/// read too.
public struct ClassNames: Sendable, Equatable {
    public private(set) var names: [Int: String]

    public init(_ names: [Int: String] = [:]) { self.names = names }

    /// The name of class `index`, or its number when the model names none.
    public func label(_ index: Int) -> String { names[index] ?? String(index) }

    /// The names in `text`, or nil when it is none of the forms above.
    public static func parse(_ text: String) -> ClassNames? {
        let trimmed = text.drop { $0 == " " || $0 == "\n" }
        if trimmed.first == "{" || trimmed.first == "[" {
            var names: [Int: String] = [:], index = 0, key: Int?
            var chars = trimmed.dropFirst()[...]
            while let c = chars.first {
                if c == "'" || c == "\"" {
                    // A quoted name: up to the same quote (names do not contain it in practice).
                    let rest = chars.dropFirst()
                    guard let end = rest.firstIndex(of: c) else { return nil }
                    names[key ?? index] = String(rest[..<end])
                    index += 1
                    key = nil
                    chars = rest[rest.index(after: end)...]
                } else if c.isNumber {
                    let digits = chars.prefix { $0.isNumber }
                    chars = chars.dropFirst(digits.count)
                    if chars.drop(while: { $0 == " " }).first == ":" { key = Int(digits) }
                } else {
                    chars = chars.dropFirst()
                }
            }
            return names.isEmpty ? nil : ClassNames(names)
        }
        let lines = text.split(separator: "\n").map(String.init)
        return lines.isEmpty ? nil : ClassNames(Dictionary(uniqueKeysWithValues: lines.enumerated().map { ($0.offset, $0.element) }))
    }
}
