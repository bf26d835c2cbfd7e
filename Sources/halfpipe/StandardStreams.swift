#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Writes a line to standard error (diagnostics never mix with JSON on standard output).
func printStandardError(_ message: String) {
    var text = message
    if !text.hasSuffix("\n") { text += "\n" }
    // write(2) on the descriptor: no shared FILE* (which Swift 6 rightly calls unsafe global state).
    _ = text.withCString { write(2, $0, strlen($0)) }
}
