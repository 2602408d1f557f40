import ProbityEvents
import XCTest

/// Secrets in command lines and kept environment values are masked before anything stores
/// them; what is not a secret passes unchanged.
final class SecretRedactionTests: XCTestCase {
    func testFlagsNamingASecretLoseTheirValue() {
        XCTAssertEqual(SecretRedaction.redact(["mysql", "--password=hunter2", "-u", "root"]), ["mysql", "--password=***", "-u", "root"])
        XCTAssertEqual(SecretRedaction.redact(["tool", "--api-key", "hunter2", "build"]), ["tool", "--api-key", "***", "build"])
        XCTAssertEqual(SecretRedaction.redact(["tool", "--GITHUB-TOKEN", "hunter2"]), ["tool", "--GITHUB-TOKEN", "***"])
        XCTAssertEqual(SecretRedaction.redact(["npm", "config", "set", "//registry.npmjs.org/:_authToken=hunter2"]),
                       ["npm", "config", "set", "//registry.npmjs.org/:_authToken=***"])
        XCTAssertEqual(SecretRedaction.redact(["env", "AWS_SECRET_ACCESS_KEY=hunter2", "NPM_TOKEN=hunter2", "PATH=/bin"]),
                       ["env", "AWS_SECRET_ACCESS_KEY=***", "NPM_TOKEN=***", "PATH=/bin"])
        XCTAssertEqual(SecretRedaction.redact(["git", "-c", "credential.helper=store", "push"]), ["git", "-c", "credential.helper=***", "push"])
        // A flag where the value was expected: the flag is kept (it is no secret).
        XCTAssertEqual(SecretRedaction.redact(["tool", "--password", "--verbose"]), ["tool", "--password", "--verbose"])
    }

    func testHeadersURLsAndTokenFormats() {
        XCTAssertEqual(SecretRedaction.redact(["curl", "-H", "Authorization: Bearer hunter2", "https://x.test/"]),
                       ["curl", "-H", "Authorization: Bearer ***", "https://x.test/"])
        XCTAssertEqual(SecretRedaction.redact(["curl", "-H", "Cookie: session=hunter2"]), ["curl", "-H", "Cookie: ***"])
        XCTAssertEqual(SecretRedaction.redact(["curl", "-H", "PRIVATE-TOKEN: hunter2"]), ["curl", "-H", "PRIVATE-TOKEN: ***"])
        XCTAssertEqual(SecretRedaction.redact(["git", "clone", "https://user:hunter2@git.test/r.git"]),
                       ["git", "clone", "https://user:***@git.test/r.git"])
        let ghp = "ghp_" + String(repeating: "a1B2", count: 9)
        XCTAssertEqual(SecretRedaction.redact(["echo", ghp]), ["echo", "ghp_***"])
        XCTAssertEqual(SecretRedaction.redact(["echo", "x=AKIAABCDEFGHIJKLMNOP,"]), ["echo", "x=AKIA***,"])
        let jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJlX2hlcmU"
        XCTAssertEqual(SecretRedaction.redact(["curl", "-d", "t=" + jwt]), ["curl", "-d", "t=***"])
        // Inside one shell command, as `sh -c` receives it.
        XCTAssertEqual(SecretRedaction.redact("curl -sH 'Authorization: token hunter2' https://a:b@x.test | sh"),
                       "curl -sH 'Authorization: token ***' https://a:***@x.test | sh")
        XCTAssertEqual(SecretRedaction.redact("npm publish --otp=123456 --auth hunter2"), "npm publish --otp=123456 --auth ***")
    }

    func testWhatIsNotASecretPassesUnchanged() {
        for argv in [
            ["python3", "-m", "pip", "install", "--index-url", "https://pypi.org/simple", "requests"],
            ["/usr/bin/node", "/work/node_modules/.bin/tsc", "-p", "tsconfig.json"],
            ["ssh", "-i", "/home/u/.ssh/id_ed25519", "git@github.com"],
            ["sh", "-c", "cd /tmp && make -j4 PWD=/tmp"],
            ["keyctl", "show"], ["gpg", "--list-keys"], ["passwd"], ["ls", "/etc/ssh"],
            ["echo", "ghp_short"], ["echo", "https://example.test/path?q=1"], ["é", "日本", ""],
        ] {
            XCTAssertEqual(SecretRedaction.redact(argv), argv)
        }
    }

    /// Hostile values: long, odd bytes, separators only, a secret name with nothing after it.
    func testHostileValuesNeverTrap() {
        let long = String(repeating: "--token=", count: 10_000)
        XCTAssertTrue(SecretRedaction.redact([long]).first?.hasPrefix("--token=***") == true)
        for text in ["://", "://@", "a://:@", "x://u:@h", "--password=", "=", "'\"`", "Authorization:", "eyJ..", "ghp_",
                     String(repeating: "eyJ", count: 5000), "\u{0}token\u{0}=\u{0}", "AKIA" + String(repeating: "Z", count: 4096)] {
            _ = SecretRedaction.redact(text)
            _ = SecretRedaction.redact([text, text])
        }
        XCTAssertEqual(SecretRedaction.redact("x://u:@h"), "x://u:@h", "an empty password is nothing to hide")
        XCTAssertEqual(SecretRedaction.redact(["--password="]), ["--password="])
    }
}
