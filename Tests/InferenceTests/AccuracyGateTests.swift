import Inference
import Tensors
import Testing

/// The verdicts `compare`, `convert --check` and the coming accuracy gates share.
@Suite struct AccuracyGateTests {
    func entry(_ reference: [Float], _ candidate: [Float], tolerance: ComparisonTolerance = ComparisonTolerance(rtol: 1e-3, atol: 1e-5)) throws -> OutputComparison {
        let a = try Tensor(shape: [reference.count], elements: reference), b = try Tensor(shape: [candidate.count], elements: candidate)
        return OutputComparison.compare(name: "y", reference: a, candidate: b, tolerance: tolerance, isOutput: true)
    }

    @Test func passesWithinTheRelativeL2Bound() throws {
        let v = AccuracyGate(maxRelativeL2: 1e-2).verdict(try entry([1, 2, 3, 4], [1, 2, 3, 4.01]))
        #expect(v.passed && v.why.isEmpty)
    }

    @Test func failsBeyondTheBoundAndSaysBy() throws {
        let v = AccuracyGate(maxRelativeL2: 1e-2).verdict(try entry([1, 2, 3, 4], [1, 2, 3, 5]))
        #expect(!v.passed && v.why.hasPrefix("relative L2 1.83e-01 > 0.01"))
    }

    @Test func newNonFiniteValuesFailEvenWithinTheBound() throws {
        var values = [Float](repeating: 1, count: 1000)
        var broken = values
        broken[7] = .infinity
        let v = AccuracyGate(maxRelativeL2: .infinity).verdict(try entry(values, broken))
        #expect(!v.passed && v.why == "NaN/Inf the float32 model does not give")
        values[7] = .infinity  // the same Inf in the reference is not new
        #expect(AccuracyGate(maxRelativeL2: .infinity).verdict(try entry(values, values)).passed)
    }

    @Test func elementwiseRuleAppliesOnlyWhenAsked() throws {
        // The elementwise rule is the comparison's own tolerance (the gate says whether it counts).
        let tight = ComparisonTolerance(rtol: 1e-5, atol: 1e-6)
        let e = try entry([1, 2, 3, 4], [1, 2, 3, 4.001], tolerance: tight)
        #expect(AccuracyGate(maxRelativeL2: 1e-2).verdict(e).passed)
        let strict = AccuracyGate(maxRelativeL2: 1e-2, elementwise: tight).verdict(e)
        #expect(!strict.passed && strict.why.contains("1 element(s) beyond"))
    }

    @Test func missingOutputsAndNoOutputsFail() throws {
        let gate = AccuracyGate()
        let missing = OutputComparison.missing("boxes", shape: [1, 4])
        #expect(!gate.verdict(missing).passed && gate.verdict(missing).why.contains("no output 'boxes'"))
        #expect(gate.verdicts([]).passed == false)
        let shapes = OutputComparison.compare(name: "y", reference: try Tensor(shape: [2], elements: [1, 2] as [Float]),
                                              candidate: try Tensor(shape: [3], elements: [1, 2, 3] as [Float]), tolerance: .init(), isOutput: true)
        #expect(!gate.verdict(shapes).passed && gate.verdict(shapes).why.contains("differs"))
    }

    @Test func percentilesAreNearestRank() {
        #expect(Percentiles.median([]) == 0)
        #expect(Percentiles.median([3, 1, 2]) == 2)
        #expect(Percentiles.median([4, 1, 3, 2]) == 3)
        let hundred = (1...100).map(Double.init)
        #expect(Percentiles.value(0.99, of: hundred) == 99)
        #expect(Percentiles.value(0, of: hundred) == 1 && Percentiles.value(1, of: hundred) == 100)
        #expect(Duration.milliseconds(1500).milliseconds == 1500)
        #expect(Duration.microseconds(250).milliseconds == 0.25)
    }
}
