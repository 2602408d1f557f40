/// Takes secrets out of command lines and the environment values an exec keeps, before anything
/// stores or shows them: a token passed as `--token X`, `--password=X`, `API_KEY=X`, an
/// `Authorization:` header, a URL's `user:password@`, or a token of a well-known format
/// (GitHub, GitLab, npm, Slack, AWS access keys, JSON web tokens). The secret becomes `***`; the
/// name around it stays, so the report still says what was passed.
///
/// Applied where argv enters Probity (the exec decoder and the `/proc` seeding), so events,
/// the process table, violations, the store and every report see the same redacted text. It
/// redacts more than it must rather than less: `--token-file x` loses `x`.
public enum SecretRedaction {
    /// What a secret is replaced with.
    public static let mask = "***"

    /// `argv` with its secrets masked; a flag that names a secret masks the next argument too.
    public static func redact(_ argv: [String]) -> [String] {
        guard argv.contains(where: mayHoldSecret) else { return argv }
        var state = State()
        return argv.map { redact($0, state: &state) }
    }

    /// One text (an environment value, a shell command) with its secrets masked.
    public static func redact(_ text: String) -> String {
        guard mayHoldSecret(text) else { return text }
        var state = State()
        return redact(text, state: &state)
    }

    // MARK: - How

    /// What a word leaves for the next one.
    struct State {
        /// The next word is a secret (it follows `--password`, or `Authorization:` and a scheme).
        var nextIsSecret = false
        /// The next word may be an authorization scheme (`Bearer`) to keep before the secret.
        var nextMayBeScheme = false
    }

    /// A quick look for anything a rule below could match (most arguments have none of it).
    static func mayHoldSecret(_ text: String) -> Bool {
        var text = text
        return text.withUTF8 { bytes in
            guard bytes.count >= 3 else { return false }
            for i in 0..<bytes.count {
                if bytes[i] == UInt8(ascii: ":") {
                    if i + 2 < bytes.count, bytes[i + 1] == UInt8(ascii: "/"), bytes[i + 2] == UInt8(ascii: "/") { return true }
                } else if triggers.contains(where: { hasLowercasePrefix(bytes, at: i, $0) }) {
                    return true
                }
            }
            return false
        }
    }

    /// What any rule needs to see somewhere in the text (lowercase; `://` apart).
    static let triggers: [[UInt8]] = [
        "pass", "token", "secret", "key", "auth", "cookie", "credential", "ghp_", "gho_", "ghu_", "ghs_", "ghr_",
        "github_pat_", "glpat-", "xox", "akia", "asia", "npm_", "eyj", "sk-",
    ].map { Array($0.utf8) }

    /// Words of a name (a flag or a variable) that say its value is a secret.
    static let secretNameWords: [[UInt8]] = [
        "password", "passwd", "passphrase", "token", "secret", "apikey", "api-key", "api_key", "accesskey", "access-key",
        "access_key", "privatekey", "private-key", "private_key", "credential", "authorization", "client-key", "client_key",
    ].map { Array($0.utf8) }

    /// Headers whose value is a secret.
    static let secretHeaders: [[UInt8]] = [
        "authorization:", "proxy-authorization:", "cookie:", "x-api-key:", "private-token:", "x-auth-token:", "job-token:",
    ].map { Array($0.utf8) }

    /// Authorization schemes kept in front of the secret.
    static let schemes: [[UInt8]] = ["bearer", "basic", "token", "digest", "negotiate"].map { Array($0.utf8) }

    /// Prefixes of well-known token formats and the least number of token characters after them.
    static let tokenPrefixes: [(prefix: [UInt8], minimum: Int)] = [
        ("ghp_", 20), ("gho_", 20), ("ghu_", 20), ("ghs_", 20), ("ghr_", 20), ("github_pat_", 20), ("glpat-", 16),
        ("xoxb-", 10), ("xoxp-", 10), ("xoxa-", 10), ("xoxr-", 10), ("xoxs-", 10), ("npm_", 30), ("AKIA", 16), ("ASIA", 16),
        ("sk-", 20),
    ].map { (Array($0.0.utf8), $0.1) }

    static func redact(_ text: String, state: inout State) -> String {
        var bytes = Array(text.utf8)
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var changed = false
        var i = 0
        while i < bytes.count {
            // Separators pass unchanged: white space, and quotes (a shell command's words).
            if isSeparator(bytes[i]) {
                out.append(bytes[i])
                i += 1
                continue
            }
            var end = i
            while end < bytes.count && !isSeparator(bytes[end]) { end += 1 }
            let word = Array(bytes[i..<end])
            let redacted = redactWord(word, state: &state)
            if redacted != word { changed = true }
            out += redacted
            i = end
        }
        if !changed { return text }
        bytes = out
        return String(decoding: bytes, as: UTF8.self)
    }

    static func isSeparator(_ b: UInt8) -> Bool {
        b == UInt8(ascii: " ") || b == UInt8(ascii: "\t") || b == UInt8(ascii: "\n") || b == UInt8(ascii: "\r")
            || b == UInt8(ascii: "'") || b == UInt8(ascii: "\"") || b == UInt8(ascii: "`")
    }

    static let maskBytes = Array(mask.utf8)

