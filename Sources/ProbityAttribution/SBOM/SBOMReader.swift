import Foundation
import ProbityEvents
import Yams

/// Reads CycloneDX (JSON 1.2–1.7, XML 1.1–1.6), SPDX 2.x (JSON, YAML, tag-value) and SPDX 3
/// JSON-LD. The format is detected from the content. Documents are read leniently: whatever is
/// wrong but skippable becomes a ``SBOMProblem`` with its place, never a silent omission; what
/// cannot be read at all is an ``SBOMError`` naming the file and the place.
public enum SBOMReader {
    /// Files larger than this are refused.
    public static let defaultSizeLimit = 512 << 20

    public static func read(contentsOf path: String, sizeLimit: Int = defaultSizeLimit) throws(SBOMError) -> SBOMDocument {
        // POSIX reads, so that the reason is the system's: a missing file, a directory, no
        // permission; an empty file (or /dev/null) is told apart from a malformed one.
        let bytes: [UInt8]
        do {
            bytes = try FileContents.read(path, limit: sizeLimit)
        } catch {
            throw SBOMError(file: path, place: nil, message: error.message)
        }
        guard !bytes.isEmpty else {
            throw SBOMError(file: path, place: nil, message: "is empty (0 bytes): not an SBOM")
        }
        return try read(data: Data(bytes), source: path)
    }

    public static func read(data: Data, source: String) throws(SBOMError) -> SBOMDocument {
        // The common case, UTF-8 JSON, goes to the JSON decoders without a String round trip.
        var body = data[...]
        if body.starts(with: [0xef, 0xbb, 0xbf]) { body = body.dropFirst(3) }
        let first = body.first { !($0 == 0x20 || $0 == 0x0a || $0 == 0x0d || $0 == 0x09) }
        let text = first == UInt8(ascii: "{") || first == UInt8(ascii: "[") ? "" : decodeText(data)
        let trimmed = text.drop { $0.isWhitespace }
        if first == UInt8(ascii: "{") || first == UInt8(ascii: "[") || trimmed.hasPrefix("{") || trimmed.hasPrefix("[") {
            let utf8 = text.isEmpty ? Data(body) : Data(text.utf8)
            let head = utf8.prefix(1 << 16)
            if head.range(of: Data("\"spdxVersion\"".utf8)) != nil, let document = SPDXFastJSON.read(utf8) {
                return document
            }
            if head.range(of: Data("\"CycloneDX\"".utf8)) != nil, head.range(of: Data("\"bomFormat\"".utf8)) != nil,
               let document = CycloneDXJSON.decode(utf8) {
                return document
            }
            let object: Any
            do {
                object = try JSONSerialization.jsonObject(with: utf8, options: [.fragmentsAllowed])
            } catch {
                throw SBOMError(file: source, place: jsonErrorPlace(error), message: "not valid JSON")
            }
            guard let dict = object as? [String: Any] else {
                throw SBOMError(file: source, place: "/", message: "not an SBOM: the document is a JSON \(object is [Any] ? "array" : "value"), not a CycloneDX or SPDX object")
            }
            if let format = dict["bomFormat"] as? String, format == "CycloneDX" {
                return CycloneDXJSON.read(dict)
            }
            if dict["spdxVersion"] != nil { return try SPDX2.read(dict, format: .spdxJSON, source: source) }
            if let context = dict["@context"], "\(context)".contains("spdx.org/rdf/3") {
                return SPDX3.read(dict)
            }
            throw SBOMError(file: source, place: "/", message: "not an SBOM: neither \"bomFormat\": \"CycloneDX\" nor \"spdxVersion\" nor an SPDX 3 \"@context\"")
        }
        if trimmed.hasPrefix("<") {
            return try CycloneDXXML.read(Data(text.utf8), source: source)
        }
        if text.range(of: "SPDXVersion:") != nil {
            return try SPDXTagValue.read(text, source: source)
        }
        if text.range(of: "spdxVersion:") != nil {
            let root: Node?
            do {
                root = try Yams.compose(yaml: text)
            } catch {
                throw SBOMError(file: source, place: nil, message: "not valid YAML: \(error)")
            }
            guard let dict = try root.map({ (node) throws(SBOMError) in try yamlValue(node, source: source) }) as? [String: Any] else {
                throw SBOMError(file: source, place: nil, message: "not an SBOM: the YAML document is not a mapping")
            }
            return try SPDX2.read(dict, format: .spdxYAML, source: source)
        }
        throw SBOMError(file: source, place: nil, message: "not an SBOM: no CycloneDX or SPDX document recognised")
    }

