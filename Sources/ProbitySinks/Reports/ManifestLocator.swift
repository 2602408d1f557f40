#if canImport(Glibc)
import Glibc
#endif
import Foundation
import ProbityContracts

/// Where in the repository a violation belongs, for code scanning: the line of the manifest or
/// lock file that brought the package in (`package.json`, `package-lock.json`, `yarn.lock`,
/// `requirements*.txt`, `pyproject.toml`, `setup.cfg`, `Pipfile`, `poetry.lock`), or, for the
/// workspace's own code, the script in the repository that a process of the chain ran.
///
/// The repository is data the code under watch may have written: files are read without
/// following links or blocking (a FIFO named `package.json` is passed over), at most
/// ``maximumBytes`` each, ``maximumFiles`` in all, ``maximumDepth`` directories down.
public struct ManifestLocator {
    /// A place in the repository: a path relative to its root, and a line (1-based).
    public struct Place: Equatable, Sendable {
        public var path: String
        public var line: Int?
    }

    public static let maximumBytes = 4 << 20
    public static let maximumFiles = 400
    public static let maximumDepth = 4

    /// The repository's root, without a trailing slash.
    public let root: String
    /// The manifests found, by relative path, in the order they are tried (shallow first).
    private(set) var manifests: [(path: String, lines: [Substring])] = []

    /// Finds and reads the manifests under `root`.
    public init(root: String) {
        self.root = root.count > 1 && root.hasSuffix("/") ? String(root.dropLast()) : root
        var files = 0
        scan("", depth: 0, files: &files)
    }

    /// The repository that holds `directory`: the nearest directory up from it with a `.git`,
    /// else `directory` itself.
    public static func repositoryRoot(containing directory: String) -> String {
        var current = directory
        while current.count > 1 {
            var info = stat()
            if lstat(current + "/.git", &info) == 0 { return current }
            guard let slash = current.lastIndex(of: "/") else { break }
            current = slash == current.startIndex ? "/" : String(current[..<slash])
        }
        return directory
    }

    /// The manifest line that names `package`, or nil.
    public func place(of package: PackageReference) -> Place? {
        let kinds: [(String) -> Bool]
        switch package.ecosystem {
        case "npm": kinds = [{ $0 == "package.json" }, { $0 == "package-lock.json" || $0 == "npm-shrinkwrap.json" }, { $0 == "yarn.lock" || $0 == "pnpm-lock.yaml" }]
        case "pypi": kinds = [{ $0.hasPrefix("requirements") && $0.hasSuffix(".txt") }, { ["pyproject.toml", "setup.cfg", "setup.py", "Pipfile"].contains($0) }, { $0 == "poetry.lock" || $0 == "Pipfile.lock" }]
        default: return nil
        }
        for isKind in kinds {
            for manifest in manifests where isKind(Self.name(of: manifest.path)) {
                if let line = Self.line(naming: package, in: manifest.lines, file: Self.name(of: manifest.path)) {
                    return Place(path: manifest.path, line: line)
                }
            }
        }
        return nil
    }

    /// The script inside the repository that a process of the chain ran (`bash build.sh`,
    /// `node scripts/postinstall.js`, `./run.sh`): the nearest process first.
    public func script(in processes: [ProcessLink]) -> Place? {
        for process in processes {
            for argument in process.argv where !argument.isEmpty && !argument.hasPrefix("-") {
                guard let relative = relativePath(argument), isRegularFile(root + "/" + relative) else { continue }
                return Place(path: relative, line: nil)
            }
        }
        return nil
    }

    /// `path` relative to the root, when it lies inside it (absolute, or relative to the root).
    public func relativePath(_ path: String) -> String? {
        var absolute = path.hasPrefix("/") ? path : root + "/" + path
        while absolute.contains("//") { absolute = absolute.replacingOccurrences(of: "//", with: "/") }
        let parts = absolute.split(separator: "/", omittingEmptySubsequences: true)
        var normal: [Substring] = []
        for part in parts {
            if part == "." { continue }
            if part == ".." { if !normal.isEmpty { normal.removeLast() }; continue }
            normal.append(part)
        }
        let rootParts = root.split(separator: "/", omittingEmptySubsequences: true)
        guard normal.count > rootParts.count, Array(normal.prefix(rootParts.count)) == rootParts else { return nil }
        return normal.dropFirst(rootParts.count).joined(separator: "/")
    }

    // MARK: - Finding and reading

    static let manifestNames: Set<String> = [
        "package.json", "package-lock.json", "npm-shrinkwrap.json", "yarn.lock", "pnpm-lock.yaml",
        "pyproject.toml", "setup.cfg", "setup.py", "Pipfile", "Pipfile.lock", "poetry.lock",
    ]
    /// Directories that hold what was installed, not what the project asked for.
    static let skipped: Set<String> = ["node_modules", ".git", "site-packages", "dist-packages", "__pycache__", ".venv", "venv", ".tox", ".build"]

    static func isManifest(_ name: String) -> Bool {
        manifestNames.contains(name) || (name.hasPrefix("requirements") && name.hasSuffix(".txt"))
    }

    static func name(of path: String) -> String { path.split(separator: "/").last.map(String.init) ?? path }

