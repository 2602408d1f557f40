import Foundation
import XCTest
@testable import ProbityAttribution

/// Every SBOM in Tests/Fixtures/sbom (written by other tools and projects; where each came from
/// and its licence are in its SOURCES.md) is read, with the component and file counts it gives.
final class SBOMCorpusTests: XCTestCase {
    /// The corpus as the readers see it. Files over a few MiB are kept gzip-compressed in the
    /// repository (`NAME.gz`); they are decompressed, with the rest copied beside them, into a
    /// directory of this test process's own.
    static let corpus: String = {
        let source = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/sbom").path
        let names = (try? FileManager.default.contentsOfDirectory(atPath: source)) ?? []
        guard names.contains(where: { $0.hasSuffix(".gz") }) else { return source }
        let directory = NSTemporaryDirectory() + "probity-sbom-corpus-\(getpid())"
        try? FileManager.default.removeItem(atPath: directory)
        try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        for name in names {
            if name.hasSuffix(".gz") {
                let plain = directory + "/" + name.dropLast(3)
                let gunzip = Process()
                gunzip.executableURL = URL(fileURLWithPath: "/bin/sh")
                gunzip.arguments = ["-c", "gzip -dc \"$0\" > \"$1\"", source + "/" + name, plain]
                try? gunzip.run()
                gunzip.waitUntilExit()
            } else {
                try? FileManager.default.copyItem(atPath: source + "/" + name, toPath: directory + "/" + name)
            }
        }
        return directory
    }()

    struct Expected { var file: String; var components: Int; var files: Int }

    /// The table of SOURCES.md: file name, components / packages (first number), file entries.
    static func expectations() throws -> [Expected] {
        let text = try String(contentsOfFile: corpus + "/SOURCES.md", encoding: .utf8)
        var out: [Expected] = []
        for line in text.split(separator: "\n") where line.hasPrefix("| ") {
            let cells = line.split(separator: "|", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
            guard cells.count > 6, cells[1].contains("."), !cells[1].hasPrefix("file"),
                  FileManager.default.fileExists(atPath: corpus + "/" + cells[1]) else { continue }
            let components = Int(cells[5].prefix { $0.isNumber }) ?? -1
            let files = Int(cells[6].prefix { $0.isNumber }) ?? -1
            out.append(Expected(file: cells[1], components: components, files: files))
        }
        return out
    }

    func testEveryCorpusFileReadsWithItsCounts() throws {
        XCTAssertTrue(FileManager.default.fileExists(atPath: Self.corpus + "/SOURCES.md"), "the corpus is at \(Self.corpus)")
        XCTAssertTrue(FileManager.default.fileExists(atPath: Self.corpus + "/spdx-2.3_syft-1.18.1_debian12-rootfs.spdx.json"),
                      "the compressed member was decompressed into \(Self.corpus)")
        let expected = try Self.expectations()
        let onDisk = try FileManager.default.contentsOfDirectory(atPath: Self.corpus).filter { $0 != "SOURCES.md" }
        XCTAssertEqual(expected.count, onDisk.count, "SOURCES.md lists every corpus file")
        for e in expected {
            let path = Self.corpus + "/" + e.file
            if e.file.hasPrefix("NOT-AN-SBOM") {
                XCTAssertThrowsError(try SBOMReader.read(contentsOf: path), e.file) { error in
                    XCTAssertTrue("\(error)".contains("not an SBOM"), "\(error)")
                    XCTAssertTrue("\(error)".contains(e.file), "the error names the file: \(error)")
                }
                continue
            }
            do {
                let doc = try SBOMReader.read(contentsOf: path)
                XCTAssertEqual(doc.components.count, e.components, "\(e.file): components/packages")
                let fileCount = doc.format == .cycloneDXJSON || doc.format == .cycloneDXXML ? doc.fileComponentCount : doc.files.count
                XCTAssertEqual(fileCount, e.files, "\(e.file): file entries")
                if e.file.contains("INVALID") {
                    XCTAssertFalse(doc.problems.isEmpty, "\(e.file): read leniently, with its problems reported")
                }
            } catch {
                XCTFail("\(e.file): \(error)")
            }
        }
    }

    func testFormatComesFromContentNotName() throws {
        let tmp = FileManager.default.temporaryDirectory.appendingPathComponent("probity-misnamed-\(getpid()).spdx").path
        defer { try? FileManager.default.removeItem(atPath: tmp) }
        try FileManager.default.copyItem(atPath: Self.corpus + "/cdx-1.6_cyclonedx-py-7.5.0_venv.cdx.json", toPath: tmp)
        let doc = try SBOMReader.read(contentsOf: tmp)
        XCTAssertEqual(doc.format, .cycloneDXJSON)
        XCTAssertEqual(doc.specVersion, "1.6")
    }

    func testFilesHashesAndOwnership() throws {
        let ps = try SBOMReader.read(contentsOf: Self.corpus + "/spdx-2.2_ms-sbom-tool-2.0.88_powershell-7.2.1.spdx.json")
        XCTAssertEqual(ps.files.count, 617)
        XCTAssertTrue(ps.files.allSatisfy { $0.hashes["SHA256"] != nil }, "every file has its SHA256")
        XCTAssertTrue(ps.files.allSatisfy { $0.ownerRef != nil }, "hasFiles gives every file an owner")
        XCTAssertFalse(ps.files.contains { $0.path.hasPrefix("./") })

        let syft = try SBOMReader.read(contentsOf: Self.corpus + "/cdx-1.6_syft-1.18.1_debian12-rootfs.cdx.json")
        XCTAssertEqual(syft.components.map(\.paths.count).reduce(0, +), 470, "syft:location:N:path properties")
        let npm = try SBOMReader.read(contentsOf: Self.corpus + "/cdx-1.4_bom-examples_juice-shop-npm-nested.cdx.json")
        XCTAssertEqual(npm.components.filter { !$0.paths.isEmpty }.count, 1115, "cdx:npm:package:path on every component")
        XCTAssertTrue(npm.components.contains { $0.isDirect == true })
        XCTAssertTrue(npm.components.contains { $0.isDirect == false }, "transitive packages through the cyclic graph")
    }

    func testUTF16AndTagValue() throws {
        let utf16 = try SBOMReader.read(contentsOf: Self.corpus + "/spdx-2.2_tools-python_example-UTF-16.spdx.json")
        XCTAssertEqual(utf16.components.count, 4)
        let tv = try SBOMReader.read(contentsOf: Self.corpus + "/spdx-2.2_dart-sbom_mqtt-client.spdx")
        XCTAssertEqual(tv.format, .spdxTagValue)
        XCTAssertEqual(tv.files.count, 98)
        XCTAssertTrue(tv.files.allSatisfy { $0.hashes["SHA1"] != nil })
    }
}

/// Bad input: clear errors with places, never a crash.
final class SBOMBadInputTests: XCTestCase {
    private func read(_ text: String) -> Result<SBOMDocument, SBOMError> {
        do { return .success(try SBOMReader.read(data: Data(text.utf8), source: "test.json")) } catch { return .failure(error) }
    }

