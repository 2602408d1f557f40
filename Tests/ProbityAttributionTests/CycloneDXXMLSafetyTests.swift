import Foundation
import ProbityAttribution
import XCTest

/// XML that crashes Foundation's XMLParser is refused with its place before it is parsed: a
/// processing instruction without data (`<?x?>`: libxml2 hands the parser a NULL, which it gives
/// to strlen; found by fuzzing, h-fuzz's CycloneDXXMLFuzz after 122,317 executions) and a DOCTYPE.
/// `load-sbom` parses on probityd's worker thread: a crash there would be the daemon's.
final class CycloneDXXMLSafetyTests: XCTestCase {
    func testAProcessingInstructionWithoutDataIsRefusedNotACrash() {
        let text = "<?xml version=\"1.0\"?>\n<bom xmlns=\"http://cyclonedx.org/schema/bom/1.5\">\n  <?x?>\n</bom>\n"
        XCTAssertThrowsError(try SBOMReader.read(data: Data(text.utf8), source: "pi.cdx.xml")) { error in
            XCTAssertTrue("\(error)".contains("line 3, column 3"), "\(error)")
            XCTAssertTrue("\(error)".contains("processing instruction without data"), "\(error)")
        }
        let doctype = "<?xml version=\"1.0\"?>\n<!DOCTYPE bom [<!ENTITY e \"x\">]>\n<bom xmlns=\"http://cyclonedx.org/schema/bom/1.5\"/>\n"
        XCTAssertThrowsError(try SBOMReader.read(data: Data(doctype.utf8), source: "dt.cdx.xml")) { error in
            XCTAssertTrue("\(error)".contains("DOCTYPE"), "\(error)")
        }
        // A processing instruction with data, as documents have, is read.
        let fine = "<?xml version=\"1.0\"?>\n<?xml-stylesheet href=\"s.xsl\"?>\n<bom xmlns=\"http://cyclonedx.org/schema/bom/1.5\"><components/></bom>\n"
        XCTAssertNoThrow(try SBOMReader.read(data: Data(fine.utf8), source: "ok.cdx.xml"))
    }
}
