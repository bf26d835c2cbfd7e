import Precision
import Testing

/// `--block-op` / `--block-node` patterns: every pattern of up to four characters over `a`, `b`,
/// `*` and `?` against every name of up to five characters over `a` and `b`, checked against a
/// recursive glob written from the definition; plain names (the fast path) must match only
/// themselves.
@Suite struct NamePatternTests {
    static func reference(_ p: [Character], _ s: [Character]) -> Bool {
        guard let first = p.first else { return s.isEmpty }
        if first == "*" { return reference(Array(p.dropFirst()), s) || (!s.isEmpty && reference(p, Array(s.dropFirst()))) }
        guard let c = s.first, first == "?" || first == c else { return false }
        return reference(Array(p.dropFirst()), Array(s.dropFirst()))
    }

    static func words(_ alphabet: [Character], upTo length: Int) -> [String] {
        var out = [""], level = [""]
        for _ in 0..<length {
            level = level.flatMap { w in alphabet.map { w + String($0) } }
            out += level
        }
        return out
    }

    @Test func matchesTheDefinitionExhaustively() {
        let patterns = Self.words(["a", "b", "*", "?"], upTo: 4), names = Self.words(["a", "b"], upTo: 5)
        var wrong: [String] = []
        for p in patterns {
            let pattern = NamePattern(p)
            for n in names where pattern.matches(n) != Self.reference(Array(p), Array(n)) { wrong.append("'\(p)' vs '\(n)'") }
        }
        #expect(wrong.isEmpty, "\(wrong.count) disagreements, e.g. \(wrong.prefix(5))")
        #expect(patterns.count == 341 && names.count == 63)
    }

    @Test func plainNamesMatchOnlyThemselves() {
        #expect(NamePattern("Conv").matches("Conv"))
        #expect(!NamePattern("Conv").matches("ConvTranspose"))
        #expect(!NamePattern("Conv").matches("conv"))
        #expect(NamePattern("Conv*").matches("ConvTranspose"))
        #expect(NamePattern("").matches("") && !NamePattern("").matches("a"))
    }
}
