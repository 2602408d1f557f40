import Foundation

/// Relationship handling shared by the SPDX 2 readers.
enum SPDXRelationships {
    /// Applies one `A TYPE B` relationship to the document.
    static func apply(_ a: String, _ type: String, _ b: String, fileIndex: [String: Int], doc: inout SBOMDocument) {
        let upper = type.utf8.contains(where: { $0 >= UInt8(ascii: "a") && $0 <= UInt8(ascii: "z") }) ? type.uppercased() : type
        switch upper {
        case "CONTAINS":
            if let f = fileIndex[b] { doc.files[f].ownerRef = a }
        case "CONTAINED_BY":
            if let f = fileIndex[a] { doc.files[f].ownerRef = b }
        case "DEPENDS_ON":
            doc.dependencies[a, default: []].append(b)
        case "DEPENDENCY_OF":
            doc.dependencies[b, default: []].append(a)
        case "DESCRIBES":
            doc.rootRefs.append(b)
        case "DESCRIBED_BY":
            doc.rootRefs.append(a)
        case let t where t.hasSuffix("_DEPENDENCY_OF"):
            doc.dependencies[b, default: []].append(a)
        default:
            break
        }
    }

    static func version(_ value: String?) -> String? {
        guard let v = value?.trimmingCharacters(in: .whitespaces), !v.isEmpty, v != "NOASSERTION", v != "NONE" else { return nil }
        return v
    }

    /// `./lib/x` → `lib/x`; absolute paths stay as they are.
    static func filePath(_ name: String) -> String {
        name.hasPrefix("./") ? String(name.dropFirst(2)) : name
    }
}

/// SPDX 2.x as JSON or YAML (the same structure), read leniently from an untyped tree into the
/// typed form of ``SPDXFastJSON``: each element that does not fit is skipped and reported.
enum SPDX2 {
    typealias T = SPDXFastJSON

    static func read(_ dict: [String: Any], format: SBOMFormat, source: String) throws(SBOMError) -> SBOMDocument {
        guard let version = dict["spdxVersion"] as? String else {
            throw SBOMError(file: source, place: "/spdxVersion", message: "expected a string")
        }
        var problems: [SBOMProblem] = []
        func list(_ key: String) throws(SBOMError) -> [Any] {
            guard let value = dict[key] else { return [] }
            guard let array = value as? [Any] else { throw SBOMError(file: source, place: "/\(key)", message: "expected an array") }
            return array
        }
        func checksums(_ value: Any?, at place: String) -> [T.Checksum] {
            ((value as? [Any]) ?? []).enumerated().compactMap { j, sum in
                guard let s = sum as? [String: Any], let alg = s["algorithm"] as? String, let v = s["checksumValue"] as? String else {
                    problems.append(SBOMProblem(place: "\(place)/checksums/\(j)", message: "expected \"algorithm\" and \"checksumValue\" strings"))
                    return nil
                }
                return T.Checksum(algorithm: alg, checksumValue: v)
            }
        }
        var document = T.Document(spdxVersion: version)
        document.packages = try list("packages").enumerated().compactMap { i, item in
            guard let p = item as? [String: Any], let name = p["name"] as? String else {
                problems.append(SBOMProblem(place: "/packages/\(i)", message: "a package without a \"name\" string; skipped"))
                return nil
            }
            let refs = ((p["externalRefs"] as? [Any]) ?? []).compactMap { ref -> T.ExternalRef? in
                guard let r = ref as? [String: Any] else { return nil }
                return T.ExternalRef(referenceType: r["referenceType"] as? String, referenceLocator: r["referenceLocator"] as? String)
            }
            return T.Package(
                SPDXID: p["SPDXID"] as? String, name: name, versionInfo: p["versionInfo"] as? String, supplier: p["supplier"] as? String,
                primaryPackagePurpose: p["primaryPackagePurpose"] as? String, externalRefs: refs,
                checksums: checksums(p["checksums"], at: "/packages/\(i)"),
                hasFiles: (p["hasFiles"] as? [Any])?.compactMap { $0 as? String })
        }
        document.files = try list("files").enumerated().compactMap { i, item in
            guard let f = item as? [String: Any], let name = f["fileName"] as? String else {
                problems.append(SBOMProblem(place: "/files/\(i)", message: "a file without a \"fileName\" string; skipped"))
                return nil
            }
            return T.File(SPDXID: f["SPDXID"] as? String, fileName: name, checksums: checksums(f["checksums"], at: "/files/\(i)"))
        }
        document.relationships = try list("relationships").enumerated().compactMap { i, item in
            guard let r = item as? [String: Any], let a = r["spdxElementId"] as? String, let type = r["relationshipType"] as? String,
                  let b = r["relatedSpdxElement"] as? String else {
                problems.append(SBOMProblem(place: "/relationships/\(i)", message: "expected spdxElementId, relationshipType, relatedSpdxElement"))
                return nil
            }
            return T.Relationship(spdxElementId: a, relationshipType: type, relatedSpdxElement: b)
        }
        document.documentDescribes = (dict["documentDescribes"] as? [Any])?.compactMap { $0 as? String }
        return T.build(document, format: format, problems: problems)
    }
}