    func testMalformedJSONNamesFileAndPlace() {
        guard case .failure(let e) = read("{\"bomFormat\": \"CycloneDX\",\n \"components\": [ {\"name\": }") else { return XCTFail() }
        XCTAssertEqual(e.file, "test.json")
        XCTAssertNotNil(e.place)
        XCTAssertTrue("\(e)".contains("line") || "\(e)".contains("character"), "\(e)")
    }

    func testWrongTypesAreProblemsWithPointers() throws {
        guard case .success(let doc) = read("""
            {"bomFormat":"CycloneDX","specVersion":"1.6","components":[{"name":7},{"name":"ok","bom-ref":"a"},{"name":"dup","bom-ref":"a"},
             {"name":"h","hashes":[{"alg":"SHA-256","content":"0000000000"}]}],
             "dependencies":[{"dependsOn":["a"]},{"ref":"a","dependsOn":["ghost"]}]}
            """) else { return XCTFail() }
        let places = doc.problems.map(\.place)
        XCTAssertTrue(places.contains("/components/0/name"), "\(places)")
        XCTAssertTrue(places.contains("/components/2/bom-ref"), "duplicate bom-ref: \(places)")
        XCTAssertTrue(places.contains("/components/3/hashes/0/content"), "all-zero hash dropped: \(places)")
        XCTAssertTrue(places.contains("/dependencies/0"), "\(places)")
        XCTAssertTrue(doc.problems.contains { $0.message.contains("ghost") })
        XCTAssertEqual(doc.components.count, 3)
        XCTAssertTrue(doc.components.allSatisfy { $0.hashes.isEmpty })
    }

