import Testing
import CUDA
import ONNX
import Tensors
import TestSupport
import Inference
import ONNXRuntime
@testable import CUDAEngine

/// Values known at load time, any rank: dequantized weights and index grids.
@Suite struct HostArithmeticTests {
    typealias Value = HostFolding.Value

    @Test func broadcastSourcesFollowNumPy() {
        #expect(HostFolding.broadcastSources([3, 1], to: [3, 2]) == [0, 0, 1, 1, 2, 2])
        #expect(HostFolding.broadcastSources([2], to: [3, 2]) == [0, 1, 0, 1, 0, 1])
        #expect(HostFolding.broadcastSources([1, 2, 1], to: [2, 2, 3]) == [0, 0, 0, 1, 1, 1, 0, 0, 0, 1, 1, 1])
        #expect(HostFolding.broadcastSources([], to: [2, 2]) == [0, 0, 0, 0])
    }

    @Test func perRowScaleOfAnInt8WeightFolds() throws {
        let node = Node(opType: "Mul", name: "deq", inputs: ["w", "s"], outputs: ["y"])
        let w = Value(shape: [3, 2], numbers: [1, -2, 3, -4, 5, -6], dtype: .float32), s = Value(shape: [3, 1], numbers: [0.5, 1, 2], dtype: .float32)
        let y = try #require(try HostFolding.evaluate(node, inputs: [w, s], shapeOf: { _ in nil })?.first)
        #expect(y.shape == [3, 2] && y.numbers == [0.5, -1, 3, -4, 10, -12])
        // Comparisons give booleans; Max broadcasts; Where picks.
        let ge = try #require(try HostFolding.evaluate(Node(opType: "GreaterOrEqual", inputs: ["a", "b"], outputs: ["c"]),
                                                        inputs: [Value(shape: [1, 3], numbers: [0, 1, 2], dtype: .int64), Value(shape: [], numbers: [1], dtype: .int64)],
                                                        shapeOf: { _ in nil })?.first)
        #expect(ge.dtype == .bool && ge.numbers == [0, 1, 1])
        let mx = try #require(try HostFolding.evaluate(Node(opType: "Max", inputs: ["a", "b"], outputs: ["c"]),
                                                        inputs: [Value(shape: [2, 1], numbers: [0, 5], dtype: .int64), Value(shape: [1, 3], numbers: [1, 2, 9], dtype: .int64)],
                                                        shapeOf: { _ in nil })?.first)
        #expect(mx.shape == [2, 3] && mx.numbers == [1, 2, 9, 5, 5, 9])
    }

    @Test func sliceExpandAndConcatOfAnyRank() throws {
        // position_ids[:, 0:3] of a [1, 6] table.
        let ids = Value(shape: [1, 6], numbers: [0, 1, 2, 3, 4, 5], dtype: .int64)
        let slice = Node(opType: "Slice", inputs: ["x", "s", "e", "a"], outputs: ["y"])
        let sliced = try #require(try HostFolding.evaluate(slice, inputs: [ids, Value(shape: [1], numbers: [0], dtype: .int64),
                                                                           Value(shape: [1], numbers: [3], dtype: .int64), Value(shape: [1], numbers: [1], dtype: .int64)],
                                                           shapeOf: { _ in nil })?.first)
        #expect(sliced.shape == [1, 3] && sliced.numbers == [0, 1, 2])
        // Reversed rows with a negative step.
        let table = Value(shape: [3, 2], numbers: [0, 1, 2, 3, 4, 5], dtype: .float32)
        let reversed = try HostFolding.slice(slice, table, starts: [-1], ends: [-4], axes: [0], steps: [-1])
        #expect(reversed.shape == [3, 2] && reversed.numbers == [4, 5, 2, 3, 0, 1])
        let expand = try #require(try HostFolding.evaluate(Node(opType: "Expand", inputs: ["x", "s"], outputs: ["y"]),
                                                            inputs: [Value(shape: [2, 1], numbers: [7, 8], dtype: .int64), Value(shape: [2], numbers: [2, 3], dtype: .int64)],
                                                            shapeOf: { _ in nil })?.first)
        #expect(expand.shape == [2, 3] && expand.numbers == [7, 7, 7, 8, 8, 8])
        let concat = try #require(HostFolding.concatenate(Node(opType: "Concat", inputs: ["a", "b"], outputs: ["c"], attributes: [.int("axis", -1)]),
                                                          [Value(shape: [2, 1], numbers: [1, 2], dtype: .int64), Value(shape: [2, 2], numbers: [3, 4, 5, 6], dtype: .int64)]))
        #expect(concat.shape == [2, 3] && concat.numbers == [1, 3, 4, 2, 5, 6])
    }
}
