#if canImport(Glibc)
import Glibc
#endif
import Foundation
import XCTest

/// Issue 9, item 1: paths are the objects, not the strings. Every other spelling of a credential
/// file or a temporary directory — a doubled slash, `/./`, `..`, a symlink, a relative path, a
/// directory descriptor, another open call, a hard link — gets the same verdict as the plain
/// one, in audit mode and in enforce mode, on the real kernel.
///
/// The reader is the machine's own Python outside any package (pyenv's), so it is judged by the
/// built-in `default` contract as code no package owns.
final class PathEvasionTests: XCTestCase {
    /// A fake home with a key, a symlink to its .ssh, a symlink to the key, and a hard link to it.
    private struct Scene {
        let dir: String
        var home: String { dir + "/home" }
        var key: String { home + "/.ssh/id_rsa" }

        init() throws {
            dir = try Kernel.temporaryDirectory()
            try FileManager.default.createDirectory(atPath: dir + "/home/.ssh", withIntermediateDirectories: true)
            try FileManager.default.createDirectory(atPath: dir + "/work", withIntermediateDirectories: true)
            try "-----BEGIN KEY-----\n".write(toFile: dir + "/home/.ssh/id_rsa", atomically: true, encoding: .utf8)
            symlink(dir + "/home/.ssh", dir + "/k")
            symlink(dir + "/home/.ssh/id_rsa", dir + "/innocent.txt")
            link(dir + "/home/.ssh/id_rsa", dir + "/hardlink.txt")
        }

        func remove() { try? FileManager.default.removeItem(atPath: dir) }
    }

    /// The spellings, as Python expressions run with `h` the home and `d` the scene's directory.
    /// Each opens the key for reading; the expression names the file or performs the open.
    private static let spellings: [(name: String, code: String)] = [
        ("plain", "os.open(h + '/.ssh/id_rsa', os.O_RDONLY)"),
        ("doubled slash", "os.open('/' + h + '//.ssh/id_rsa', os.O_RDONLY)"),
        ("dot segment", "os.open(h + '/./.ssh/./id_rsa', os.O_RDONLY)"),
        ("dot-dot", "os.open(h + '/.ssh/../.ssh/id_rsa', os.O_RDONLY)"),
        ("symlinked directory", "os.open(d + '/k/id_rsa', os.O_RDONLY)"),
        ("symlinked file", "os.open(d + '/innocent.txt', os.O_RDONLY)"),
        ("relative to the cwd", "(os.chdir(h + '/.ssh'), os.open('id_rsa', os.O_RDONLY))[1]"),
        ("relative to a dirfd", "os.open('.ssh/id_rsa', os.O_RDONLY, dir_fd=os.open(h, os.O_RDONLY | os.O_DIRECTORY))"),
        ("openat2", "openat2('/' + d + '/./k//id_rsa')"),
        ("legacy open(2)", "libc.syscall(2, (d + '//k/id_rsa').encode(), 0, 0)"),
    ]

    private static let prelude = """
        import ctypes, os, sys
        h, d = sys.argv[1], sys.argv[2]
        libc = ctypes.CDLL(None, use_errno=True)
        def openat2(path):
            how = (ctypes.c_uint64 * 3)(0, 0, 0)
            return libc.syscall(437, -100, path.encode(), ctypes.byref(how), 24)
        """