    /// A YAML node as the JSON reader's values (`[String: Any]`, `[Any]`, scalars). Not Yams'
    /// `load`, which traps on a mapping key that is not a scalar (`? {a: b}: c`, found by fuzzing):
    /// such a key is an error naming its place.
    static func yamlValue(_ node: Node, source: String, depth: Int = 0) throws(SBOMError) -> Any {
        func place(_ node: Node) -> String? { node.mark.map { "line \($0.line), column \($0.column)" } }
        guard depth < 256 else { throw SBOMError(file: source, place: place(node), message: "YAML nested more than 256 deep") }
        switch node {
        case .scalar:
            return node.any
        case .mapping(let mapping):
            var object: [String: Any] = [:]
            for (key, value) in mapping {
                guard case .scalar(let scalar) = key else {
                    throw SBOMError(file: source, place: place(key), message: "a YAML mapping key that is not a string")
                }
                object[scalar.string] = try yamlValue(value, source: source, depth: depth + 1)
            }
            return object
        case .sequence(let sequence):
            var array: [Any] = []
            for item in sequence { array.append(try yamlValue(item, source: source, depth: depth + 1)) }
            return array
        case .alias:
            throw SBOMError(file: source, place: place(node), message: "a YAML alias that was not resolved")
        }
    }

    /// UTF-8 (with or without a byte-order mark) or UTF-16 with a byte-order mark.
    static func decodeText(_ data: Data) -> String {
        let bytes = [UInt8](data.prefix(2))
        if bytes == [0xff, 0xfe] || bytes == [0xfe, 0xff] {
            if let s = String(data: data, encoding: .utf16) { return s }
        }
        var text = String(decoding: data, as: UTF8.self)
        if text.hasPrefix("\u{FEFF}") { text.removeFirst() }
        return text
    }

    /// "line L, column C" (or a character offset) from Foundation's JSON error.
    static func jsonErrorPlace(_ error: Error) -> String {
        let description = (error as NSError).userInfo[NSDebugDescriptionErrorKey] as? String ?? "\(error)"
        if let range = description.range(of: "line ") {
            return String(description[range.lowerBound...]).trimmingCharacters(in: CharacterSet(charactersIn: ". "))
        }
        if let range = description.range(of: "character ") {
            return String(description[range.lowerBound...]).trimmingCharacters(in: CharacterSet(charactersIn: ". "))
        }
        return description
    }

    /// A hash value worth keeping: hex, and not syft's all-zero placeholder.
    static func usableHash(_ value: String) -> String? {
        // The common case, already lowercase hex with no spaces, is checked on the bytes and kept
        // as it is (no new string).
        var clean = true, nonZero = false
        for byte in value.utf8 {
            switch byte {
            case UInt8(ascii: "0"): continue
            case UInt8(ascii: "1")...UInt8(ascii: "9"), UInt8(ascii: "a")...UInt8(ascii: "f"): nonZero = true
            default: clean = false
            }
            if !clean { break }
        }
        if clean { return nonZero ? value : nil }
        let v = value.lowercased().trimmingCharacters(in: .whitespaces)
        guard !v.isEmpty, v.allSatisfy({ $0.isHexDigit }), v.contains(where: { $0 != "0" }) else { return nil }
        return v
    }

    /// Marks components direct (depended on by a root) or transitive (reachable only through
    /// others); leaves nil when the document has no graph. Cycles are fine.
    static func classify(_ doc: inout SBOMDocument) {
        guard !doc.dependencies.isEmpty, !doc.rootRefs.isEmpty else { return }
        var direct = Set<String>()
        for root in doc.rootRefs { direct.formUnion(doc.dependencies[root] ?? []) }
        var reachable = direct
        var queue = Array(direct)
        while let next = queue.popLast() {
            for dep in doc.dependencies[next] ?? [] where reachable.insert(dep).inserted { queue.append(dep) }
        }
        for i in doc.components.indices {
            guard let ref = doc.components[i].ref else { continue }
            if direct.contains(ref) { doc.components[i].isDirect = true } else if reachable.contains(ref) { doc.components[i].isDirect = false }
        }
    }

    /// Problems for refs in the graph that name no component.
    static func checkDangling(_ doc: inout SBOMDocument, known: Set<String>, place: String) {
        var reported = Set<String>()
        for (from, tos) in doc.dependencies.sorted(by: { $0.key < $1.key }) {
            for ref in [from] + tos where !known.contains(ref) && !doc.rootRefs.contains(ref) && reported.insert(ref).inserted {
                doc.problems.append(SBOMProblem(place: place, message: "dependency ref \"\(ref)\" names no component"))
            }
        }
    }
}
