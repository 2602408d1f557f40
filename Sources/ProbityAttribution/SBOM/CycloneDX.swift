import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif

/// CycloneDX JSON as typed structs. `JSONDecoder` decodes straight into them (fast); a document
/// that does not fit them makes the decode throw, and ``read(_:)`` builds the same structs from
/// the untyped tree element by element, reporting what it had to skip with its JSON pointer.
/// Both end in ``build``.
enum CycloneDXJSON {
    struct Bom: Decodable {
        var specVersion: String?
        var metadata: Metadata?
        var components: [Component]?
        var dependencies: [Dependency]?
    }
    struct Metadata: Decodable {
        var component: Root?
    }
    struct Root: Decodable {
        var bomRef: String?
        enum CodingKeys: String, CodingKey { case bomRef = "bom-ref" }
    }
    struct Component: Decodable {
        var type: String?
        var name: String
        var version: String?
        var purl: String?
        var bomRef: String?
        var supplier: Supplier?
        var publisher: String?
        var author: String?
        var hashes: [Hash]?
        var evidence: Evidence?
        var properties: [Property]?
        var components: [Component]?
        /// Where the lenient reader found it (its JSON pointer), when it skipped elements before it.
        var pointer: String? = nil
        enum CodingKeys: String, CodingKey {
            case type, name, version, purl, supplier, publisher, author, hashes, evidence, properties, components
            case bomRef = "bom-ref"
        }
    }
    struct Supplier: Decodable { var name: String? }
    struct Hash: Decodable { var alg: String; var content: String }
    struct Evidence: Decodable { var occurrences: [Occurrence]? }
    struct Occurrence: Decodable { var location: String? }
    struct Property: Decodable { var name: String; var value: String? }
    struct Dependency: Decodable { var ref: String; var dependsOn: [String]? }

    /// The typed fast path: nil when the document does not fit the types.
    static func decode(_ data: Data) -> SBOMDocument? {
        guard let bom = try? JSONDecoder().decode(Bom.self, from: data) else { return nil }
        return build(bom, problems: [])
    }

    /// The lenient path, from an untyped tree.
    static func read(_ dict: [String: Any]) -> SBOMDocument {
        var problems: [SBOMProblem] = []
        var bom = Bom(specVersion: dict["specVersion"] as? String)
        if let ref = ((dict["metadata"] as? [String: Any])?["component"] as? [String: Any])?["bom-ref"] as? String {
            bom.metadata = Metadata(component: Root(bomRef: ref))
        }
        if let list = dict["components"] { bom.components = components(list, pointer: "/components", problems: &problems) }
        if let deps = dict["dependencies"] {
            if let array = deps as? [Any] {
                bom.dependencies = array.enumerated().compactMap { i, entry in
                    guard let d = entry as? [String: Any], let ref = d["ref"] as? String, !ref.isEmpty else {
                        problems.append(SBOMProblem(place: "/dependencies/\(i)", message: "an entry without a \"ref\" string"))
                        return nil
                    }
                    return Dependency(ref: ref, dependsOn: (d["dependsOn"] as? [Any])?.compactMap { $0 as? String })
                }
            } else {
                problems.append(SBOMProblem(place: "/dependencies", message: "expected an array"))
            }
        }
        return build(bom, problems: problems)
    }

    private static func components(_ value: Any, pointer: String, problems: inout [SBOMProblem]) -> [Component] {
        guard let list = value as? [Any] else {
            problems.append(SBOMProblem(place: pointer, message: "expected an array of components"))
            return []
        }
        var out: [Component] = []
        for (i, item) in list.enumerated() {
            let here = "\(pointer)/\(i)"
            guard let c = item as? [String: Any] else {
                problems.append(SBOMProblem(place: here, message: "expected a component object"))
                continue
            }
            let nested = c["components"].map { components($0, pointer: here + "/components", problems: &problems) }
            guard let name = c["name"] as? String else {
                problems.append(SBOMProblem(place: here + "/name", message: "a component without a \"name\" string; skipped"))
                out += nested ?? []  // its children are still components of the document
                continue
            }
            let hashes = ((c["hashes"] as? [Any]) ?? []).enumerated().compactMap { j, h -> Hash? in
                guard let h = h as? [String: Any], let alg = h["alg"] as? String, let content = h["content"] as? String else {
                    problems.append(SBOMProblem(place: "\(here)/hashes/\(j)", message: "a hash without \"alg\" and \"content\" strings"))
                    return nil
                }
                return Hash(alg: alg, content: content)
            }
            let occurrences = ((c["evidence"] as? [String: Any])?["occurrences"] as? [Any])?.map {
                Occurrence(location: ($0 as? [String: Any])?["location"] as? String)
            }
            let properties = ((c["properties"] as? [Any]) ?? []).compactMap { p -> Property? in
                guard let p = p as? [String: Any], let key = p["name"] as? String else { return nil }
                return Property(name: key, value: p["value"] as? String)
            }
            out.append(Component(
                type: c["type"] as? String, name: name, version: c["version"] as? String, purl: c["purl"] as? String,
                bomRef: c["bom-ref"] as? String, supplier: (c["supplier"] as? [String: Any]).map { Supplier(name: $0["name"] as? String) },
                publisher: c["publisher"] as? String, author: c["author"] as? String, hashes: hashes,
                evidence: occurrences.map { Evidence(occurrences: $0) }, properties: properties, components: nested,
                pointer: here))
        }
        return out
    }

