import Foundation
import Testing

/// Every command's whole `--help` text against its golden file (swift-argument-parser's practice):
/// a changed option, default or value list shows as a diff here.
@Suite struct HelpGoldenTests {
    @Test(arguments: [
        ([], "halfpipe"), (["inspect"], "inspect"), (["convert"], "convert"), (["quantize"], "quantize"), (["run"], "run"), (["bench"], "bench"),
        (["compare"], "compare"), (["preprocess"], "preprocess"), (["detect"], "detect"), (["plan"], "plan"), (["devices"], "devices"),
    ])
    func helpMatchesGoldenText(_ command: [String], _ name: String) throws {
        let r = try CLI.run(command + ["--help"])
        #expect(r.status == 0, "\(r.stderr)")
        try CLI.expectGolden(r.stdout, "\(name)-help.txt")
    }
}