    func testSPDXWrongTypesFallBackToTheLenientReader() throws {
        guard case .success(let doc) = read("""
            {"spdxVersion":"SPDX-2.3","packages":[{"SPDXID":"SPDXRef-a","name":1},{"SPDXID":"SPDXRef-b","name":"b",
              "versionInfo":"NOASSERTION","checksums":[{"algorithm":"SHA1"}]}],
             "files":[{"SPDXID":"SPDXRef-f"},{"SPDXID":"SPDXRef-g","fileName":"./x/y"}],
             "relationships":[{"spdxElementId":"SPDXRef-b","relationshipType":"CONTAINS","relatedSpdxElement":"SPDXRef-g"},{"x":1}]}
            """) else { return XCTFail() }
        XCTAssertEqual(Set(doc.problems.map(\.place)), ["/packages/0", "/packages/1/checksums/0", "/files/0", "/relationships/1"])
        XCTAssertEqual(doc.components.map(\.name), ["b"])
        XCTAssertNil(doc.components.first?.version, "NOASSERTION is no version")
        XCTAssertEqual(doc.files.first?.path, "x/y")
        XCTAssertEqual(doc.files.first?.ownerRef, "SPDXRef-b")
    }

    /// The typed fast path and the lenient reader give the same document for a real SBOM.
    func testFastAndLenientSPDXReadersAgree() throws {
        let path = SBOMCorpusTests.corpus + "/spdx-2.2_ms-sbom-tool-2.0.88_powershell-7.2.1.spdx.json"
        let data = try XCTUnwrap(FileManager.default.contents(atPath: path))
        let fast = try XCTUnwrap(SPDXFastJSON.read(data), "the corpus file fits the typed form")
        let dict = try XCTUnwrap(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let lenient = try SPDX2.read(dict, format: .spdxJSON, source: path)
        XCTAssertEqual(fast.components, lenient.components)
        XCTAssertEqual(fast.files, lenient.files)
        XCTAssertEqual(fast.dependencies, lenient.dependencies)
        XCTAssertEqual(fast.rootRefs, lenient.rootRefs)
    }

    /// The same for CycloneDX JSON: nested components, npm and syft path properties, hashes.
    func testFastAndLenientCycloneDXReadersAgree() throws {
        for name in ["cdx-1.4_bom-examples_juice-shop-npm-nested.cdx.json", "cdx-1.6_syft-1.18.1_debian12-rootfs.cdx.json",
                     "cdx-1.2_bom-examples_proton-bridge-1.8.0.cdx.json"] {
            let data = try XCTUnwrap(FileManager.default.contents(atPath: SBOMCorpusTests.corpus + "/" + name))
            let fast = try XCTUnwrap(CycloneDXJSON.decode(data), "\(name) fits the typed form")
            let dict = try XCTUnwrap(try JSONSerialization.jsonObject(with: data) as? [String: Any])
            let lenient = CycloneDXJSON.read(dict)
            XCTAssertEqual(fast.components, lenient.components, name)
            XCTAssertEqual(fast.dependencies, lenient.dependencies, name)
            XCTAssertEqual(fast.problems, lenient.problems, name)
        }
    }

    func testTruncatedCorpusFilesNeverCrash() throws {
        let corpus = SBOMCorpusTests.corpus
        var tried = 0
        for name in try FileManager.default.contentsOfDirectory(atPath: corpus) where name != "SOURCES.md" {
            guard let data = FileManager.default.contents(atPath: corpus + "/" + name), data.count > 0 else { continue }
            for fraction in [0.1, 0.5, 0.9] {
                let cut = data.prefix(Int(Double(data.count) * fraction))
                switch Result(catching: { try SBOMReader.read(data: cut, source: name) }) {
                case .success: break
                case .failure(let error): XCTAssertTrue("\(error)".hasPrefix(name), "\(error)")
                }
                tried += 1
            }
        }
        print("truncated inputs tried: \(tried)")
        XCTAssertGreaterThan(tried, 100)
    }

    func testNotAnSBOM() {
        for text in ["[1,2,3]", "{\"hello\": 1}", "just text", "<html></html>", "42"] {
            guard case .failure(let e) = read(text) else { return XCTFail(text) }
            XCTAssertTrue(e.message.contains("not") , "\(e)")
        }
    }
}

final class SBOMDiffTests: XCTestCase {
    private func doc(_ json: String) throws -> SBOMDocument { try SBOMReader.read(data: Data(json.utf8), source: "t.json") }