    /// Audit mode: every spelling is a credential-read of the key itself, with the spelling kept
    /// as evidence.
    func testEverySpellingOfACredentialPathIsACredentialRead() throws {
        let scene = try Scene()
        defer { scene.remove() }
        // Each spelling in a process of its own: identical opens by one process fold into one
        // record, which keeps the object's path but not every string that named it.
        let body = Self.spellings.map {
            "pid = os.fork()\nif pid == 0:\n    fd = \($0.code)\n    assert fd >= 0, \(String(reflecting: $0.name))\n    os.read(fd, 4); os._exit(0)\nos.waitpid(pid, 0)"
        }.joined(separator: "\n")
        let run = try ProbityCommand.run(
            ["run", "--report", scene.dir + "/r", "--", "python3", "-c", Self.prelude + "\n" + body, scene.home, scene.dir],
            environment: ["HOME": scene.home], directory: scene.dir + "/work")
        XCTAssertEqual(run.status, 86, run.stderr)
        let list = try ProbityCommand.violations(scene.dir + "/r").list
        let reads = list.filter { $0["rule"] as? String == "credential-read" }
        XCTAssertEqual(reads.count, 1, "one finding, the key itself: \(list)")
        let finding = try XCTUnwrap(reads.first, "\(list)")
        let evidence = try XCTUnwrap(finding["evidence"] as? [String: Any])
        XCTAssertEqual(evidence["path"] as? String, scene.key)
        XCTAssertEqual(finding["count"] as? Int, Self.spellings.count, "each spelling counted: \(finding)")
        XCTAssertNotNil(evidence["object"] as? String, "the object (device and inode) is evidence")

        // Each spelling was seen as the key, and its own string kept beside it.
        let events = try String(contentsOfFile: scene.dir + "/r/events.jsonl", encoding: .utf8)
        let requested = events.split(separator: "\n").compactMap { line -> String? in
            guard let data = line.data(using: .utf8),
                  let e = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
                  e["kind"] as? String == "open", e["path"] as? String == scene.key else { return nil }
            return e["requested_path"] as? String ?? e["path"] as? String
        }
        for expected in ["/" + scene.home + "//.ssh/id_rsa", scene.home + "/./.ssh/./id_rsa", scene.dir + "/k/id_rsa",
                         scene.dir + "/innocent.txt", "id_rsa", ".ssh/id_rsa", scene.dir + "//k/id_rsa"] {
            XCTAssertTrue(requested.contains(expected), "\(expected) was reported as the key: \(requested)")
        }
    }

    /// Enforce mode: every spelling, and a hard link (another name of the same object), is killed
    /// before the process reads a byte; so is a run started from a directory that contains the
    /// home (the temporary-exec rule's workspace exception must not cancel the credential rule).
    func testEnforceModeKillsEverySpellingAndTheHardLink() throws {
        let scene = try Scene()
        defer { scene.remove() }
        let spellings = Self.spellings + [("hard link", "os.open(d + '/hardlink.txt', os.O_RDONLY)")]
        var body = """
            out = open(d + '/steps', 'a')
            def step(name, body):
                pid = os.fork()
                if pid == 0:
                    fd = body()
                    data = os.read(fd, 64) if fd >= 0 else b''
                    out.write('%s read %d bytes\\n' % (name, len(data))); out.flush(); os._exit(0)
                _, status = os.waitpid(pid, 0)
                out.write('%s %s\\n' % (name, 'killed' if os.WIFSIGNALED(status) and os.WTERMSIG(status) == 9 else 'exited')); out.flush()
            import time; time.sleep(0.5)
            """
        for (name, code) in spellings { body += "\nstep(\(String(reflecting: name)), lambda: \(code))" }
        body += "\nstep('fine', lambda: os.open('/etc/hostname', os.O_RDONLY))"
        // Started from the scene's directory: the workspace contains the home.
        let run = try ProbityCommand.run(
            ["run", "--mode", "enforce", "--report", scene.dir + "/r", "--", "python3", "-c", Self.prelude + "\n" + body, scene.home, scene.dir],
            environment: ["HOME": scene.home], directory: scene.dir)
        XCTAssertEqual(run.status, 86, run.stderr)
        let steps = try String(contentsOfFile: scene.dir + "/steps", encoding: .utf8)
        for (name, _) in spellings {
            XCTAssertTrue(steps.contains("\(name) killed\n"), "\(name) is killed: \(steps)\n\(run.stderr)")
            XCTAssertFalse(steps.contains("\(name) read"), "\(name) read nothing: \(steps)")
        }
        XCTAssertTrue(steps.contains("fine read"), steps)
        let list = try ProbityCommand.violations(scene.dir + "/r").list
        let reads = list.filter { $0["rule"] as? String == "credential-read" }
        XCTAssertFalse(reads.isEmpty, "\(list)")
        for v in reads {
            XCTAssertEqual(v["enforced"] as? Bool, true, "\(v)")
            XCTAssertEqual(v["enforcement"] as? String, "kernel", "\(v)")
        }
    }

