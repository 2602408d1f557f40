/// Which environment variables an exec event keeps.
///
/// The kernel copies a new program's environment block (see `probity.h`); only variables that
/// say which package or build a process works for are kept, because attribution needs them
/// and nothing else in an environment (tokens, keys) belongs in an event.
public enum EnvironmentFilter {
    /// Variables kept when present. npm sets the `npm_*` ones for lifecycle scripts
    /// (`postinstall`); pip's PEP 517 build isolation and `pyproject_hooks` set the build ones.
    /// The dynamic loader's `LD_PRELOAD`, `LD_AUDIT` and `LD_LIBRARY_PATH` say whether a process
    /// runs its program's code only (contracts refuse a credential reader's exemption otherwise);
    /// their values are library paths, not secrets.
    public static let names: Set<String> = Set<String>([
        "npm_package_name", "npm_package_version", "npm_lifecycle_event", "npm_lifecycle_script", "npm_command",
        "npm_package_json", "_PYPROJECT_HOOKS_BUILD_BACKEND", "PEP517_BUILD_BACKEND", "PIP_BUILD_TRACKER",
    ]).union(loaderNames)

    /// The dynamic loader's variables that add code to a process or change where its libraries
    /// come from.
    public static let loaderNames: Set<String> = ["LD_PRELOAD", "LD_AUDIT", "LD_LIBRARY_PATH"]

    /// The kept `KEY=VALUE` strings of an environment block (NUL-separated). When the block was
    /// cut at its start, its first entry is partial and is skipped.
    public static func kept(from block: UnsafeRawBufferPointer, startsMidVariable: Bool) -> [String] {
        var out: [String] = []
        var start = 0
        var first = true
        for i in 0...block.count {
            guard i == block.count || block[i] == 0 else { continue }
            defer { start = i + 1; first = false }
            if first && startsMidVariable { continue }
            guard i > start, let eq = block[start..<i].firstIndex(of: UInt8(ascii: "=")) else { continue }
            let name = String(decoding: UnsafeRawBufferPointer(rebasing: block[start..<eq]), as: UTF8.self)
            if names.contains(name) {
                out.append(String(decoding: UnsafeRawBufferPointer(rebasing: block[start..<i]), as: UTF8.self))
            }
        }
        return out
    }
}
