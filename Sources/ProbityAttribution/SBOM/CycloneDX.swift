import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif

/// CycloneDX JSON: components (recursively), hashes, purls, file paths from evidence and
/// generator properties, the dependency graph.
enum CycloneDXJSON {
    static func read(_ dict: [String: Any]) -> SBOMDocument {
        var doc = SBOMDocument(format: .cycloneDXJSON, specVersion: dict["specVersion"] as? String ?? "?")
        if let root = (dict["metadata"] as? [String: Any])?["component"] as? [String: Any], let ref = root["bom-ref"] as? String {
            doc.rootRefs.append(ref)
        }
        var refs = Set<String>()
        if let list = dict["components"] {
            walk(list, pointer: "/components", doc: &doc, refs: &refs)
        }
        if let deps = dict["dependencies"] {
            guard let array = deps as? [Any] else {
                doc.problems.append(SBOMProblem(place: "/dependencies", message: "expected an array"))
                SBOMReader.classify(&doc)
                return doc
            }
            for (i, entry) in array.enumerated() {
                guard let d = entry as? [String: Any], let ref = d["ref"] as? String, !ref.isEmpty else {
                    doc.problems.append(SBOMProblem(place: "/dependencies/\(i)", message: "an entry without a \"ref\" string"))
                    continue
                }
                let on = (d["dependsOn"] as? [Any])?.compactMap { $0 as? String } ?? []
                doc.dependencies[ref, default: []].append(contentsOf: on)
            }
            SBOMReader.checkDangling(&doc, known: refs, place: "/dependencies")
        }
        SBOMReader.classify(&doc)
        return doc
    }

    private static func walk(_ value: Any, pointer: String, doc: inout SBOMDocument, refs: inout Set<String>) {
        guard let list = value as? [Any] else {
            doc.problems.append(SBOMProblem(place: pointer, message: "expected an array of components"))
            return
        }
        for (i, item) in list.enumerated() {
            let here = "\(pointer)/\(i)"
            guard let c = item as? [String: Any] else {
                doc.problems.append(SBOMProblem(place: here, message: "expected a component object"))
                continue
            }
            guard let name = c["name"] as? String else {
                doc.problems.append(SBOMProblem(place: here + "/name", message: "a component without a \"name\" string; skipped"))
                if let nested = c["components"] { walk(nested, pointer: here + "/components", doc: &doc, refs: &refs) }
                continue
            }
            var component = SBOMComponent(
                ref: c["bom-ref"] as? String, name: name, version: (c["version"] as? String).flatMap { $0.isEmpty ? nil : $0 },
                purl: c["purl"] as? String, type: c["type"] as? String,
                supplier: ((c["supplier"] as? [String: Any])?["name"] as? String) ?? (c["publisher"] as? String) ?? (c["author"] as? String))
            if let ref = component.ref {
                if ref.isEmpty {
                    doc.problems.append(SBOMProblem(place: here + "/bom-ref", message: "an empty bom-ref"))
                    component.ref = nil
                } else if !refs.insert(ref).inserted {
                    doc.problems.append(SBOMProblem(place: here + "/bom-ref", message: "duplicate bom-ref \"\(ref)\""))
                }
            }
            for (j, h) in ((c["hashes"] as? [Any]) ?? []).enumerated() {
                guard let h = h as? [String: Any], let alg = h["alg"] as? String, let content = h["content"] as? String else {
                    doc.problems.append(SBOMProblem(place: "\(here)/hashes/\(j)", message: "a hash without \"alg\" and \"content\" strings"))
                    continue
                }
                if let v = SBOMReader.usableHash(content) { component.hashes[alg] = v } else {
                    doc.problems.append(SBOMProblem(place: "\(here)/hashes/\(j)/content", message: "unusable hash value (empty, not hex, or all zeros)"))
                }
            }
            if let evidence = c["evidence"] as? [String: Any], let occurrences = evidence["occurrences"] as? [Any] {
                component.paths += occurrences.compactMap { ($0 as? [String: Any])?["location"] as? String }
            }
            for p in (c["properties"] as? [Any]) ?? [] {
                guard let p = p as? [String: Any], let key = p["name"] as? String, let value = p["value"] as? String else { continue }
                if isPathProperty(key) { component.paths.append(value) }
            }
            doc.components.append(component)
            if component.type == "file" {
                doc.files.append(SBOMFile(ref: component.ref, path: name, hashes: component.hashes, ownerRef: nil))
            }
            if let nested = c["components"] { walk(nested, pointer: here + "/components", doc: &doc, refs: &refs) }
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

    static func read(_ data: Data, source: String) throws(SBOMError) -> SBOMDocument {
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
