/// A package installed on this machine, as a package database or an SBOM describes it.
public struct InstalledPackage: Sendable, Hashable {
    /// Where the knowledge of this package came from.
    public enum Source: String, Sendable, Hashable, CaseIterable {
        case sbom, dpkg, pip, npm
    }

    /// The package's name (`libc6`, `requests`, `@scope/name`).
    public var name: String
    public var version: String?
    /// `deb`, `pypi`, `npm`, ... (the purl type).
    public var ecosystem: String
    public var purl: String?
    public var source: Source
    /// dpkg's qualified name when it has one (`libc6:amd64`), as `dpkg -S` prints it.
    public var qualifiedName: String
    /// The package's own directory (a `node_modules/NAME` or a `site-packages` package), if it has one.
    public var root: String?
    /// Whether the project depends on it directly (true), only through others (false), or
    /// unknown (nil): from an SBOM's graph or a lock file.
    public var isDirect: Bool?

    public init(
        name: String, version: String?, ecosystem: String, purl: String? = nil, source: Source,
        qualifiedName: String? = nil, root: String? = nil, isDirect: Bool? = nil
    ) {
        self.isDirect = isDirect
        self.name = name
        self.version = version
        self.ecosystem = ecosystem
        self.purl = purl ?? Self.makePurl(ecosystem: ecosystem, name: name, version: version)
        self.source = source
        self.qualifiedName = qualifiedName ?? name
        self.root = root
    }

    /// `pkg:TYPE/NAME@VERSION`, with an npm scope as the namespace.
    static func makePurl(ecosystem: String, name: String, version: String?) -> String {
        var encodedName = name
        if ecosystem == "npm", name.hasPrefix("@") { encodedName = "%40" + name.dropFirst() }
        if ecosystem == "pypi" { encodedName = String(name.lowercased().map { $0 == "_" || $0 == "." ? "-" : $0 }) }
        return "pkg:\(ecosystem)/\(encodedName)" + (version.map { "@\($0)" } ?? "")
    }
}

/// A recorded content hash of a file (for integrity checks).
public struct FileHash: Sendable, Hashable {
    public enum Algorithm: String, Sendable, Hashable { case md5, sha1, sha256, sha512 }
    public var algorithm: Algorithm
    /// Lower-case hex.
    public var hex: String
}

/// An error reading a package database, naming the file and the place.
public struct PackageDatabaseError: Error, CustomStringConvertible, Sendable {
    public var file: String
    public var line: Int?
    public var message: String

    public var description: String { "\(file)\(line.map { ":\($0)" } ?? ""): \(message)" }
}

