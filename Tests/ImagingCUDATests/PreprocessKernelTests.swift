import Foundation
import Imaging
import Tensors
import TestSupport
import Testing
@testable import CUDA
@testable import ImagingCUDA

/// The host side of the preprocessing kernel, on any machine: launch geometry and the record the
/// kernel reads.
@Suite struct PreprocessKernelTests {
    @Test(arguments: [(1, 1, 1), (3, 640, 640), (64, 640, 640), (2, 48, 192), (1, 7, 33)])
    func launchGeometryCoversEveryPixelOnce(slots: Int, height: Int, width: Int) {
        let (grid, block) = PreprocessKernel.geometry(slots: slots, height: height, width: width)
        #expect(grid.0 * block.0 >= width && (grid.0 - 1) * block.0 < width)
        #expect(grid.1 * block.1 >= height && (grid.1 - 1) * block.1 < height)
        #expect(grid.2 == slots && block.2 == 1 && block.0 * block.1 <= 1024)
    }

    @Test func kernelIsNamedAsLaunched() {
        #expect(PreprocessKernel.source.contains("extern \"C\" __global__ void \(PreprocessKernel.name)("))
        #expect(GPUPreprocessor.kernelName == PreprocessKernel.name)
    }

    /// The kernel source is pinned: a change to it (the arithmetic that must equal the CPU pass, the
    /// record, the parameters) shows here as a diff against Golden/preprocess-kernel.cu, to be
    /// checked on a GPU with bench/gpu.sh before the golden file is updated (set
    /// HALFPIPE_UPDATE_GOLDEN=1 to rewrite it).
    @Test func kernelSourceIsPinned() throws {
        let golden = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Golden/preprocess-kernel.cu")
        if ProcessInfo.processInfo.environment["HALFPIPE_UPDATE_GOLDEN"] == "1" {
            try PreprocessKernel.source.write(to: golden, atomically: true, encoding: .utf8)
        }
        let expected = try String(contentsOf: golden, encoding: .utf8)
        #expect(PreprocessKernel.source == expected)
    }

    /// The launch passes 11 arguments in this order; the kernel must declare the same 11.
    @Test func kernelParametersAreTheLaunchArguments() throws {
        let source = PreprocessKernel.source
        let open = try #require(source.range(of: "\(PreprocessKernel.name)("))
        let close = try #require(source[open.upperBound...].firstIndex(of: ")"))
        let names = source[open.upperBound..<close].split(separator: ",").map { $0.split(separator: " ").last.map(String.init) ?? "" }
        #expect(names == ["stage", "recordsAt", "tablesAt", "outputTableAt", "padAt", "count", "out", "height", "width", "nhwc", "elementSize"])
    }
}
