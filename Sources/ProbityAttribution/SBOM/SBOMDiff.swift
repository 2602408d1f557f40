/// What changed between two SBOMs of the same thing (`probity sbom diff OLD NEW`).
public struct SBOMDiff: Sendable {
    /// A package as compared: its identity without the version (purl type/namespace/name, or
    /// the name), and its version.
    public struct Entry: Sendable, Hashable {
        public var identity: String
        public var name: String
        public var version: String?
        public var isDirect: Bool?
        /// The purl type (`deb`, `npm`, `pypi`, ...), when there is a readable purl.
        public var ecosystem: String?
        /// The purl in canonical form (as written when it is not a valid purl).
        public var purl: String?
    }

    /// Components whose purl is not a valid one: compared by the purl as written.
    public var problems: [String] = []

    public var added: [Entry] = []
    public var removed: [Entry] = []
    /// Same identity, another version: (old, new).
    public var changed: [(old: Entry, new: Entry)] = []
    /// Added packages that are transitive (reachable only through others) in the new SBOM.
    public var newTransitive: [Entry] { added.filter { $0.isDirect == false } }
    /// Files present in both whose hashes differ (same algorithm, other value).
    public var changedFileHashes: [String] = []

    public init(old: SBOMDocument, new: SBOMDocument) {
        let before = Self.entries(old, "old", &problems), after = Self.entries(new, "new", &problems)
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

    /// A component as compared: identified by its purl in canonical form without version,
    /// qualifiers and subpath (``PackageURL/identity``), else by its name. A purl that is not valid
    /// is opaque: compared as written, and named in `problems`.
    static func entry(_ c: SBOMComponent, _ side: String, _ problems: inout [String]) -> Entry {
        guard let written = c.purl else {
            return Entry(identity: "name:" + c.name.lowercased(), name: c.name, version: c.version, isDirect: c.isDirect)
        }
        do {
            let purl = try PackageURL(parsing: written)
            return Entry(
                identity: purl.identity, name: c.name, version: c.version, isDirect: c.isDirect, ecosystem: purl.type,
                purl: purl.canonical)
        } catch {
            problems.append("\(side) SBOM: component `\(PackageURL.excerpt(Substring(c.name)))`: not a valid purl (\(error)): compared as written")
            return Entry(identity: "opaque:" + written, name: c.name, version: c.version, isDirect: c.isDirect, purl: written)
        }
    }

    static func entries(_ doc: SBOMDocument, _ side: String, _ problems: inout [String]) -> [String: Entry] {
        var out: [String: Entry] = [:]
        for c in doc.components where c.type != "file" {
            let e = entry(c, side, &problems)
            out[e.identity] = e
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