    /// The ``SBOMDocument`` of a typed CycloneDX document.
    static func build(_ bom: Bom, problems: [SBOMProblem]) -> SBOMDocument {
        var doc = SBOMDocument(format: .cycloneDXJSON, specVersion: bom.specVersion ?? "?")
        doc.problems = problems
        if let ref = bom.metadata?.component?.bomRef { doc.rootRefs.append(ref) }
        var refs = Set<String>()
        add(bom.components ?? [], pointer: "/components", doc: &doc, refs: &refs)
        if let deps = bom.dependencies {
            for d in deps { doc.dependencies[d.ref, default: []].append(contentsOf: d.dependsOn ?? []) }
            SBOMReader.checkDangling(&doc, known: refs, place: "/dependencies")
        }
        SBOMReader.classify(&doc)
        return doc
    }

    private static func add(_ list: [Component], pointer: String, doc: inout SBOMDocument, refs: inout Set<String>) {
        for (i, c) in list.enumerated() {
            let here = c.pointer ?? "\(pointer)/\(i)"
            var component = SBOMComponent(
                ref: c.bomRef, name: c.name, version: c.version.flatMap { $0.isEmpty ? nil : $0 }, purl: c.purl, type: c.type,
                supplier: c.supplier?.name ?? c.publisher ?? c.author)
            if let ref = component.ref {
                if ref.isEmpty {
                    doc.problems.append(SBOMProblem(place: here + "/bom-ref", message: "an empty bom-ref"))
                    component.ref = nil
                } else if !refs.insert(ref).inserted {
                    doc.problems.append(SBOMProblem(place: here + "/bom-ref", message: "duplicate bom-ref \"\(ref)\""))
                }
            }
            for (j, h) in (c.hashes ?? []).enumerated() {
                if let v = SBOMReader.usableHash(h.content) { component.hashes[h.alg] = v } else {
                    doc.problems.append(SBOMProblem(place: "\(here)/hashes/\(j)/content", message: "unusable hash value (empty, not hex, or all zeros)"))
                }
            }
            component.paths += (c.evidence?.occurrences ?? []).compactMap(\.location)
            component.paths += (c.properties ?? []).compactMap { isPathProperty($0.name) ? $0.value : nil }
            doc.components.append(component)
            if component.type == "file" {
                doc.files.append(SBOMFile(ref: component.ref, path: c.name, hashes: component.hashes, ownerRef: nil))
            }
            if let nested = c.components { add(nested, pointer: here + "/components", doc: &doc, refs: &refs) }
        }
    }

    /// Generator properties that carry a file path of the component.
    static func isPathProperty(_ name: String) -> Bool {
        (name.hasPrefix("syft:location:") && name.hasSuffix(":path")) || name == "cdx:npm:package:path"
    }
}

/// CycloneDX XML, parsed into a small element tree, then read as the JSON form is.
enum CycloneDXXML {
    final class Element {
        let name: String
        let attributes: [String: String]
        var text = ""
        var children: [Element] = []
        let line: Int
        init(name: String, attributes: [String: String], line: Int) {
            self.name = name
            self.attributes = attributes
            self.line = line
        }
        func child(_ n: String) -> Element? { children.first { $0.name == n } }
        func all(_ n: String) -> [Element] { children.filter { $0.name == n } }
        var value: String { text.trimmingCharacters(in: .whitespacesAndNewlines) }
    }

    final class TreeBuilder: NSObject, XMLParserDelegate {
        var stack: [Element] = []
        var root: Element?
        weak var parser: XMLParser?

        func parser(_ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?,
                    attributes: [String: String] = [:]) {
            let local = name.split(separator: ":").last.map(String.init) ?? name
            var attrs = attributes
            if let namespaceURI { attrs["xmlns"] = namespaceURI }
            let e = Element(name: local, attributes: attrs, line: parser.lineNumber)
            stack.last?.children.append(e)
            if root == nil { root = e }
            stack.append(e)
        }
        func parser(_ parser: XMLParser, didEndElement name: String, namespaceURI: String?, qualifiedName: String?) {
            _ = stack.popLast()
        }
        func parser(_ parser: XMLParser, foundCharacters string: String) { stack.last?.text += string }
        func parser(_ parser: XMLParser, foundCDATA block: Data) { stack.last?.text += String(decoding: block, as: UTF8.self) }
    }

