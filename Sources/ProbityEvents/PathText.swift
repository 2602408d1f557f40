/// Text out of kernel bytes: NUL-terminated strings, NUL-separated lists, dentry paths.
///
/// Bytes that are not valid UTF-8 are replaced with U+FFFD: event text is for people and
/// matchers; the kernel's bytes are not kept.
public enum PathText {
    /// A NUL-terminated (or unterminated) string.
    public static func string(_ bytes: UnsafeRawBufferPointer) -> String {
        var end = bytes.count
        if let nul = bytes.firstIndex(of: 0) { end = nul }
        return String(decoding: UnsafeRawBufferPointer(rebasing: bytes[0..<end]), as: UTF8.self)
    }

    /// NUL-separated strings (argv, environment). A trailing NUL does not add an empty string.
    public static func strings(_ bytes: UnsafeRawBufferPointer) -> [String] {
        var out: [String] = []
        var start = 0
        for i in 0..<bytes.count where bytes[i] == 0 {
            out.append(String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<i]), as: UTF8.self))
            start = i + 1
        }
        if start < bytes.count {
            out.append(String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<bytes.count]), as: UTF8.self))
        }
        return out
    }

    /// `relative` resolved against `directory`, normalised lexically (`.`, `..`, repeated `/`).
    /// An absolute `relative` is only normalised. An unknown directory (empty) leaves the path
    /// relative.
    public static func join(directory: String, relative: String) -> String {
        if relative.hasPrefix("/") { return normalize(relative) }
        if directory.isEmpty { return relative }
        return normalize(directory + "/" + relative)
    }

    /// Removes `.` and empty components and resolves `..` lexically. Keeps a leading `/`.
    public static func normalize(_ path: String) -> String {
        var parts: [Substring] = []
        for part in path.split(separator: "/", omittingEmptySubsequences: true) {
            switch part {
            case ".": continue
            case "..": if !parts.isEmpty { parts.removeLast() }
            default: parts.append(part)
            }
        }
        let joined = parts.joined(separator: "/")
        return path.hasPrefix("/") ? "/" + joined : joined
    }

    /// A `sun_path`: up to the first NUL, or, for the abstract namespace (the kernel side marks
    /// it with a leading '@'), the whole name with trailing NULs removed.
    public static func unixSocketPath(_ bytes: UnsafeRawBufferPointer) -> String {
        guard let first = bytes.first else { return "" }
        if first == UInt8(ascii: "@") {
            var end = bytes.count
            while end > 1 && bytes[end - 1] == 0 { end -= 1 }
            return String(decoding: UnsafeRawBufferPointer(rebasing: bytes[0..<end]), as: UTF8.self)
        }
        return string(bytes)
    }
}
