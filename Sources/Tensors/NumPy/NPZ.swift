import FoundationEssentials

/// numpy's `.npz` archives: a zip of `.npy` members, stored (`savez`) or deflated
/// (`savez_compressed`). Member order is kept, so feeds and outputs keep their order.
public enum NPZ {
    /// Reads every array of the archive at `path`, names without the `.npy` suffix.
    public static func read(contentsOf path: String) throws(TensorError) -> [(name: String, tensor: Tensor)] {
        let archive = try ZipArchive(data: FileBytes.read(path), path: path)
        var arrays: [(name: String, tensor: Tensor)] = []
        for member in archive.members where !member.name.hasSuffix("/") {
            let name = member.name.hasSuffix(".npy") ? String(member.name.dropLast(4)) : member.name
            arrays.append((name, try NPY.decode(archive.contents(of: member), path: "\(path):\(member.name)")))
        }
        return arrays
    }

    /// Writes `arrays` to `path` atomically, deflated when `compressed` (like `savez_compressed`).
    public static func write(_ arrays: [(name: String, tensor: Tensor)], to path: String, compressed: Bool = false) throws(TensorError) {
        var seen = Set<String>()
        var entries: [(name: String, bytes: Data)] = []
        for (name, tensor) in arrays {
            guard seen.insert(name).inserted else { throw .unsupported("two arrays named '\(name)' in \(path)") }
            // zip stores name lengths in 16 bits; a longer name trapped in the archive writer.
            guard name.utf8.count + 4 <= 0xFFFF else {
                throw .unsupported("array name of \(name.utf8.count) bytes in \(path); zip member names hold at most 65,531 plus '.npy'")
            }
            entries.append((name + ".npy", try NPY.encode(tensor)))
        }
        try FileBytes.writeAtomically(ZipArchive.build(entries, compressed: compressed), to: path)
    }
}
