/// The dimensions of a dense tensor, outermost first (row-major / C order).
public struct Shape: Hashable, Sendable, CustomStringConvertible, ExpressibleByArrayLiteral {
    public var dimensions: [Int]

    /// Creates a shape; every dimension must be zero or positive.
    public init(_ dimensions: [Int]) throws(TensorError) {
        if let bad = dimensions.firstIndex(where: { $0 < 0 }) {
            throw .invalidShape("dimension \(bad) is \(dimensions[bad]); dimensions must be ≥ 0")
        }
        var total = 1
        for d in dimensions {
            let (p, overflow) = total.multipliedReportingOverflow(by: d)
            if overflow { throw .invalidShape("\(dimensions) has more elements than fit in memory") }
            total = p
        }
        self.dimensions = dimensions
    }

    /// Literal shapes are written by programmers; a negative literal is a bug, not bad input.
    public init(arrayLiteral elements: Int...) {
        precondition(elements.allSatisfy { $0 >= 0 }, "negative dimension in shape literal \(elements)")
        self.dimensions = elements
    }

    public var rank: Int { dimensions.count }
    public var elementCount: Int { dimensions.reduce(1, *) }
    public subscript(axis: Int) -> Int { dimensions[axis] }

    /// Element strides of a C-contiguous layout.
    public var contiguousStrides: [Int] {
        var strides = [Int](repeating: 1, count: rank)
        var step = 1
        for axis in stride(from: rank - 1, through: 0, by: -1) {
            strides[axis] = step
            step *= dimensions[axis]
        }
        return strides
    }

    /// `1x3x640x640` style, as the command line writes shapes.
    public var description: String { rank == 0 ? "scalar" : dimensions.map(String.init).joined(separator: "x") }
}
