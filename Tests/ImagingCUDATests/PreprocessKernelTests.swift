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

    @Test func kernelRecordMatchesTheSource() {
        #expect(PreprocessKernel.source.contains("n * \(PreprocessKernel.recordFields)"))
        #expect(PreprocessKernel.source.contains("extern \"C\" __global__ void \(PreprocessKernel.name)("))
    }
}
