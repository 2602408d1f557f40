#if canImport(Glibc)
import Glibc
#endif
import Foundation
import XCTest

/// SARIF that code scanning can place: a result points at the line of the checkout's manifest
/// that brought the misbehaving package in (package.json for an npm package, requirements.txt
/// for a Python sdist), relative to `%SRCROOT%`; the file acted on (~/.ssh, outside the
/// checkout) is in the message and a related location; rules carry help and a help URI.
extension RunCommandTests {
    func testSARIFLocationsPointIntoTheCheckout() throws {
        let dir = try Kernel.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let checkout = dir + "/checkout", home = dir + "/home", pkgs = checkout + "/pkgs"
        for d in [checkout + "/.git", home + "/.ssh", home + "/.aws", pkgs] {
            try FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
        }
        try "key".write(toFile: home + "/.ssh/id_rsa", atomically: true, encoding: .utf8)
        try "[default]\n".write(toFile: home + "/.aws/credentials", atomically: true, encoding: .utf8)
        // The packages, built offline as the demo builds them.
        let fixtures = repository.appendingPathComponent("Tests/Fixtures/demo").path
        let wheels = repository.appendingPathComponent(".build/demo-wheels").path
        let build = """
            set -e
            cp -r \(fixtures)/evil-hook \(dir)/evil-hook
            cd \(pkgs) && npm pack --silent \(dir)/evil-hook >/dev/null
            mkdir -p \(dir)/sdist/evil-setup-0.4.0 && cp \(fixtures)/evil-setup/setup.py \(dir)/sdist/evil-setup-0.4.0/
            printf 'Metadata-Version: 2.1\\nName: evil-setup\\nVersion: 0.4.0\\n' > \(dir)/sdist/evil-setup-0.4.0/PKG-INFO
            tar -C \(dir)/sdist -czf \(pkgs)/evil-setup-0.4.0.tar.gz evil-setup-0.4.0
            ls \(wheels)/setuptools-*.whl \(wheels)/wheel-*.whl >/dev/null 2>&1 || python3 -m pip download -q --dest \(wheels) setuptools wheel
            """
        XCTAssertEqual(try Kernel.output("/bin/bash", ["-c", build], mergeErrors: true).status, 0)
        try """
            {
              "name": "checkout-app",
              "version": "1.0.0",
              "private": true,
              "dependencies": {
                "evil-hook": "file:pkgs/evil-hook-1.0.0.tgz"
              }
            }

            """.write(toFile: checkout + "/package.json", atomically: true, encoding: .utf8)
        try "# what the build installs\n./pkgs/evil-setup-0.4.0.tar.gz\n".write(toFile: checkout + "/requirements.txt", atomically: true, encoding: .utf8)

        let report = dir + "/report"
        let run = try ProbityCommand.run([
            "run", "--report", report, "--", "/bin/sh", "-c",
            "npm install --offline --no-audit --no-fund >/dev/null 2>&1; python3 -m pip install -q --no-index --find-links \(wheels) --target pylib -r requirements.txt >/dev/null 2>&1; true",
        ], environment: ["HOME": home, "DEMO_TEST_HOST": "127.0.0.1", "DEMO_RUNNER_PID": "1"], directory: checkout)
        XCTAssertEqual(run.status, 86, run.stderr)
        try validateSARIF(report + "/report.sarif")

        let sarif = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: report + "/report.sarif"))) as? [String: Any])
        let runs = try XCTUnwrap(sarif["runs"] as? [[String: Any]])
        let base = (runs.first?["originalUriBaseIds"] as? [String: Any])?["%SRCROOT%"] as? [String: Any]
        XCTAssertEqual(base?["uri"] as? String, URL(fileURLWithPath: checkout, isDirectory: true).absoluteString)
        let driver = try XCTUnwrap((runs.first?["tool"] as? [String: Any])?["driver"] as? [String: Any])
        XCTAssertEqual(driver["informationUri"] as? String, "https://github.com/probity/probity")
        for rule in driver["rules"] as? [[String: Any]] ?? [] {
            XCTAssertFalse(((rule["help"] as? [String: Any])?["text"] as? String ?? "").isEmpty, "\(rule)")
            XCTAssertTrue((rule["helpUri"] as? String ?? "").hasPrefix("https://github.com/probity/probity/blob/main/docs/"), "\(rule)")
        }

        let manifest = try String(contentsOfFile: checkout + "/package.json", encoding: .utf8).components(separatedBy: "\n")
        let hookLine = try XCTUnwrap(manifest.firstIndex { $0.contains("\"evil-hook\"") }) + 1
        var placed: [String: Set<String>] = [:]
        for result in runs.first?["results"] as? [[String: Any]] ?? [] {
            let message = (result["message"] as? [String: Any])?["text"] as? String ?? ""
            let location = try XCTUnwrap((result["locations"] as? [[String: Any]])?.first?["physicalLocation"] as? [String: Any], message)
            let artifact = location["artifactLocation"] as? [String: Any] ?? [:]
            XCTAssertEqual(artifact["uriBaseId"] as? String, "%SRCROOT%", "every result points into the checkout: \(result)")
            let line = (location["region"] as? [String: Any])?["startLine"] as? Int
            let package = (result["properties"] as? [String: Any])?["package"] as? String ?? ""
            placed[package, default: []].insert("\(artifact["uri"] as? String ?? ""):\(line.map(String.init) ?? "-")")
            if (result["ruleId"] as? String) == "default/credential-read" {
                XCTAssertTrue(message.contains("/.ssh/id_rsa") || message.contains("/.aws/credentials"), "the file acted on is in the message: \(message)")
                let related = result["relatedLocations"] as? [[String: Any]] ?? []
                XCTAssertTrue(related.contains { (($0["physicalLocation"] as? [String: Any])?["artifactLocation"] as? [String: Any])?["uri"] as? String ?? "" == URL(fileURLWithPath: home).absoluteString + ".ssh/id_rsa" || ($0["message"] as? [String: Any])?["text"] as? String == "the file acted on (open)" }, "\(related)")
            }
        }
        XCTAssertEqual(placed["evil-hook@1.0.0"], ["package.json:\(hookLine)"], "\(placed)")
        XCTAssertEqual(placed["evil-setup@0.4.0"], ["requirements.txt:2"], "\(placed)")
    }
}