    private mutating func scan(_ relative: String, depth: Int, files: inout Int) {
        let directory = relative.isEmpty ? root : root + "/" + relative
        guard let dir = opendir(directory) else { return }
        defer { closedir(dir) }
        var names: [(String, Bool)] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if name == "." || name == ".." { continue }
            names.append((name, entry.pointee.d_type == UInt8(DT_DIR)))
        }
        var subdirectories: [String] = []
        for (name, isDirectory) in names.sorted(by: { $0.0 < $1.0 }) {
            let path = relative.isEmpty ? name : relative + "/" + name
            if isDirectory {
                if depth < Self.maximumDepth && !Self.skipped.contains(name) && !name.hasPrefix(".") { subdirectories.append(path) }
            } else if Self.isManifest(name), files < Self.maximumFiles, let text = Self.readRegularFile(root + "/" + path) {
                files += 1
                manifests.append((path, text.split(separator: "\n", omittingEmptySubsequences: false)))
            }
        }
        for subdirectory in subdirectories where files < Self.maximumFiles { scan(subdirectory, depth: depth + 1, files: &files) }
    }

    /// A regular file's text: not through a link, never blocking, at most ``maximumBytes``.
    static func readRegularFile(_ path: String) -> String? {
        let fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0, info.st_mode & S_IFMT == S_IFREG, Int(info.st_size) <= maximumBytes else { return nil }
        var bytes = [UInt8](repeating: 0, count: Int(info.st_size) + 1)
        var count = 0
        while count < bytes.count {
            let n = bytes.withUnsafeMutableBytes { read(fd, $0.baseAddress! + count, $0.count - count) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            count += n
        }
        guard count <= maximumBytes else { return nil }
        return String(decoding: bytes[0..<count], as: UTF8.self)
    }

    private func isRegularFile(_ path: String) -> Bool {
        var info = stat()
        return lstat(path, &info) == 0 && info.st_mode & S_IFMT == S_IFREG
    }

    // MARK: - Matching a package's name

    /// The 1-based line of `lines` (a file named `file`) that names `package`.
    static func line(naming package: PackageReference, in lines: [Substring], file: String) -> Int? {
        let pypi = package.ecosystem == "pypi"
        let wanted = pypi ? normalisedPythonName(package.name) : package.name
        for (i, line) in lines.enumerated() {
            let text = line.trimmingCharacters(in: .whitespaces)
            if text.hasPrefix("#") { continue }
            if pypi ? namesPythonPackage(text, wanted) : namesNodePackage(text, package.name, file: file) { return i + 1 }
        }
        return nil
    }

    /// `"name": ...` (package.json, lock files), `"node_modules/name"` (package-lock), `name@`
    /// (yarn.lock, pnpm).
    static func namesNodePackage(_ text: String, _ name: String, file: String) -> Bool {
        if text.hasPrefix("\"\(name)\"") && text.dropFirst(name.count + 2).trimmingCharacters(in: .whitespaces).hasPrefix(":") {
            // package.json's own `"name": "x"` field is the project, not a dependency.
            return name != "name" && name != "version"
        }
        if text.contains("\"node_modules/\(name)\"") || text.hasSuffix("node_modules/\(name)\": {") { return true }
        if file == "yarn.lock" || file == "pnpm-lock.yaml" {
            let bare = text.hasPrefix("\"") ? String(text.dropFirst()) : text
            return bare.hasPrefix("\(name)@") || bare.hasPrefix("/\(name)@") || bare.hasPrefix("/\(name)/")
        }
        return false
    }

    /// A requirement naming the package (`evil-setup==0.4`, `Evil_Setup[x] >= 1`, `"evil-setup>=1",`
    /// in pyproject, `name = "evil-setup"` in poetry.lock), or a path or URL to its sdist or wheel
    /// (`./src/evil-setup-0.4.0.tar.gz`, `evil_setup-0.4.0-py3-none-any.whl`).
    static func namesPythonPackage(_ text: String, _ normalised: String) -> Bool {
        var body = Substring(text)
        if let eq = body.firstIndex(of: "="), body[..<eq].trimmingCharacters(in: .whitespaces) == "name" {
            body = body[body.index(after: eq)...]
        }
        let trimmed = body.trimmingCharacters(in: CharacterSet(charactersIn: " \t\"',[]"))
        let requirementName = trimmed.prefix { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" || $0 == "." }
        if !requirementName.isEmpty, normalisedPythonName(String(requirementName)) == normalised {
            let rest = trimmed.dropFirst(requirementName.count).first
            if rest == nil || " <>=!~;[@(\"',".contains(rest!) { return true }
        }
        // A file or URL: its last segment starts with the name and a version.
        for word in text.split(whereSeparator: { " \t\"',".contains($0) }) {
            guard let last = word.split(separator: "/").last, last.hasSuffix(".tar.gz") || last.hasSuffix(".whl") || last.hasSuffix(".zip") else { continue }
            let parts = last.split(separator: "-")
            for k in 1..<max(parts.count, 1) where parts[k].first?.isNumber == true {
                if normalisedPythonName(parts[..<k].joined(separator: "-")) == normalised { return true }
                break
            }
        }
        return false
    }

    /// PEP 503: lowercase, runs of `-`, `_` and `.` as one `-`.
    static func normalisedPythonName(_ name: String) -> String {
        var out = ""
        var lastWasSeparator = false
        for c in name.lowercased() {
            if c == "-" || c == "_" || c == "." {
                if !lastWasSeparator { out.append("-") }
                lastWasSeparator = true
            } else {
                out.append(c)
                lastWasSeparator = false
            }
        }
        return out
    }
}
