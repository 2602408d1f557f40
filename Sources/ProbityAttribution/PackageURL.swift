/// A package URL (purl, https://github.com/package-url/purl-spec) read into its components and
/// written back in the spec's canonical form, so that two spellings of one package compare equal:
/// `pkg:deb/debian/libstdc++6@12` and `pkg:DEB/debian/libstdc%2B%2B6@12` are the same package.
///
/// Canonical form: the type lowercased; namespace segments, name, version, qualifier values and
/// subpath segments percent-decoded, then percent-encoded again with only letters, digits,
/// `.-_~` and `:` left as they are; qualifier keys lowercased, sorted, empty values dropped;
/// empty, `.` and `..` subpath segments dropped. Per-type rules of the spec's type definitions:
/// npm, deb, apk, alpm, github, bitbucket, gitlab, composer, hex, luarocks, qpkg and pub names
/// (and namespaces) are not case-sensitive and are lowercased; a pypi name has runs of `-`, `_`
/// and `.` replaced by one `-` and is lowercased (PEP 503), and its version is lowercased.
///
/// Input comes from SBOMs written by anyone: a purl longer than ``maximumLength`` bytes, with a
/// control character, a bad percent escape, an escape that decodes to NUL or to bytes that are not
/// UTF-8, or without type or name is refused with an ``Invalid`` error saying why.
public struct PackageURL: Sendable, Hashable, CustomStringConvertible {
    public var type: String
    /// Namespace segments, decoded (`@angular` for `pkg:npm/%40angular/core`).
    public var namespace: [String]
    public var name: String
    public var version: String?
    /// Keys lowercased, values decoded; sorted by key.
    public var qualifiers: [(key: String, value: String)]
    /// Subpath segments, decoded.
    public var subpath: [String]

    /// Longer purls are refused (no real one comes near it).
    public static let maximumLength = 4096

    /// Why a text is not a purl.
    public struct Invalid: Error, Sendable, Hashable, CustomStringConvertible {
        public var reason: String
        public var description: String { reason }
    }

    public init(parsing text: String) throws(Invalid) {
        let utf8 = Array(text.utf8)
        guard utf8.count <= Self.maximumLength else {
            throw Invalid(reason: "too long (\(utf8.count) bytes; at most \(Self.maximumLength))")
        }
        if let control = utf8.firstIndex(where: { $0 < 0x20 || $0 == 0x7F }) {
            throw Invalid(reason: "control character 0x\(String(utf8[control], radix: 16)) at byte \(control + 1)")
        }
        guard text.utf8.count >= 4, text.prefix(4).lowercased() == "pkg:" else { throw Invalid(reason: "does not start with pkg:") }
        var rest = Substring(text.dropFirst(4))
        while rest.hasPrefix("/") { rest = rest.dropFirst() }  // `pkg://type/...` is tolerated

        // Split from the right: #subpath, then ?qualifiers.
        subpath = []
        if let hash = rest.firstIndex(of: "#") {
            for segment in rest[rest.index(after: hash)...].split(separator: "/") {
                let decoded = try Self.decode(segment, "subpath")
                if !decoded.isEmpty && decoded != "." && decoded != ".." { subpath.append(decoded) }
            }
            rest = rest[..<hash]
        }
        var qualifiers: [String: String] = [:]
        if let question = rest.firstIndex(of: "?") {
            for pair in rest[rest.index(after: question)...].split(separator: "&") {
                guard let equals = pair.firstIndex(of: "=") else { throw Invalid(reason: "qualifier without `=`: \(Self.excerpt(pair))") }
                let key = pair[..<equals].lowercased()
                guard !key.isEmpty, key.utf8.allSatisfy({ Self.isKeyByte($0) }), !(key.first?.isNumber ?? false) else {
                    throw Invalid(reason: "bad qualifier key `\(Self.excerpt(Substring(key)))`")
                }
                guard qualifiers[key] == nil else { throw Invalid(reason: "qualifier `\(key)` given twice") }
                let value = try Self.decode(pair[pair.index(after: equals)...], "qualifier `\(key)`")
                if !value.isEmpty { qualifiers[key] = value }
            }
            rest = rest[..<question]
        }
        self.qualifiers = qualifiers.sorted { $0.key < $1.key }.map { (key: $0.key, value: $0.value) }

        // type/namespace.../name@version
        while rest.hasSuffix("/") { rest = rest.dropLast() }
        guard let slash = rest.firstIndex(of: "/") else { throw Invalid(reason: "no name after the type") }
        let type = rest[..<slash].lowercased()
        guard let first = type.utf8.first, (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(first),
              type.utf8.allSatisfy({ Self.isTypeByte($0) }) else {
            throw Invalid(reason: "bad type `\(Self.excerpt(Substring(type)))`")
        }
        self.type = type
        var path = rest[rest.index(after: slash)...]
        // The version follows the last `@` that does not start a segment (an npm scope written
        // unencoded, `@angular/core`, is a namespace, not a version).
        version = nil
        if let at = path.lastIndex(of: "@"), at != path.startIndex, path[path.index(before: at)] != "/" {
            let written = path[path.index(after: at)...]
            version = written.isEmpty ? nil : try Self.decode(written, "version")
            path = path[..<at]
        }
        var segments = try path.split(separator: "/").map { s throws(Invalid) in try Self.decode(s, "namespace or name") }
        segments.removeAll { $0.isEmpty }
        guard let name = segments.popLast() else { throw Invalid(reason: "no name") }
        self.name = name
        namespace = segments
        normalise()
    }

    /// The per-type rules of the spec's type definitions.
    mutating func normalise() {
        if Self.caseInsensitiveNames.contains(type) { name = name.lowercased() }
        if Self.caseInsensitiveNamespaces.contains(type) { namespace = namespace.map { $0.lowercased() } }
        if type == "pypi" {
            var normalised = ""
            var lastWasSeparator = false
            for character in name.lowercased() {
                let separator = character == "-" || character == "_" || character == "."
                if separator { if !lastWasSeparator { normalised.append("-") } } else { normalised.append(character) }
                lastWasSeparator = separator
            }
            name = normalised
            version = version?.lowercased()
        }
    }

    static let caseInsensitiveNames: Set<String> = [
        "alpm", "apk", "bitbucket", "bitnami", "composer", "deb", "github", "gitlab", "hex", "luarocks", "npm", "pub", "pypi", "qpkg",
    ]
    static let caseInsensitiveNamespaces: Set<String> = [
        "alpm", "apk", "bitbucket", "composer", "deb", "github", "gitlab", "hex", "luarocks", "npm", "qpkg",
    ]

    /// `pkg:type/namespace/name`: the package whatever its version, qualifiers and subpath.
    public var identity: String {
        "pkg:" + type + "/" + (namespace + [name]).map(Self.encode).joined(separator: "/")
    }

    /// The canonical purl.
    public var canonical: String {
        var text = identity
        if let version { text += "@" + Self.encode(version) }
        if !qualifiers.isEmpty { text += "?" + qualifiers.map { "\($0.key)=\(Self.encode($0.value))" }.joined(separator: "&") }
        if !subpath.isEmpty { text += "#" + subpath.map(Self.encode).joined(separator: "/") }
        return text
    }

    public var description: String { canonical }

    public static func == (a: PackageURL, b: PackageURL) -> Bool { a.canonical == b.canonical }
    public func hash(into hasher: inout Hasher) { hasher.combine(canonical) }

    // MARK: percent-encoding

    static func isUnreserved(_ b: UInt8) -> Bool {
        switch b {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
            UInt8(ascii: "."), UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "~"), UInt8(ascii: ":"):
            true
        default: false
        }
    }

