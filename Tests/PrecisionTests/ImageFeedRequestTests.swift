import Inference
import Precision
import Testing

/// How pictures are fitted to a model's image input when the model leaves its size open.
@Suite struct ImageFeedRequestTests {
    static let symbolic = [TensorDescription(name: "images", elementType: .float32, dimensions: [nil, 3, nil, nil], symbols: ["batch", nil, "height", "width"])]
    static let fixed = [TensorDescription(name: "images", elementType: .float16, dimensions: [1, 3, 416, 416], symbols: [nil, nil, nil, nil])]

    @Test func symbolicSizeTakesTheGivenSizeThenTheExportSize() throws {
        let exported = try ImageFeedRequest(exportSize: [320, 256]).preprocessor(for: Self.symbolic).preprocessor.spec
        #expect((exported.height, exported.width) == (320, 256))
        let given = try ImageFeedRequest(size: (height: 480, width: 640), exportSize: [320, 256]).preprocessor(for: Self.symbolic).preprocessor.spec
        #expect((given.height, given.width) == (480, 640))
        // A preset's size gives way to --size too; the preset's other choices stay.
        let preset = try ImageFeedRequest(preset: "yolox416", size: (height: 224, width: 224)).preprocessor(for: Self.symbolic).preprocessor.spec
        #expect((preset.height, preset.width) == (224, 224) && preset.order == .bgr)
    }

    @Test func symbolicSizeWithNothingToGoOnSaysWhatToGive() {
        #expect { try ImageFeedRequest().preprocessor(for: Self.symbolic) } throws: { "\($0)".contains("give --size HxW") }
    }

    @Test func aFixedSizeWinsOverTheExportSizeAndRefusesAnotherGivenOne() throws {
        let spec = try ImageFeedRequest(exportSize: [640, 640]).preprocessor(for: Self.fixed).preprocessor.spec
        #expect((spec.height, spec.width) == (416, 416) && spec.dtype == .float16)
        #expect { try ImageFeedRequest(size: (height: 320, width: 320)).preprocessor(for: Self.fixed) } throws: { "\($0)".contains("takes 416x416") }
    }
}
