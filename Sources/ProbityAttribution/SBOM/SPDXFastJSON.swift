import Foundation

/// SPDX 2 documents as typed structs. JSON goes through `JSONDecoder` straight into them: about
/// five times faster than `JSONSerialization` on Linux for large documents. A document that does
/// not fit these types (a wrong type, a package without a name) makes the decode throw, and the
/// caller falls back to ``SPDX2``, which builds the same structs element by element from the
/// untyped tree, reporting each element it had to skip with its place. Both end in ``build``.
enum SPDXFastJSON {
    struct Document: Decodable {
        var spdxVersion: String
        var packages: [Package]?
        var files: [File]?
        var relationships: [Relationship]?
        var documentDescribes: [String]?
    }
    struct Package: Decodable {
        var SPDXID: String?
        var name: String
        var versionInfo: String?
        var supplier: String?
        var primaryPackagePurpose: String?
        var externalRefs: [ExternalRef]?
        var checksums: [Checksum]?
        var hasFiles: [String]?
    }
    struct ExternalRef: Decodable {
        var referenceType: String?
        var referenceLocator: String?
    }
    struct Checksum: Decodable {
        var algorithm: String
        var checksumValue: String
    }
    struct File: Decodable {
        var SPDXID: String?
        var fileName: String
        var checksums: [Checksum]?
    }
    struct Relationship: Decodable {
        var spdxElementId: String
        var relationshipType: String
        var relatedSpdxElement: String
    }

    /// The document, or nil when it does not fit the typed form.
    static func read(_ data: Data) -> SBOMDocument? {
        guard let d = try? JSONDecoder().decode(Document.self, from: data) else { return nil }
        return build(d, format: .spdxJSON, problems: [])
    }

    /// The ``SBOMDocument`` of a typed SPDX 2 document.
    static func build(_ d: Document, format: SBOMFormat, problems: [SBOMProblem]) -> SBOMDocument {
        var doc = SBOMDocument(format: format, specVersion: d.spdxVersion)
        doc.problems = problems
        var refs = Set<String>()
        for (i, p) in (d.packages ?? []).enumerated() {
            var c = SBOMComponent(
                ref: p.SPDXID, name: p.name, version: SPDXRelationships.version(p.versionInfo), purl: nil,
                type: p.primaryPackagePurpose?.lowercased(), supplier: SPDXRelationships.version(p.supplier))
            for r in p.externalRefs ?? [] where r.referenceType?.lowercased() == "purl" { c.purl = r.referenceLocator }
            for sum in p.checksums ?? [] {
                if let v = SBOMReader.usableHash(sum.checksumValue) { c.hashes[sum.algorithm] = v }
            }
            if let ref = c.ref, !refs.insert(ref).inserted {
                doc.problems.append(SBOMProblem(place: "/packages/\(i)/SPDXID", message: "duplicate SPDXID \"\(ref)\""))
            }
            doc.components.append(c)
        }
        var fileIndex: [String: Int] = [:]
        for f in d.files ?? [] {
            var file = SBOMFile(ref: f.SPDXID, path: SPDXRelationships.filePath(f.fileName))
            for sum in f.checksums ?? [] {
                if let v = SBOMReader.usableHash(sum.checksumValue) { file.hashes[sum.algorithm] = v }
            }
            if let ref = file.ref { fileIndex[ref] = doc.files.count }
            doc.files.append(file)
        }
        for p in d.packages ?? [] {
            guard let owner = p.SPDXID else { continue }
            for f in p.hasFiles ?? [] { if let i = fileIndex[f] { doc.files[i].ownerRef = owner } }
        }
        doc.rootRefs += d.documentDescribes ?? []
        for r in d.relationships ?? [] {
            SPDXRelationships.apply(r.spdxElementId, r.relationshipType, r.relatedSpdxElement, fileIndex: fileIndex, doc: &doc)
        }
        SBOMReader.classify(&doc)
        return doc
    }
}
