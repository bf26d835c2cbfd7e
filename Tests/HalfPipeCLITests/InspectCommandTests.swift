import Foundation
import Testing

/// `halfpipe inspect` through the real binary: the table, the JSON, exit codes and help.
@Suite struct InspectCommandTests {
    let detector = "models/rapidocr/ch_PP-OCRv4_det_infer.onnx"

    @Test func tableNamesInterfaceAndRisks() throws {
        let r = try CLI.run(["inspect", try CLI.material(detector)])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("parameters 1,171,841"))
        #expect(r.stdout.contains("x      float  [p2o.DynamicDimension.0, 3, p2o.DynamicDimension.1, p2o.DynamicDimension.2]"))
        #expect(r.stdout.contains("batch_norm_0.w_2             24      9.8e7    BatchNormalization"))
    }

    @Test func jsonCarriesParametersAndRisks() throws {
        let r = try CLI.run(["inspect", try CLI.material(detector), "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        #expect(json["parameters"] as? Int == 1_171_841)
        let risks = try #require(json["risks"] as? [String: Any])
        let overflow = try #require(risks["overflow"] as? [[String: Any]])
        #expect(overflow.contains { $0["tensor"] as? String == "batch_norm_0.w_2" })
        let inputs = try #require(json["inputs"] as? [[String: Any]])
        #expect(inputs.first?["type"] as? String == "float")
    }

    @Test(arguments: [
        ("/nonexistent/model.onnx", "no such file"),
        ("images/skimage/astronaut.png", "not a valid ONNX model"),
    ])
    func badInputExitsWithCodeTwoAndOneLine(_ input: String, _ message: String) throws {
        let path = input.hasPrefix("/") ? input : try CLI.material(input)
        let r = try CLI.run(["inspect", path])
        #expect(r.status == 2)
        #expect(r.stdout.isEmpty)
        let lines = r.stderr.split(separator: "\n")
        #expect(lines.count == 1, "\(r.stderr)")
        #expect(r.stderr.hasPrefix("halfpipe: error: \(path)"))
        #expect(r.stderr.contains(message), "\(r.stderr)")
    }

    @Test func usageErrorsExitWithCodeTwo() throws {
        #expect(try CLI.run(["inspect"]).status == 2)
        #expect(try CLI.run(["no-such-command"]).status == 2)
    }

}
