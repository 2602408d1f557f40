@testable import ProbityContracts
import XCTest

/// The prefix trie only chooses which patterns are matched in full: a list tried through it must
/// give the very pattern a plain scan in order gives, for every path.
final class LiteralPrefixTrieTests: XCTestCase {
    /// Patterns that share long beginnings, end their literal part mid-segment, at a separator,
    /// at the root, repeat one another, and match the same paths in a different order.
    static let patterns = [
        "/home/runner/.ssh/**", "/home/runner/.aws/credentials", "/home/*/.ssh/**", "/root/.ssh/id_*",
        "/home/runner/.ssh/id_rsa", "/home/runner/.s*/**", "/**", "/home/runner/.ssh/**", "/tmp/**",
        "/tmp", "/t*/x", "/home/runner/work/app/app/**", "/home/runner/work/**/node_modules/.bin/*",
        "/etc/cron.*/**", "/etc/crontab", "/etc/ssh/ssh_host_*_key", "/proc/*/environ", "/proc/*/mem",
        "/home/runner/.config/autostart/*.desktop", "/home/ru?ner/.netrc", "/h", "/home/runner/.ssh",
    ]
    static let paths = [
        "/", "/h", "/home", "/home/runner", "/home/runner/.ssh", "/home/runner/.ssh/id_rsa",
        "/home/runner/.ssh/id_rsa.pub", "/home/runner/.sshx/id_rsa", "/home/runner/.aws/credentials",
        "/home/runner/.aws/credentialsx", "/home/dev/.ssh/config", "/root/.ssh/id_ed25519", "/root/.ssh",
        "/tmp", "/tmpx", "/tmp/x", "/tmp/a/b", "/tx/x", "/home/runner/work/app/app/src/main.c",
        "/home/runner/work/x/y/node_modules/.bin/tsc", "/etc/cron.d/job", "/etc/crontab",
        "/etc/ssh/ssh_host_ed25519_key", "/etc/ssh/ssh_host_ed25519_key.pub", "/proc/42/environ",
        "/proc/42/mem", "/proc/42/maps", "/home/runner/.config/autostart/evil.desktop", "/home/runner/.netrc",
        "/home/runner/.net", "/home/runner/.ssh/../.aws/credentials", "/hx",
    ]

    func testTheTrieChoosesWhatAScanInOrderChooses() {
        let variables = ContractVariables(homes: ["/home/runner"], temporaryDirectories: ["/tmp"], workspace: "/w")
        var rng = SystemRandomNumberGenerator()
        var compared = 0
        for round in 0..<200 {
            // Every order and sublist the rounds draw, the first round the list as written.
            var texts = Self.patterns
            if round > 0 { texts = Array(texts.shuffled(using: &rng).prefix(Int.random(in: 1...texts.count, using: &rng))) }
            let compiled = CompiledPatterns(texts: texts, variables: variables)
            for path in Self.paths {
                var text = path
                let (got, expected) = text.withUTF8 { bytes -> (String?, String?) in
                    let segments = PathSegments(bytes)
                    let scan = compiled.absolute.first { $0.matches(segments) }
                    return (compiled.firstMatch(segments, packageRoot: nil)?.pattern, scan?.pattern)
                }
                XCTAssertEqual(got, expected, "\(path) against \(texts)")
                compared += 1
            }
        }
        XCTAssertEqual(compared, 200 * Self.paths.count)
    }

    func testAPathThatMatchesNothingGetsNothing() {
        let variables = ContractVariables(homes: ["/home/runner"], temporaryDirectories: ["/tmp"], workspace: "/w")
        let compiled = CompiledPatterns(texts: ["/home/runner/.ssh/**", "/etc/shadow"], variables: variables)
        for path in ["/home/runner/.sshkeys", "/etc/shadow-", "/etc", "/home/runner/.ss", ""] {
            var text = path
            XCTAssertNil(text.withUTF8 { compiled.firstMatch(PathSegments($0), packageRoot: nil) }, path)
        }
    }
}
