import Foundation
import XCTest
@testable import ProbityAttribution

/// SPDX 2 YAML with a mapping key that is not a string. Yams' `load` traps on it (a force unwrap
/// in its constructor); SPDXJSONFuzz found it after 403,839 executions, with a `checksum:` entry
/// whose `? algorithm: SHA1` key is itself a mapping. The reader composes the nodes itself and
/// names the key's place.
final class SPDXYAMLKeyTests: XCTestCase {
    func testAMappingKeyThatIsNotAStringIsAnErrorWithItsPlace() {
        let inputs = [
            // minimised
            "spdxVersion: SPDX-2.3\n? {a: b}\n: c\n",
            // as the fuzzer found it (shortened)
            """
            SPDXID: SPDXRef-DOCUMENT
            spdxVersion: 1e-400.3
            externalDocumentRefs:
            - externalDocumentId: DocumentRef-spdx-tool-2.2
              checksum:
              ? algorithm: SHA1
                checksumValue: d6a770
              : x

            """,
        ]
        for (n, text) in inputs.enumerated() {
            XCTAssertThrowsError(try SBOMReader.read(data: Data(text.utf8), source: "key.spdx.yaml"), "input \(n)") { error in
                guard let error = error as? SBOMError else { return XCTFail("\(error)") }
                XCTAssertEqual(error.file, "key.spdx.yaml")
                XCTAssertEqual(error.message, "a YAML mapping key that is not a string", "\(error)")
                XCTAssertNotNil(error.place, "\(error)")
            }
        }
    }

    /// The spec's YAML example still reads as before.
    func testTheSpecExampleStillReads() throws {
        let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/sbom/spdx-2.3_spdx-spec_example.spdx.yaml").path
        let document = try SBOMReader.read(contentsOf: path)
        XCTAssertEqual(document.format, .spdxYAML)
        XCTAssertEqual(document.components.count, 4)
        XCTAssertEqual(document.files.count, 5)
    }
}