/// SPDX 2.x tag-value: `Tag: value` lines, `<text>…</text>` values over several lines.
enum SPDXTagValue {
    static func read(_ text: String, source: String) throws(SBOMError) -> SBOMDocument {
        var doc = SBOMDocument(format: .spdxTagValue, specVersion: "?")
        var fileIndex: [String: Int] = [:]
        var currentPackage: Int?
        var currentFile: Int?
        var lastPackageRef: String?
        var explicitOwnership = false
        var inText = false
        var lineNumber = 0
        var relationships: [(String, String, String)] = []
        for raw in text.split(separator: "\n", omittingEmptySubsequences: false) {
            lineNumber += 1
            let line = raw.hasSuffix("\r") ? raw.dropLast() : raw
            if inText {
                if line.contains("</text>") { inText = false }
                continue
            }
            if line.trimmingCharacters(in: .whitespaces).isEmpty || line.hasPrefix("#") { continue }
            guard let colon = line.firstIndex(of: ":") else {
                doc.problems.append(SBOMProblem(place: "line \(lineNumber)", message: "expected \"Tag: value\""))
                continue
            }
            let tag = line[..<colon].trimmingCharacters(in: .whitespaces)
            var value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            if value.hasPrefix("<text>") {
                if !value.contains("</text>") { inText = true }
                value = ""
            }
            if value.contains("\u{FFFD}") {
                doc.problems.append(SBOMProblem(place: "line \(lineNumber)", message: "bytes that are not UTF-8 were replaced"))
            }
            switch tag {
            case "SPDXVersion":
                doc.specVersion = value
            case "PackageName":
                doc.components.append(SBOMComponent(ref: nil, name: value, version: nil, purl: nil, type: nil, supplier: nil))
                currentPackage = doc.components.count - 1
                currentFile = nil
            case "FileName":
                doc.files.append(SBOMFile(ref: nil, path: SPDXRelationships.filePath(value), ownerRef: lastPackageRef))
                currentFile = doc.files.count - 1
                currentPackage = nil
            case "SPDXID":
                if let p = currentPackage {
                    doc.components[p].ref = value
                    lastPackageRef = value
                } else if let f = currentFile {
                    doc.files[f].ref = value
                    fileIndex[value] = f
                }
            case "PackageVersion":
                if let p = currentPackage { doc.components[p].version = SPDXRelationships.version(value) }
            case "PackageSupplier":
                if let p = currentPackage { doc.components[p].supplier = SPDXRelationships.version(value) }
            case "ExternalRef":
                let parts = value.split(separator: " ", omittingEmptySubsequences: true)
                if let p = currentPackage, parts.count >= 3, parts[1].lowercased() == "purl" { doc.components[p].purl = String(parts[2]) }
            case "PackageChecksum", "FileChecksum":
                let parts = value.split(separator: ":", maxSplits: 1)
                guard parts.count == 2, let v = SBOMReader.usableHash(String(parts[1])) else {
                    doc.problems.append(SBOMProblem(place: "line \(lineNumber)", message: "expected \"ALGORITHM: hex\""))
                    continue
                }
                let alg = parts[0].trimmingCharacters(in: .whitespaces)
                if tag == "FileChecksum", let f = currentFile { doc.files[f].hashes[alg] = v }
                if tag == "PackageChecksum", let p = currentPackage { doc.components[p].hashes[alg] = v }
            case "Relationship":
                let parts = value.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
                guard parts.count >= 3 else {
                    doc.problems.append(SBOMProblem(place: "line \(lineNumber)", message: "expected \"A TYPE B\""))
                    continue
                }
                if ["CONTAINS", "CONTAINED_BY"].contains(parts[1].uppercased()) { explicitOwnership = true }
                relationships.append((parts[0], parts[1], parts[2]))
            default:
                break
            }
        }
        if explicitOwnership {
            for i in doc.files.indices { doc.files[i].ownerRef = nil }
        }
        for (a, type, b) in relationships { SPDXRelationships.apply(a, type, b, fileIndex: fileIndex, doc: &doc) }
        if doc.specVersion == "?" {
            throw SBOMError(file: source, place: "line 1", message: "no SPDXVersion tag")
        }
        SBOMReader.classify(&doc)
        return doc
    }
}