    static func isTypeByte(_ b: UInt8) -> Bool {
        isUnreserved(b) && b != UInt8(ascii: "_") && b != UInt8(ascii: "~") && b != UInt8(ascii: ":") || b == UInt8(ascii: "+")
    }

    static func isKeyByte(_ b: UInt8) -> Bool {
        isUnreserved(b) && b != UInt8(ascii: "~") && b != UInt8(ascii: ":")
    }

    /// Percent-encodes everything but letters, digits, `.-_~` and `:`.
    static func encode(_ text: String) -> String {
        let hex = Array("0123456789ABCDEF".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(text.utf8.count)
        for b in text.utf8 {
            if isUnreserved(b) {
                out.append(b)
            } else {
                out += [UInt8(ascii: "%"), hex[Int(b >> 4)], hex[Int(b & 15)]]
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Decodes `%XX` escapes; a `%` without two hex digits, an escaped NUL or a result that is
    /// not UTF-8 is refused.
    static func decode(_ text: Substring, _ what: String) throws(Invalid) -> String {
        guard text.utf8.contains(UInt8(ascii: "%")) else { return String(text) }
        var out: [UInt8] = []
        let bytes = Array(text.utf8)
        var i = 0
        while i < bytes.count {
            if bytes[i] == UInt8(ascii: "%") {
                guard i + 2 < bytes.count, let high = hexValue(bytes[i + 1]), let low = hexValue(bytes[i + 2]) else {
                    throw Invalid(reason: "bad percent escape in the \(what) at `\(excerpt(Substring(String(decoding: bytes[i...].prefix(3), as: UTF8.self))))`")
                }
                let byte = high << 4 | low
                guard byte != 0 else { throw Invalid(reason: "%00 (NUL) in the \(what)") }
                out.append(byte)
                i += 3
            } else {
                out.append(bytes[i])
                i += 1
            }
        }
        guard let decoded = String(validating: out, as: UTF8.self) else { throw Invalid(reason: "the \(what) is not UTF-8 once decoded") }
        return decoded
    }

    static func hexValue(_ b: UInt8) -> UInt8? {
        switch b {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): b - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): b - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): b - UInt8(ascii: "A") + 10
        default: nil
        }
    }

    /// At most 40 characters of `text`, for messages.
    static func excerpt(_ text: Substring) -> String { text.count > 40 ? text.prefix(40) + "…" : String(text) }
}