    /// Enforce mode, exec from a temporary directory by any name: a relative path from inside it,
    /// a symlink outside /tmp that points into it, `..` segments; a script run by a relative name.
    func testEnforceModeKillsTemporaryExecsByAnyName() throws {
        let scene = try Scene()
        defer { scene.remove() }
        let stage = "/tmp/probity-stage-\(getpid())"
        try FileManager.default.createDirectory(atPath: stage, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: stage) }
        // A real binary (the kernel runs it), and a script (the kernel runs its interpreter).
        try FileManager.default.copyItem(atPath: "/usr/bin/true", toPath: stage + "/stage2")
        try "#!/bin/sh\necho ran >> \(scene.dir)/ran\n".write(toFile: stage + "/stage2.sh", atomically: true, encoding: .utf8)
        chmod(stage + "/stage2.sh", 0o755)
        let outside = "/opt/probity-test-\(getpid())"
        try FileManager.default.createDirectory(atPath: outside, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: outside) }
        symlink(stage + "/stage2", outside + "/innocent")
        let body = """
            import os, sys, time
            d, stage, outside = sys.argv[1], sys.argv[2], sys.argv[3]
            out = open(d + '/steps', 'a')
            def step(name, cwd, path):
                pid = os.fork()
                if pid == 0:
                    os.chdir(cwd); os.execv(path, [path])
                _, status = os.waitpid(pid, 0)
                out.write('%s %s\\n' % (name, 'killed' if os.WIFSIGNALED(status) and os.WTERMSIG(status) == 9 else 'exited')); out.flush()
            time.sleep(0.5)
            step('relative binary', stage, './stage2')
            step('symlink from outside', '/', outside + '/innocent')
            step('dot-dot', '/usr', '../tmp/' + os.path.basename(stage) + '/./stage2')
            step('relative script', stage, './stage2.sh')
            step('fine', '/', '/usr/bin/true')
            """
        let run = try ProbityCommand.run(
            ["run", "--mode", "enforce", "--report", scene.dir + "/r", "--", "python3", "-c", body, scene.dir, stage, outside],
            directory: scene.dir + "/work")
        XCTAssertEqual(run.status, 86, run.stderr)
        let steps = try String(contentsOfFile: scene.dir + "/steps", encoding: .utf8)
        XCTAssertEqual(steps, "relative binary killed\nsymlink from outside killed\ndot-dot killed\nrelative script killed\nfine exited\n", run.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: scene.dir + "/ran"), "the script never ran")
        let list = try ProbityCommand.violations(scene.dir + "/r").list
        XCTAssertEqual(Set(list.compactMap { $0["rule"] as? String }), ["exec-from-temp"], "\(list)")
    }

    /// Enforce mode, credential readers: ssh-keygen reading the key is left alone from its first
    /// instruction (the kernel takes it out of the class at exec); the same program with
    /// LD_PRELOAD (another library's code inside it) is not a reader, and its read is killed.
    func testEnforceModeExemptsReadersOnlyWithoutLoaderVariables() throws {
        let scene = try Scene()
        defer { scene.remove() }
        let (status, text) = try Kernel.output("/usr/bin/ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", scene.home + "/.ssh/id_ed25519"],
                                                mergeErrors: true)
        XCTAssertEqual(status, 0, text)
        let script = """
            import os, sys, time
            time.sleep(0.5)
            out = os.open(sys.argv[2], os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
            os.dup2(out, 1)
            if sys.argv[3] == 'preload':
                os.environ['LD_PRELOAD'] = '/lib/x86_64-linux-gnu/libm.so.6'
            os.execve('/usr/bin/ssh-keygen', ['ssh-keygen', '-y', '-f', sys.argv[1]], os.environ)
            """
        for variant in ["plain", "preload"] {
            let out = scene.dir + "/\(variant).pub"
            let run = try ProbityCommand.run(
                ["run", "--mode", "enforce", "--report", scene.dir + "/\(variant)", "--", "python3", "-c", script,
                 scene.home + "/.ssh/id_ed25519", out, variant],
                environment: ["HOME": scene.home], directory: scene.dir + "/work")
            let derived = (try? String(contentsOfFile: out, encoding: .utf8)) ?? ""
            if variant == "plain" {
                XCTAssertEqual(run.status, 0, run.stderr)
                XCTAssertTrue(derived.hasPrefix("ssh-ed25519 "), "ssh-keygen read its key: \(derived)\n\(run.stderr)")
            } else {
                XCTAssertEqual(run.status, 86, run.stderr)
                XCTAssertEqual(derived, "", "killed before it wrote anything")
                let reads = try ProbityCommand.violations(scene.dir + "/preload").list.filter { $0["rule"] as? String == "credential-read" }
                XCTAssertEqual(reads.first?["enforced"] as? Bool, true, "\(reads)")
            }
        }
    }

    /// The kernel keeps the paths of recently walked directories (bpf/path.bpf.c) and reuses one
    /// only when the new walk collects the same chain of dentries, none renamed or unlinked since.
    /// Tried as an attacker would: warm the cache with an innocent directory, then move it (in
    /// place, to another parent, by renaming an ancestor, by swapping it with RENAME_EXCHANGE),
    /// bind-mount it elsewhere and unmount, and remove it and make another directory in its place,
    /// opening the same file after each step from one process on one CPU (the cache is per CPU).
    /// Every open must carry the path the file has at that moment, never a remembered one.
    func testDirectoryCacheNeverReturnsAStalePath() throws {
        let dir = try Kernel.temporaryDirectory()
        defer {
            _ = umount2(dir + "/m", Int32(MNT_DETACH))
            try? FileManager.default.removeItem(atPath: dir)
        }
        let script = """
            import ctypes, os, subprocess, sys
            d = sys.argv[1]
            libc = ctypes.CDLL(None, use_errno=True)
            def touch(p):
                os.makedirs(os.path.dirname(p), exist_ok=True)
                open(p, 'w').close()
            def probe(p):
                for _ in range(3): os.close(os.open(p, os.O_RDONLY))
            touch(d + '/a/f'); probe(d + '/a/f')
            os.rename(d + '/a', d + '/b'); probe(d + '/b/f')
            os.mkdir(d + '/c'); os.rename(d + '/b', d + '/c/b'); probe(d + '/c/b/f')
            os.rename(d + '/c', d + '/e'); probe(d + '/e/b/f')
            touch(d + '/x/f'); probe(d + '/x/f'); probe(d + '/e/b/f')
            assert libc.renameat2(-100, (d + '/x').encode(), -100, (d + '/e/b').encode(), 2) == 0
            probe(d + '/e/b/f'); probe(d + '/x/f')
            os.mkdir(d + '/m')
            subprocess.run(['mount', '--bind', d + '/e', d + '/m'], check=True)
            probe(d + '/m/b/f'); probe(d + '/e/b/f')
            subprocess.run(['umount', d + '/m'], check=True)
            probe(d + '/e/b/f')
            os.remove(d + '/e/b/f'); os.rmdir(d + '/e/b')
            touch(d + '/e/g/f'); probe(d + '/e/g/f')
            """
        let run = try Kernel.trace(["taskset", "-c", "0", "python3", "-c", script, dir])
        let opens = run.opens.filter { $0.result >= 0 && $0.requestedPath.hasPrefix(dir) && $0.requestedPath.hasSuffix("/f") && !$0.flags.writes }
        XCTAssertGreaterThanOrEqual(opens.count, 12 * 3, run.dump)
        for open in opens {
            XCTAssertEqual(open.path, open.requestedPath, "the object's path must be where the file is now")
        }
        for expected in ["/b/f", "/c/b/f", "/e/b/f", "/x/f", "/m/b/f", "/e/g/f"] {
            XCTAssertTrue(opens.contains { $0.path == dir + expected }, "no open reported as \(dir + expected)")
        }
    }
}