    func testAddedRemovedChangedTransitiveAndHashes() throws {
        let old = try doc("""
            {"bomFormat":"CycloneDX","specVersion":"1.6","metadata":{"component":{"bom-ref":"app","name":"app"}},
             "components":[{"name":"a","version":"1","purl":"pkg:npm/a@1","bom-ref":"a"},{"name":"gone","version":"1","purl":"pkg:npm/gone@1","bom-ref":"g"},
              {"type":"file","name":"bin/tool","hashes":[{"alg":"SHA-256","content":"aa"}]}],
             "dependencies":[{"ref":"app","dependsOn":["a","g"]}]}
            """)
        let new = try doc("""
            {"bomFormat":"CycloneDX","specVersion":"1.6","metadata":{"component":{"bom-ref":"app","name":"app"}},
             "components":[{"name":"a","version":"2","purl":"pkg:npm/a@2","bom-ref":"a"},{"name":"b","version":"1","purl":"pkg:npm/b@1","bom-ref":"b"},
              {"name":"c","version":"1","purl":"pkg:npm/c@1","bom-ref":"c"},
              {"type":"file","name":"bin/tool","hashes":[{"alg":"SHA-256","content":"bb"}]}],
             "dependencies":[{"ref":"app","dependsOn":["a","b"]},{"ref":"b","dependsOn":["c"]}]}
            """)
        let diff = SBOMDiff(old: old, new: new)
        XCTAssertEqual(diff.added.map(\.name), ["b", "c"])
        XCTAssertEqual(diff.newTransitive.map(\.name), ["c"])
        XCTAssertEqual(diff.removed.map(\.name), ["gone"])
        XCTAssertEqual(diff.changed.map { "\($0.old.version ?? "") \($0.new.version ?? "")" }, ["1 2"])
        XCTAssertEqual(diff.changedFileHashes, ["bin/tool"])
        XCTAssertTrue(diff.has(.new) && diff.has(.newTransitive) && diff.has(.changed))
        XCTAssertFalse(SBOMDiff(old: old, new: old).has(.changed))
        XCTAssertEqual(diff.added.map(\.ecosystem), ["npm", "npm"])
        XCTAssertEqual(diff.added.map(\.purl), ["pkg:npm/b@1", "pkg:npm/c@1"])
    }