    /// What Foundation's XMLParser (swift-corelibs-foundation) cannot be given: a processing
    /// instruction without data, `<?name?>`, for which libxml2 passes a NULL that the parser hands
    /// to strlen (a crash, found by fuzzing); and a DOCTYPE, whose entities could produce one
    /// (CycloneDX documents have none). Nil when the bytes are safe to parse.
    static func unsafeForXMLParser(_ data: Data) -> (place: String, message: String)? {
        let bytes = [UInt8](data)
        var line = 1, lineStart = 0
        for i in bytes.indices {
            if bytes[i] == UInt8(ascii: "\n") { line += 1; lineStart = i + 1; continue }
            guard bytes[i] == UInt8(ascii: "<"), i + 1 < bytes.count else { continue }
            let place = "line \(line), column \(i - lineStart + 1)"
            if bytes[i + 1] == UInt8(ascii: "!"), bytes[(i + 1)...].starts(with: Array("!DOCTYPE".utf8)) {
                return (place, "a DOCTYPE: CycloneDX documents have none, and its entities are not expanded here")
            }
            guard bytes[i + 1] == UInt8(ascii: "?") else { continue }
            var end = i + 2
            while end < bytes.count, !" \t\r\n?>".utf8.contains(bytes[end]) { end += 1 }
            if end > i + 2, end + 1 < bytes.count, bytes[end] == UInt8(ascii: "?"), bytes[end + 1] == UInt8(ascii: ">") {
                let name = String(decoding: bytes[(i + 2)..<end], as: UTF8.self)
                return (place, "a processing instruction without data (<?\(name)?>), which Foundation's XML parser cannot read")
            }
        }
        return nil
    }

    static func read(_ data: Data, source: String) throws(SBOMError) -> SBOMDocument {
        if let (place, message) = unsafeForXMLParser(data) { throw SBOMError(file: source, place: place, message: "not read: \(message)") }
        let parser = XMLParser(data: data)
        parser.shouldProcessNamespaces = true
        let builder = TreeBuilder()
        parser.delegate = builder
        if !parser.parse() {
            throw SBOMError(
                file: source, place: "line \(parser.lineNumber), column \(parser.columnNumber)",
                message: "not well-formed XML: \(parser.parserError.map { "\($0.localizedDescription)" } ?? "parse error")")
        }
        guard let bom = builder.root, bom.name == "bom", let ns = bom.attributes["xmlns"], ns.contains("cyclonedx.org/schema/bom") else {
            throw SBOMError(file: source, place: "line 1", message: "not an SBOM: the root element is not a CycloneDX <bom>")
        }
        var doc = SBOMDocument(format: .cycloneDXXML, specVersion: ns.split(separator: "/").last.map(String.init) ?? "?")
        if let ref = bom.child("metadata")?.child("component")?.attributes["bom-ref"] { doc.rootRefs.append(ref) }
        var refs = Set<String>()
        if let components = bom.child("components") { walk(components, doc: &doc, refs: &refs) }
        if let deps = bom.child("dependencies") {
            for d in deps.all("dependency") {
                guard let ref = d.attributes["ref"], !ref.isEmpty else {
                    doc.problems.append(SBOMProblem(place: "line \(d.line)", message: "a <dependency> without a ref"))
                    continue
                }
                doc.dependencies[ref, default: []].append(contentsOf: d.all("dependency").compactMap { $0.attributes["ref"] })
            }
            SBOMReader.checkDangling(&doc, known: refs, place: "<dependencies>")
        }
        SBOMReader.classify(&doc)
        return doc
    }

    private static func walk(_ list: Element, doc: inout SBOMDocument, refs: inout Set<String>) {
        for c in list.all("component") {
            guard let name = c.child("name")?.value, !name.isEmpty else {
                doc.problems.append(SBOMProblem(place: "line \(c.line)", message: "a <component> without a <name>; skipped"))
                if let nested = c.child("components") { walk(nested, doc: &doc, refs: &refs) }
                continue
            }
            var component = SBOMComponent(
                ref: c.attributes["bom-ref"], name: name, version: c.child("version")?.value, purl: c.child("purl")?.value,
                type: c.attributes["type"], supplier: c.child("supplier")?.child("name")?.value ?? c.child("publisher")?.value)
            if component.version?.isEmpty == true { component.version = nil }
            if let ref = component.ref, !refs.insert(ref).inserted {
                doc.problems.append(SBOMProblem(place: "line \(c.line)", message: "duplicate bom-ref \"\(ref)\""))
            }
            for h in c.child("hashes")?.all("hash") ?? [] {
                if let alg = h.attributes["alg"], let v = SBOMReader.usableHash(h.value) { component.hashes[alg] = v } else {
                    doc.problems.append(SBOMProblem(place: "line \(h.line)", message: "unusable <hash>"))
                }
            }
            for o in c.child("evidence")?.child("occurrences")?.all("occurrence") ?? [] {
                if let location = o.child("location")?.value { component.paths.append(location) }
            }
            for p in c.child("properties")?.all("property") ?? [] {
                if let key = p.attributes["name"], CycloneDXJSON.isPathProperty(key) { component.paths.append(p.value) }
            }
            doc.components.append(component)
            if component.type == "file" {
                doc.files.append(SBOMFile(ref: component.ref, path: name, hashes: component.hashes, ownerRef: nil))
            }
            if let nested = c.child("components") { walk(nested, doc: &doc, refs: &refs) }
        }
    }
}
