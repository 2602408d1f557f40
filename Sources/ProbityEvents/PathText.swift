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
        isNormal(path) ? path : normalizeBySplitting(path)
    }

    /// ``normalize(_:)`` for a path that needs it: split on `/`, resolve, join.
    static func normalizeBySplitting(_ path: String) -> String {
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

    /// Whether `path` is already what ``normalize(_:)`` returns: no empty, `.` or `..`
    /// component and no trailing `/` (except the root itself). One pass over the bytes, so
    /// that the common case (a path already clean) costs no splitting and joining.
    static func isNormal(_ path: String) -> Bool {
        if let answer = path.utf8.withContiguousStorageIfAvailable({ isNormal(bytes: $0) }) { return answer }
        return Array(path.utf8).withUnsafeBufferPointer { isNormal(bytes: $0) }
    }

    private static func isNormal(bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        let slash = UInt8(ascii: "/"), dot = UInt8(ascii: ".")
        if bytes.isEmpty { return true }
        if bytes.count == 1 { return bytes[0] != dot }
        if bytes[bytes.count - 1] == slash { return false }
        var componentStart = 0
        var index = 0
        while index <= bytes.count {
            if index == bytes.count || bytes[index] == slash {
                let length = index - componentStart
                if index < bytes.count || length > 0 {
                    // An empty component is only allowed as the leading one of an absolute path.
                    if length == 0 && componentStart != 0 { return false }
                    if length == 1 && bytes[componentStart] == dot { return false }
                    if length == 2 && bytes[componentStart] == dot && bytes[componentStart + 1] == dot { return false }
                }
                componentStart = index + 1
            }
            index += 1
        }
        return true
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