    private func cdx(_ components: [(name: String, version: String, purl: String)]) throws -> SBOMDocument {
        let list = components.map { #"{"name":"\#($0.name)","version":"\#($0.version)","purl":"\#($0.purl)"}"# }
        return try doc(#"{"bomFormat":"CycloneDX","specVersion":"1.6","components":[\#(list.joined(separator: ","))]}"#)
    }

    /// Two SBOMs that spell one package's purl differently (`libstdc++6` and `libstdc%2B%2B6`,
    /// `@scope` and `%40scope`, qualifiers in another order, pypi's `_`) describe the same
    /// packages: nothing added or removed (before, each was both).
    func testSpellingsOfOnePurlAreOnePackage() throws {
        let old = try cdx([
            ("libstdc++6", "12.2.0-14", "pkg:deb/debian/libstdc++6@12.2.0-14?arch=amd64&distro=debian-12"),
            ("core", "17.0.0", "pkg:npm/@angular/core@17.0.0"),
            ("typing_extensions", "4.8.0", "pkg:pypi/typing_extensions@4.8.0"),
        ])
        let new = try cdx([
            ("libstdc++6", "12.2.0-14", "pkg:deb/debian/libstdc%2B%2B6@12.2.0-14?distro=debian-12&arch=amd64"),
            ("core", "17.0.1", "pkg:npm/%40angular/core@17.0.1"),
            ("typing-extensions", "4.8.0", "pkg:pypi/typing-extensions@4.8.0"),
        ])
        let diff = SBOMDiff(old: old, new: new)
        XCTAssertEqual(diff.added.map(\.name), [])
        XCTAssertEqual(diff.removed.map(\.name), [])
        XCTAssertEqual(diff.changed.map { "\($0.new.ecosystem ?? "") \($0.old.name) \($0.old.version ?? "") \($0.new.version ?? "")" },
                       ["npm core 17.0.0 17.0.1"])
        XCTAssertEqual(diff.problems, [])
    }

    /// A purl that is not valid is compared as written and named, never a crash.
    func testInvalidPurlsAreOpaqueAndNamed() throws {
        let long = "pkg:npm/" + String(repeating: "x", count: 5000)
        let old = try cdx([("bad", "1", "pkg:npm/bad%zz@1"), ("long", "1", long)])
        let new = try cdx([("bad", "1", "pkg:npm/bad%zz@1"), ("other", "1", "pkg:npm/bad%ZZ@1")])
        let diff = SBOMDiff(old: old, new: new)
        XCTAssertEqual(diff.added.map(\.name), ["other"])
        XCTAssertEqual(diff.added.map(\.purl), ["pkg:npm/bad%ZZ@1"])
        XCTAssertEqual(diff.added.map(\.ecosystem), [nil])
        XCTAssertEqual(diff.removed.map(\.name), ["long"])
        XCTAssertEqual(diff.problems, [
            "old SBOM: component `bad`: not a valid purl (bad percent escape in the namespace or name at `%zz`): compared as written",
            "old SBOM: component `long`: not a valid purl (too long (5008 bytes; at most 4096)): compared as written",
            "new SBOM: component `bad`: not a valid purl (bad percent escape in the namespace or name at `%zz`): compared as written",
            "new SBOM: component `other`: not a valid purl (bad percent escape in the namespace or name at `%ZZ`): compared as written",
        ])
    }
}

/// Mutation fuzzing of the readers with a fixed seed: random byte flips, insertions, deletions
/// and truncations of the smaller corpus files. Every input either reads or fails with an
/// SBOMError naming the file; none may crash or hang.
final class SBOMFuzzTests: XCTestCase {
    func testMutatedCorpusInputs() throws {
        let corpus = SBOMCorpusTests.corpus
        var seeds: [(String, [UInt8])] = []
        for name in try FileManager.default.contentsOfDirectory(atPath: corpus).sorted() where name != "SOURCES.md" {
            guard let data = FileManager.default.contents(atPath: corpus + "/" + name), data.count < 64 * 1024 else { continue }
            seeds.append((name, [UInt8](data)))
        }
        XCTAssertGreaterThan(seeds.count, 10)
        var rng = SplitMix(seed: 0x5eed)
        let specials: [UInt8] = Array("{}[]<>\":,\\/\n\t0-=@".utf8) + [0, 0xff, 0xfe, 0xc3]
        var tried = 0, read = 0, refused = 0
        let deadline = Date().addingTimeInterval(20)
        while tried < 3000 && Date() < deadline {
            let (name, original) = seeds[Int(rng.next() % UInt64(seeds.count))]
            var bytes = original
            for _ in 0..<(1 + Int(rng.next() % 8)) where !bytes.isEmpty {
                let at = Int(rng.next() % UInt64(bytes.count))
                switch rng.next() % 4 {
                case 0: bytes[at] = specials[Int(rng.next() % UInt64(specials.count))]
                case 1: bytes.insert(specials[Int(rng.next() % UInt64(specials.count))], at: at)
                case 2: bytes.remove(at: at)
                default: bytes.removeLast(min(bytes.count - 1, Int(rng.next() % 64)))
                }
            }
            do {
                _ = try SBOMReader.read(data: Data(bytes), source: name)
                read += 1
            } catch {
                XCTAssertTrue(error.description.hasPrefix(name), "\(error)")
                refused += 1
            }
            tried += 1
        }
        print("SBOM fuzz: \(tried) mutated inputs, \(read) read leniently, \(refused) refused with an error")
        XCTAssertGreaterThanOrEqual(tried, 1000)
    }
}

final class SBOMIndexingTests: XCTestCase {
    func testPathsAreMadeAbsoluteAndNormalised() {
        XCTAssertEqual(SBOMIndexing.absolute("usr/bin/x", root: "/"), "/usr/bin/x")
        XCTAssertEqual(SBOMIndexing.absolute("./lib/../bin/x", root: "/opt/app"), "/opt/app/bin/x")
        XCTAssertEqual(SBOMIndexing.absolute("/a//b/", root: "/r"), "/a/b")
        XCTAssertEqual(SBOMIndexing.absolute("a/.hidden/x", root: "/r"), "/r/a/.hidden/x")
        XCTAssertEqual(SBOMIndexing.absolute("a/b.", root: "/r"), "/r/a/b.")
        XCTAssertFalse(SBOMIndexing.needsNormalizing("/usr/lib/python3/dist-packages/x.py"))
        XCTAssertTrue(SBOMIndexing.needsNormalizing("/usr/./lib"))
        XCTAssertTrue(SBOMIndexing.needsNormalizing("/usr/lib/.."))
    }
}
