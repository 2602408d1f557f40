import Foundation
import ProbityAttribution
import XCTest

/// Purls in the purl specification's canonical form, so that SBOM tools that spell one package
/// differently agree (issue 13), and hostile purls that are refused with a reason.
final class PackageURLTests: XCTestCase {
    private func canonical(_ text: String, file: StaticString = #filePath, line: UInt = #line) -> String? {
        do { return try PackageURL(parsing: text).canonical } catch {
            XCTFail("\(text): \(error)", file: file, line: line)
            return nil
        }
    }

    func testSpellingsOfOnePackageHaveOneCanonicalForm() {
        let groups: [[String]] = [
            ["pkg:deb/debian/libstdc++6@12.2.0-14?arch=amd64", "pkg:deb/debian/libstdc%2B%2B6@12.2.0-14?arch=amd64",
             "pkg:DEB/Debian/LibStdC%2b%2b6@12.2.0-14?ARCH=amd64", "pkg://deb/debian/libstdc++6@12.2.0-14?arch=amd64"],
            ["pkg:npm/%40angular/core@17.0.0", "pkg:npm/@angular/core@17.0.0", "pkg:NPM/%40Angular/Core@17.0.0"],
            ["pkg:pypi/zope.interface@6.0", "pkg:pypi/Zope_Interface@6.0", "pkg:pypi/zope--interface@6.0", "pkg:PyPI/ZOPE-interface@6.0"],
            ["pkg:deb/debian/curl@7.50.3-1?arch=i386&distro=jessie", "pkg:deb/debian/curl@7.50.3-1?distro=jessie&arch=i386",
             "pkg:deb/debian/curl@7.50.3-1?distro=jessie&arch=i386&repository_url="],
            ["pkg:golang/github.com/gorilla/context@234fd47e07d1004f0aed9c#api/", "pkg:golang/github.com/gorilla/context@234fd47e07d1004f0aed9c#/api/./"],
        ]
        for group in groups {
            let forms = Set(group.compactMap { canonical($0) })
            XCTAssertEqual(forms.count, 1, "\(group) -> \(forms)")
        }
        XCTAssertEqual(canonical("pkg:deb/debian/libstdc++6@12.2.0-14?arch=amd64"), "pkg:deb/debian/libstdc%2B%2B6@12.2.0-14?arch=amd64")
        XCTAssertEqual(canonical("pkg:npm/@angular/core@17.0.0"), "pkg:npm/%40angular/core@17.0.0")
        XCTAssertEqual(canonical("pkg:pypi/Zope_Interface@6.0"), "pkg:pypi/zope-interface@6.0")
        XCTAssertEqual(canonical("pkg:deb/debian/attr@1:2.4.47-2%2bb1?arch=source"), "pkg:deb/debian/attr@1:2.4.47-2%2Bb1?arch=source")
        XCTAssertEqual(canonical("pkg:generic/bitwarderl?vcs_url=git%2Bhttps://git.fsfe.org/dxtr/bitwarderl%40cc55108da32"),
                       "pkg:generic/bitwarderl?vcs_url=git%2Bhttps:%2F%2Fgit.fsfe.org%2Fdxtr%2Fbitwarderl%40cc55108da32")
        // Case-sensitive types keep their case.
        XCTAssertEqual(canonical("pkg:maven/org.Apache/Batik-Anim@1.9.1"), "pkg:maven/org.Apache/Batik-Anim@1.9.1")
        XCTAssertNotEqual(canonical("pkg:maven/org.apache/batik"), canonical("pkg:maven/org.Apache/Batik"))
        // The identity leaves out version, qualifiers and subpath.
        XCTAssertEqual(try PackageURL(parsing: "pkg:npm/%40Angular/core@17?x=1#a/b").identity, "pkg:npm/%40angular/core")
    }

    /// Hostile purls are refused with a reason, never a crash.
    func testHostilePurlsAreRefusedWithAReason() {
        let cases: [(String, String)] = [
            ("pkg:npm/" + String(repeating: "a", count: 5000), "too long (5008 bytes; at most 4096)"),
            ("pkg:npm/a%zz@1", "bad percent escape in the namespace or name at `%zz`"),
            ("pkg:npm/a%2", "bad percent escape in the namespace or name at `%2`"),
            ("pkg:npm/a@1%", "bad percent escape in the version at `%`"),
            ("pkg:npm/a%00b@1", "%00 (NUL) in the namespace or name"),
            ("pkg:npm/a\u{0}b@1", "control character 0x0 at byte 10"),
            ("pkg:npm/a\nb", "control character 0xa at byte 10"),
            ("pkg:npm/%ff%fe@1", "the namespace or name is not UTF-8 once decoded"),
            ("npm/a@1", "does not start with pkg:"),
            ("pkg:npm", "no name after the type"),
            ("pkg:npm/", "no name after the type"),
            ("pkg:1npm/a", "bad type `1npm`"),
            ("pkg:n%70m/a", "bad type `n%70m`"),
            ("pkg:npm/a?x", "qualifier without `=`: x"),
            ("pkg:npm/a?a=1&A=2", "qualifier `a` given twice"),
            ("pkg:npm/a?b%20c=1", "bad qualifier key `b%20c`"),
            ("", "does not start with pkg:"),
            ("pkg:", "no name after the type"),
        ]
        for (text, reason) in cases {
            XCTAssertThrowsError(try PackageURL(parsing: text), text.debugDescription) { error in
                XCTAssertEqual("\(error)", reason, text.prefix(60).debugDescription)
            }
        }
        // Every prefix of every valid purl above parses or is refused: no trap on any cut.
        for text in ["pkg:deb/debian/libstdc%2B%2B6@12.2.0-14?arch=amd64#a/b", "pkg:npm/%40angular/core@17.0.0?vcs_url=git%2Bx"] {
            for n in 0...text.utf8.count {
                _ = try? PackageURL(parsing: String(decoding: text.utf8.prefix(n), as: UTF8.self))
            }
        }
    }
}
