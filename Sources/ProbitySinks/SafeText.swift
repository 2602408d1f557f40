/// Neutralisers for text that came from the code under watch (paths, argv, package names,
/// messages that quote them) on its way into a terminal, a log, Markdown, XML or SARIF.
///
/// Every writer of text for people routes the values it did not compose itself through one of
/// these; its own structure (separators, newlines between records, markup) is added around them.
/// JSON writers need none of this: their encoders escape every control character.

/// Text a terminal or a log viewer shows and does not act on.
///
/// ``safe(_:)`` renders visibly, as an escape, every character that a terminal would interpret
/// rather than show, or that would make the text look like something else:
///
/// - C0 controls (U+0000–U+001F, among them ESC, which starts CSI and OSC sequences, BEL and
///   CR), DEL (U+007F) and C1 controls (U+0080–U+009F, among them CSI U+009B, OSC U+009D and
///   ST U+009C): `\n`, `\r`, `\t`, else `\xHH` (`\x1b`, `\x9b`);
/// - the Unicode line and paragraph separators and the bidirectional formatting characters
///   (U+061C, U+200E, U+200F, U+2028, U+2029, U+202A–U+202E, U+2066–U+2069), which reorder
///   or break what is shown: `\u{202e}`;
/// - the backslash itself, as `\\`, so that an escape in the output always stands for a
///   neutralised character.
///
/// Once ESC, CSI and OSC's introducers are shown as text, what followed them is plain text too:
/// no sequence survives. Everything else (letters in any script, punctuation, U+FFFD) is kept.
public enum TerminalText {
    /// `text` with every character listed above rendered as its escape. One line, whatever `text` holds.
    public static func safe(_ text: String) -> String {
        if isPlainASCII(text) { return text }
        var out = ""
        out.reserveCapacity(text.utf8.count + 8)
        for scalar in text.unicodeScalars { append(scalar, to: &out) }
        return out
    }

    /// Bytes (a path as the kernel holds it) as text: valid UTF-8 as ``safe(_:)`` renders it, and
    /// each byte of an invalid sequence as `\xHH`.
    public static func safe(bytes: some Collection<UInt8>) -> String {
        var out = ""
        var parser = Unicode.UTF8.ForwardParser()
        var iterator = bytes.makeIterator()
        var position = bytes.startIndex
        while true {
            switch parser.parseScalar(from: &iterator) {
            case .valid(let encoded):
                append(Unicode.UTF8.decode(encoded), to: &out)
                position = bytes.index(position, offsetBy: encoded.count)
            case .error(let length):
                for byte in bytes[position...].prefix(length) { out += hexEscape(UInt32(byte)) }
                position = bytes.index(position, offsetBy: length)
            case .emptyInput:
                return out
            }
        }
    }

    /// Text of several lines composed by Probity (a summary, a list of problems): each line as
    /// ``safe(_:)`` renders it, the line feeds between them kept. Values that must not start a
    /// line of their own go through ``safe(_:)`` before they are composed into it.
    public static func lines(_ text: String) -> String {
        if isPlainASCII(text, allowingLineFeeds: true) { return text }
        var out = ""
        out.reserveCapacity(text.utf8.count + 8)
        // By scalar, not by Character: "\r\n" is one Character, and its CR must be shown.
        for scalar in text.unicodeScalars {
            if scalar == "\n" { out += "\n" } else { append(scalar, to: &out) }
        }
        return out
    }

    /// Whether ``safe(_:)`` changes `scalar`.
    public static func needsEscaping(_ scalar: Unicode.Scalar) -> Bool {
        let v = scalar.value
        switch v {
        case 0x5C, 0x00...0x1F, 0x7F...0x9F: return true
        case 0x061C, 0x200E, 0x200F, 0x2028, 0x2029, 0x202A...0x202E, 0x2066...0x2069: return true
        default: return false
        }
    }

    /// Printable ASCII without a backslash: the common case, returned as is.
    static func isPlainASCII(_ text: String, allowingLineFeeds: Bool = false) -> Bool {
        text.utf8.allSatisfy { ($0 >= 0x20 && $0 < 0x7F && $0 != 0x5C) || (allowingLineFeeds && $0 == 0x0A) }
    }

    private static func append(_ scalar: Unicode.Scalar, to out: inout String) {
        if needsEscaping(scalar) { out += escape(scalar) } else { out.unicodeScalars.append(scalar) }
    }

