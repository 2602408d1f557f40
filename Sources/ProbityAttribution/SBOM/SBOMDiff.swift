/// What changed between two SBOMs of the same thing (`probity sbom diff OLD NEW`).
public struct SBOMDiff: Sendable {
    /// A package as compared: its identity without the version (purl type/namespace/name, or
    /// the name), and its version.
    public struct Entry: Sendable, Hashable {
        public var identity: String
        public var name: String
        public var version: String?
        public var isDirect: Bool?
    }

    public var added: [Entry] = []
    public var removed: [Entry] = []
    /// Same identity, another version: (old, new).
    public var changed: [(old: Entry, new: Entry)] = []
    /// Added packages that are transitive (reachable only through others) in the new SBOM.
    public var newTransitive: [Entry] { added.filter { $0.isDirect == false } }
    /// Files present in both whose hashes differ (same algorithm, other value).
    public var changedFileHashes: [String] = []

    public init(old: SBOMDocument, new: SBOMDocument) {
        let before = Self.entries(old), after = Self.entries(new)
        for (identity, entry) in after.sorted(by: { $0.key < $1.key }) {
            if let previous = before[identity] {
                if previous.version != entry.version { changed.append((previous, entry)) }
            } else {
                added.append(entry)
            }
        }
        removed = before.filter { after[$0.key] == nil }.map(\.value).sorted { $0.identity < $1.identity }
        var oldHashes: [String: [String: String]] = [:]
        for f in old.files { oldHashes[f.path] = f.hashes }
        for f in new.files {
            guard let previous = oldHashes[f.path] else { continue }
            if f.hashes.contains(where: { alg, value in previous[alg].map { $0 != value } ?? false }) {
                changedFileHashes.append(f.path)
            }
        }
        changedFileHashes.sort()
    }

    /// The identity of a component: its purl without version, qualifiers and subpath, else its name.
    static func identity(_ c: SBOMComponent) -> String {
        if let purl = c.purl {
            var base = Substring(purl)
            if let q = base.firstIndex(where: { $0 == "?" || $0 == "#" }) { base = base[..<q] }
            if let at = base.lastIndex(of: "@"), at > base.startIndex, base[base.index(before: at)] != "/" { base = base[..<at] }
            return String(base).lowercased()
        }
        return "name:" + c.name.lowercased()
    }

    static func entries(_ doc: SBOMDocument) -> [String: Entry] {
        var out: [String: Entry] = [:]
        for c in doc.components where c.type != "file" {
            let id = identity(c)
            out[id] = Entry(identity: id, name: c.name, version: c.version, isDirect: c.isDirect)
        }
        return out
    }

    /// What `--fail-on` can fail on.
    public enum Failure: String, CaseIterable, Sendable { case new, newTransitive = "new-transitive", changed }

    /// Whether the diff contains anything of the given kind.
    public func has(_ failure: Failure) -> Bool {
        switch failure {
        case .new: !added.isEmpty
        case .newTransitive: !newTransitive.isEmpty
        case .changed: !changed.isEmpty || !changedFileHashes.isEmpty
        }
    }
}
