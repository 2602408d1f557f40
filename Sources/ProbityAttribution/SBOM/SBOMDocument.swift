import Foundation

/// The SBOM formats Probity reads, detected from content (never from the file name).
public enum SBOMFormat: String, Sendable, Hashable {
    case cycloneDXJSON = "CycloneDX JSON"
    case cycloneDXXML = "CycloneDX XML"
    case spdxJSON = "SPDX JSON"
    case spdxYAML = "SPDX YAML"
    case spdxTagValue = "SPDX tag-value"
    case spdx3JSONLD = "SPDX 3 JSON-LD"
}

/// A package or component an SBOM lists.
public struct SBOMComponent: Sendable, Hashable {
    /// `bom-ref` (CycloneDX) or `SPDXID` / `spdxId` (SPDX).
    public var ref: String?
    public var name: String
    public var version: String?
    public var purl: String?
    public var type: String?
    public var supplier: String?
    /// Hashes by algorithm name as written (`SHA-256`, `SHA1`, ...), values lower-case hex.
    public var hashes: [String: String] = [:]
    /// File paths the SBOM gives for the component (evidence occurrences, generator properties).
    public var paths: [String] = []
    /// Whether the root depends on it directly (nil when the SBOM has no dependency graph).
    public var isDirect: Bool?

    /// The purl type (`npm`, `pypi`, `deb`, ...), when there is a purl.
    public var ecosystem: String? {
        guard let purl, purl.hasPrefix("pkg:") else { return nil }
        return purl.dropFirst(4).split(separator: "/").first.map { String($0).lowercased() }
    }
}

/// A file an SBOM lists, with its hashes and (when known) the component that contains it.
public struct SBOMFile: Sendable, Hashable {
    public var ref: String?
    public var path: String
    public var hashes: [String: String] = [:]
    public var ownerRef: String?
}

/// Something an SBOM got wrong that the reader worked around, with its place.
public struct SBOMProblem: Sendable, Hashable, CustomStringConvertible {
    /// A JSON pointer, an XML element path or `line N`.
    public var place: String
    public var message: String
    public var description: String { "\(place): \(message)" }
}

/// A whole SBOM, read.
public struct SBOMDocument: Sendable {
    public var format: SBOMFormat
    public var specVersion: String
    public var components: [SBOMComponent] = []
    public var files: [SBOMFile] = []
    /// ref → refs it depends on.
    public var dependencies: [String: [String]] = [:]
    /// The refs of what the document describes (CycloneDX metadata.component, SPDX DESCRIBES).
    public var rootRefs: [String] = []
    public var problems: [SBOMProblem] = []

    /// Components that are file entries (CycloneDX `type: file`).
    public var fileComponentCount: Int { components.filter { $0.type == "file" }.count }
}

/// Why an SBOM could not be read: the file and the place of the first problem.
public struct SBOMError: Error, CustomStringConvertible, Sendable {
    public var file: String
    public var place: String?
    public var message: String
    public var description: String { "\(file)\(place.map { ": \($0)" } ?? ""): \(message)" }
}