    /// `scalar` as its visible escape: `\\`, `\n`, `\r`, `\t`, `\xHH` up to U+00FF, else `\u{H…}`.
    static func escape(_ scalar: Unicode.Scalar) -> String {
        switch scalar {
        case "\\": "\\\\"
        case "\n": "\\n"
        case "\r": "\\r"
        case "\t": "\\t"
        default: scalar.value <= 0xFF ? hexEscape(scalar.value) : "\\u{\(String(scalar.value, radix: 16))}"
        }
    }

    private static func hexEscape(_ value: UInt32) -> String {
        let hex = String(value, radix: 16)
        return "\\x" + (hex.count < 2 ? "0" : "") + hex
    }
}

/// Text inside Markdown (GitHub-flavoured: `summary.md`, `$GITHUB_STEP_SUMMARY`) that stays
/// what it is: it cannot end its line, table cell or code span, open HTML (`<!--`, `<script>`),
/// an entity, a link, emphasis or a code span of its own.
public enum MarkdownText {
    /// `text` for inline Markdown, table cells included: controls rendered as ``TerminalText``
    /// does (so no CR or LF ends the line or the table row), `&`, `<` and `>` as entities, and
    /// the characters that start Markdown constructs (`\`, `` ` ``, `*`, `_`, `[`, `]`, `|`,
    /// `~`) escaped with a backslash. Rendered, it reads as ``TerminalText/safe(_:)`` prints it.
    public static func inline(_ text: String) -> String {
        var out = ""
        let safe = TerminalText.safe(text)
        out.reserveCapacity(safe.utf8.count + 8)
        for scalar in safe.unicodeScalars {
            switch scalar {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\\", "`", "*", "_", "[", "]", "|", "~":
                out += "\\"
                out.unicodeScalars.append(scalar)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out
    }

    /// `text` as a code span: fenced with one backtick more than the longest run of backticks it
    /// holds (padded with spaces when it starts or ends with one), controls rendered as
    /// ``TerminalText`` does. In a table cell (`inTable`), `|` is escaped, as GitHub's table
    /// parser requires even inside code. Inside code, `<`, `&` and `*` are shown as typed, so
    /// `<!--` stays in the file: the summary uses code spans only for names from the operator's
    /// own policies, and ``inline(_:)`` for everything the watched code wrote.
    public static func code(_ text: String, inTable: Bool = false) -> String {
        var content = ""
        for scalar in TerminalText.safe(text).unicodeScalars {
            if inTable && scalar == "|" { content += "\\" }
            content.unicodeScalars.append(scalar)
        }
        var longest = 0
        var run = 0
        for scalar in content.unicodeScalars {
            run = scalar == "`" ? run + 1 : 0
            longest = max(longest, run)
        }
        let fence = String(repeating: "`", count: longest + 1)
        let pad = content.isEmpty || content.hasPrefix("`") || content.hasSuffix("`")
            || (content.hasPrefix(" ") && content.hasSuffix(" "))
        return pad ? "\(fence) \(content) \(fence)" : "\(fence)\(content)\(fence)"
    }
}

/// Text inside XML 1.0 (`junit.xml`), in content or in an attribute value.
public enum XMLText {
    /// `text` with `&`, `<`, `>`, `"` and `'` as entities, tab, LF and CR as character
    /// references (so that attribute values keep them), and every other control character, which
    /// XML 1.0 forbids (C0) or discourages (DEL, C1), U+FFFE and U+FFFF, and the bidirectional and
    /// line-separator characters rendered visibly as ``TerminalText`` does (`\x1b`, `\u{202e}`):
    /// JUnit readers reject a document that holds C0 controls raw, and CI logs print the rest.
    public static func escape(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count + 8)
        for scalar in text.unicodeScalars {
            switch scalar {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&apos;"
            case "\t": out += "&#9;"
            case "\n": out += "&#10;"
            case "\r": out += "&#13;"
            default:
                let v = scalar.value
                if (TerminalText.needsEscaping(scalar) && scalar != "\\") || v == 0xFFFE || v == 0xFFFF {
                    out += TerminalText.escape(scalar)
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out
    }
}

/// Plain text of a SARIF message (`message.text`), which viewers show to people: controls
/// rendered as ``TerminalText`` does, and `\`, `[` and `]` escaped with a backslash, as SARIF
/// 2.1.0 (§3.11.6) requires of literal brackets, so that a value cannot form an embedded link.
public enum SARIFText {
    /// `text` as an inert SARIF plain-text message.
    public static func plain(_ text: String) -> String {
        var out = ""
        for scalar in TerminalText.safe(text).unicodeScalars {
            if scalar == "\\" || scalar == "[" || scalar == "]" { out += "\\" }
            out.unicodeScalars.append(scalar)
        }
        return out
    }
}