/// SPDX 3 JSON-LD: elements of `@graph`.
enum SPDX3 {
    static func read(_ dict: [String: Any]) -> SBOMDocument {
        var doc = SBOMDocument(format: .spdx3JSONLD, specVersion: "3")
        let graph = (dict["@graph"] as? [Any]) ?? []
        if dict["@graph"] != nil && dict["@graph"] as? [Any] == nil {
            doc.problems.append(SBOMProblem(place: "/@graph", message: "expected an array"))
        }
        var fileIndex: [String: Int] = [:]
        for (i, item) in graph.enumerated() {
            guard let e = item as? [String: Any], let type = e["type"] as? String else { continue }
            let id = e["spdxId"] as? String ?? e["@id"] as? String
            switch type {
            case "CreationInfo":
                if let v = e["specVersion"] as? String { doc.specVersion = v }
            case "software_Package":
                guard let name = e["name"] as? String else {
                    doc.problems.append(SBOMProblem(place: "/@graph/\(i)/name", message: "a package without a name; skipped"))
                    continue
                }
                var c = SBOMComponent(ref: id, name: name, version: e["software_packageVersion"] as? String,
                                      purl: e["software_packageUrl"] as? String, type: e["software_primaryPurpose"] as? String, supplier: nil)
                for x in (e["externalIdentifier"] as? [Any]) ?? [] {
                    if let x = x as? [String: Any], x["externalIdentifierType"] as? String == "packageUrl" { c.purl = x["identifier"] as? String }
                }
                for h in (e["verifiedUsing"] as? [Any]) ?? [] {
                    if let h = h as? [String: Any], let alg = h["algorithm"] as? String, let v = (h["hashValue"] as? String).flatMap(SBOMReader.usableHash) {
                        c.hashes[alg] = v
                    }
                }
                doc.components.append(c)
            case "software_File":
                guard let name = e["name"] as? String else { continue }
                var f = SBOMFile(ref: id, path: SPDXRelationships.filePath(name))
                for h in (e["verifiedUsing"] as? [Any]) ?? [] {
                    if let h = h as? [String: Any], let alg = h["algorithm"] as? String, let v = (h["hashValue"] as? String).flatMap(SBOMReader.usableHash) {
                        f.hashes[alg] = v
                    }
                }
                if let id { fileIndex[id] = doc.files.count }
                doc.files.append(f)
            default:
                break
            }
        }
        for item in graph {
            guard let e = item as? [String: Any], e["type"] as? String == "Relationship", let from = e["from"] as? String,
                  let kind = e["relationshipType"] as? String else { continue }
            let to = (e["to"] as? [Any])?.compactMap { $0 as? String } ?? []
            for target in to {
                switch kind {
                case "contains": if let f = fileIndex[target] { doc.files[f].ownerRef = from }
                case "dependsOn": doc.dependencies[from, default: []].append(target)
                case "describes": doc.rootRefs.append(target)
                default: break
                }
            }
        }
        for item in graph {
            if let e = item as? [String: Any], e["type"] as? String == "SpdxDocument" {
                doc.rootRefs += (e["rootElement"] as? [Any])?.compactMap { $0 as? String } ?? []
            }
        }
        SBOMReader.classify(&doc)
        return doc
    }
}