    /// One word: masked whole when the state says so, else its secret parts.
    static func redactWord(_ word: [UInt8], state: inout State) -> [UInt8] {
        if state.nextMayBeScheme {
            state.nextMayBeScheme = false
            if schemes.contains(where: { $0.count == word.count && hasLowercasePrefix(word, at: 0, $0) }) {
                state.nextIsSecret = true
                return word
            }
            return maskBytes
        }
        if state.nextIsSecret {
            state.nextIsSecret = false
            // A flag where a value was expected: the flag had none (`--password --verbose`).
            if word.first != UInt8(ascii: "-") { return maskBytes }
        }
        // `Authorization: Bearer x`: the header's name, then maybe a scheme, then the secret.
        if secretHeaders.contains(where: { word.count >= $0.count && hasLowercasePrefix(word, at: word.count - $0.count, $0) }) {
            state.nextMayBeScheme = true
            return word
        }
        var word = word
        if let equals = word.firstIndex(of: UInt8(ascii: "=")) {
            // `--password=x`, `API_TOKEN=x`, `-c credential.helper=x`: the name says it.
            if namesSecret(word[..<equals]) {
                return Array(word[...equals]) + (equals + 1 < word.count ? maskBytes : [])
            }
        } else if word.first == UInt8(ascii: "-"), namesSecret(word[...]) {
            state.nextIsSecret = true
            return word
        }
        maskURLPassword(&word)
        maskTokens(&word)
        return word
    }

    /// Whether a flag's or variable's name holds a secret's name (any case), or is `auth` /
    /// ends in `_auth` or `-auth` (npm's `_auth`, `--http-auth`).
    static func namesSecret(_ name: ArraySlice<UInt8>) -> Bool {
        var trimmed = name
        while let first = trimmed.first, first == UInt8(ascii: "-") { trimmed = trimmed.dropFirst() }
        guard !trimmed.isEmpty else { return false }
        for i in trimmed.indices {
            for word in secretNameWords where hasLowercasePrefix(trimmed, at: i, word) { return true }
        }
        let lower = trimmed.map { $0 | (($0 >= 65 && $0 <= 90) ? 0x20 : 0) }
        let auth = Array("auth".utf8)
        return lower == auth || lower.suffix(5) == ArraySlice(Array("_auth".utf8)) || lower.suffix(5) == ArraySlice(Array("-auth".utf8))
    }

    /// `scheme://user:secret@host` → `scheme://user:***@host`.
    static func maskURLPassword(_ word: inout [UInt8]) {
        var searchFrom = 0
        while let scheme = find([UInt8(ascii: ":"), UInt8(ascii: "/"), UInt8(ascii: "/")], in: word, from: searchFrom) {
            let authorityStart = scheme + 3
            var authorityEnd = authorityStart
            while authorityEnd < word.count, word[authorityEnd] != UInt8(ascii: "/"), word[authorityEnd] != UInt8(ascii: "?"),
                  word[authorityEnd] != UInt8(ascii: "#") { authorityEnd += 1 }
            if let at = word[authorityStart..<authorityEnd].lastIndex(of: UInt8(ascii: "@")),
               let colon = word[authorityStart..<at].firstIndex(of: UInt8(ascii: ":")), colon + 1 < at {
                word.replaceSubrange((colon + 1)..<at, with: maskBytes)
                searchFrom = colon + 1 + maskBytes.count
            } else {
                searchFrom = authorityEnd
            }
        }
    }

    /// Known token formats anywhere in the word: the prefix stays, the rest is masked.
    static func maskTokens(_ word: inout [UInt8]) {
        var i = 0
        while i < word.count {
            defer { i += 1 }
            // A JSON web token: eyJ….eyJ….signature
            if hasLowercasePrefix(word, at: i, Array("eyj".utf8)), word[i] == UInt8(ascii: "e"), word[i + 2] == UInt8(ascii: "J") {
                var end = i
                var dots = 0
                while end < word.count, isTokenCharacter(word[end]) || word[end] == UInt8(ascii: ".") {
                    if word[end] == UInt8(ascii: ".") { dots += 1 }
                    end += 1
                }
                if dots == 2 && end - i >= 20 {
                    word.replaceSubrange(i..<end, with: maskBytes)
                    i += maskBytes.count - 1
                } else {
                    i = end - 1  // the run holds no token starting later either: never scanned twice
                }
                continue
            }
            guard i == 0 || !isTokenCharacter(word[i - 1]) else { continue }
            for (prefix, minimum) in tokenPrefixes where i + prefix.count <= word.count && word[i..<(i + prefix.count)].elementsEqual(prefix) {
                var end = i + prefix.count
                while end < word.count, isTokenCharacter(word[end]) { end += 1 }
                if end - i - prefix.count >= minimum {
                    word.replaceSubrange((i + prefix.count)..<end, with: maskBytes)
                    i += prefix.count + maskBytes.count - 1
                }
                break
            }
        }
    }

    static func isTokenCharacter(_ b: UInt8) -> Bool {
        (b >= 48 && b <= 57) || (b >= 65 && b <= 90) || (b >= 97 && b <= 122) || b == UInt8(ascii: "_") || b == UInt8(ascii: "-")
    }

    static func find(_ needle: [UInt8], in haystack: [UInt8], from start: Int) -> Int? {
        guard needle.count <= haystack.count, start <= haystack.count - needle.count else { return nil }
        for i in start...(haystack.count - needle.count) where haystack[i..<(i + needle.count)].elementsEqual(needle) { return i }
        return nil
    }

    /// Whether `bytes` holds `lowercasePrefix` at `index`, ignoring ASCII case.
    static func hasLowercasePrefix<C: RandomAccessCollection>(_ bytes: C, at index: C.Index, _ lowercasePrefix: [UInt8]) -> Bool
    where C.Element == UInt8, C.Index == Int {
        guard index >= bytes.startIndex, bytes.endIndex - index >= lowercasePrefix.count else { return false }
        for (k, b) in lowercasePrefix.enumerated() {
            let c = bytes[index + k]
            let lower = (c >= 65 && c <= 90) ? c | 0x20 : c
            if lower != b { return false }
        }
        return true
    }
}
