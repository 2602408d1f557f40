import XCTest
import CProbityBPF
import ProbityContracts

/// The Swift view of every shared struct must match the BPF object's BTF: same size, same
/// offset for every field. A mismatch would make the decoder read the wrong bytes.
final class LayoutTests: XCTestCase {
    private func objectBTF() throws -> (OpaquePointer, OpaquePointer) {
        var size = 0
        let bytes = try XCTUnwrap(probity_bpf_object_bytes(&size), "the BPF object is embedded (run `make bpf`)")
        var options = bpf_object_open_opts()
        options.sz = MemoryLayout<bpf_object_open_opts>.size
        let obj = try XCTUnwrap(bpf_object__open_mem(bytes, size, &options), "libbpf opens the embedded object")
        let btf = try XCTUnwrap(bpf_object__btf(obj), "the object carries BTF")
        return (obj, btf)
    }

    private func check<T>(
        _ type: T.Type, _ name: String, _ fields: [(String, Int?)], file: StaticString = #filePath, line: UInt = #line
    ) throws {
        let (obj, btf) = try objectBTF()
        defer { bpf_object__close(obj) }
        XCTAssertEqual(probity_btf_struct_size(btf, name), MemoryLayout<T>.size, "size of \(name)", file: file, line: line)
        for (field, swiftOffset) in fields {
            let btfOffset = probity_btf_member_offset(btf, name, field)
            XCTAssertGreaterThanOrEqual(btfOffset, 0, "\(name).\(field) exists in BTF", file: file, line: line)
            XCTAssertEqual(btfOffset, swiftOffset.map { $0 } ?? -1, "offset of \(name).\(field)", file: file, line: line)
        }
    }

    func testHeader() throws {
        typealias H = probity_header
        try check(H.self, "probity_header", [
            ("time_ns", MemoryLayout<H>.offset(of: \.time_ns)), ("kind", MemoryLayout<H>.offset(of: \.kind)),
            ("flags", MemoryLayout<H>.offset(of: \.flags)), ("pid", MemoryLayout<H>.offset(of: \.pid)),
            ("tid", MemoryLayout<H>.offset(of: \.tid)), ("ppid", MemoryLayout<H>.offset(of: \.ppid)),
            ("uid", MemoryLayout<H>.offset(of: \.uid)), ("gid", MemoryLayout<H>.offset(of: \.gid)),
            ("cgroup_id", MemoryLayout<H>.offset(of: \.cgroup_id)),
        ])
    }

    func testExec() throws {
        typealias E = probity_exec
        try check(E.self, "probity_exec", [
            ("hdr", MemoryLayout<E>.offset(of: \.hdr)), ("result", MemoryLayout<E>.offset(of: \.result)),
            ("start_time_ns", MemoryLayout<E>.offset(of: \.start_time_ns)), ("argc", MemoryLayout<E>.offset(of: \.argc)),
            ("syscall", MemoryLayout<E>.offset(of: \.syscall)), ("filename_len", MemoryLayout<E>.offset(of: \.filename_len)),
            ("exe_len", MemoryLayout<E>.offset(of: \.exe_len)), ("argv_len", MemoryLayout<E>.offset(of: \.argv_len)),
            ("cwd_len", MemoryLayout<E>.offset(of: \.cwd_len)), ("env_len", MemoryLayout<E>.offset(of: \.env_len)),
            ("data", MemoryLayout<E>.size),
        ])
    }

    func testForkAndExit() throws {
        typealias F = probity_fork
        try check(F.self, "probity_fork", [
            ("hdr", MemoryLayout<F>.offset(of: \.hdr)), ("child_pid", MemoryLayout<F>.offset(of: \.child_pid)),
            ("child_start_time_ns", MemoryLayout<F>.offset(of: \.child_start_time_ns)),
        ])
        typealias X = probity_exit
        try check(X.self, "probity_exit", [
            ("hdr", MemoryLayout<X>.offset(of: \.hdr)), ("exit_code", MemoryLayout<X>.offset(of: \.exit_code)),
            ("start_time_ns", MemoryLayout<X>.offset(of: \.start_time_ns)),
        ])
    }

    func testOpen() throws {
        typealias O = probity_open
        try check(O.self, "probity_open", [
            ("hdr", MemoryLayout<O>.offset(of: \.hdr)), ("result", MemoryLayout<O>.offset(of: \.result)),
            ("open_flags", MemoryLayout<O>.offset(of: \.open_flags)), ("mode", MemoryLayout<O>.offset(of: \.mode)),
            ("dirfd", MemoryLayout<O>.offset(of: \.dirfd)), ("count", MemoryLayout<O>.offset(of: \.count)),
            ("syscall", MemoryLayout<O>.offset(of: \.syscall)), ("path_len", MemoryLayout<O>.offset(of: \.path_len)),
            ("dir_len", MemoryLayout<O>.offset(of: \.dir_len)), ("object_len", MemoryLayout<O>.offset(of: \.object_len)),
            ("ino", MemoryLayout<O>.offset(of: \.ino)), ("dev", MemoryLayout<O>.offset(of: \.dev)),
            ("data", MemoryLayout<O>.size),
        ])
    }

    func testConnect() throws {
        typealias C = probity_connect
        try check(C.self, "probity_connect", [
            ("hdr", MemoryLayout<C>.offset(of: \.hdr)), ("result", MemoryLayout<C>.offset(of: \.result)),
            ("family", MemoryLayout<C>.offset(of: \.family)), ("port", MemoryLayout<C>.offset(of: \.port)),
            ("sock_type", MemoryLayout<C>.offset(of: \.sock_type)), ("protocol", MemoryLayout<C>.offset(of: \.protocol)),
            ("syscall", MemoryLayout<C>.offset(of: \.syscall)), ("unix_path_len", MemoryLayout<C>.offset(of: \.unix_path_len)),
            ("fd", MemoryLayout<C>.offset(of: \.fd)), ("addr", MemoryLayout<C>.offset(of: \.addr)),
            ("unix_path", MemoryLayout<C>.offset(of: \.unix_path)),
        ])
    }

    func testIOUringAndConfig() throws {
        typealias U = probity_io_uring
        try check(U.self, "probity_io_uring", [
            ("hdr", MemoryLayout<U>.offset(of: \.hdr)), ("syscall", MemoryLayout<U>.offset(of: \.syscall)),
            ("opcode", MemoryLayout<U>.offset(of: \.opcode)), ("fd", MemoryLayout<U>.offset(of: \.fd)),
            ("sq_entries", MemoryLayout<U>.offset(of: \.sq_entries)), ("cq_entries", MemoryLayout<U>.offset(of: \.cq_entries)),
        ])
        typealias S = probity_config
        try check(S.self, "probity_config", [
            ("follow_tree", MemoryLayout<S>.offset(of: \.follow_tree)), ("ignore_tgid", MemoryLayout<S>.offset(of: \.ignore_tgid)),
            ("coalesce_window_ns", MemoryLayout<S>.offset(of: \.coalesce_window_ns)),
            ("wakeup_bytes", MemoryLayout<S>.offset(of: \.wakeup_bytes)), ("enforce", MemoryLayout<S>.offset(of: \.enforce)),
        ])
    }

    func testEnforcementMaps() throws {
        typealias K = probity_path_key
        try check(K.self, "probity_path_key", [
            ("cls", MemoryLayout<K>.offset(of: \.cls)), ("match", MemoryLayout<K>.offset(of: \.match)),
            ("hash", MemoryLayout<K>.offset(of: \.hash)),
        ])
        typealias R = probity_path_rule
        try check(R.self, "probity_path_rule", [
            ("kill", MemoryLayout<R>.offset(of: \.kill)), ("except", MemoryLayout<R>.offset(of: \.except)),
            ("len", MemoryLayout<R>.offset(of: \.len)), ("path", MemoryLayout<R>.offset(of: \.path)),
        ])
        typealias I = probity_inode_key
        try check(I.self, "probity_inode_key", [
            ("cls", MemoryLayout<I>.offset(of: \.cls)), ("dev", MemoryLayout<I>.offset(of: \.dev)), ("ino", MemoryLayout<I>.offset(of: \.ino)),
        ])
        typealias IR = probity_inode_rule
        try check(IR.self, "probity_inode_rule", [("kill", MemoryLayout<IR>.offset(of: \.kill))])
        typealias C = probity_class
        try check(C.self, "probity_class", [
            ("flags", MemoryLayout<C>.offset(of: \.flags)), ("proc_memory_rules", MemoryLayout<C>.offset(of: \.proc_memory_rules)),
        ])
        typealias N = probity_net_key
        try check(N.self, "probity_net_key", [
            ("prefixlen", MemoryLayout<N>.offset(of: \.prefixlen)), ("cls", MemoryLayout<N>.offset(of: \.cls)),
            ("addr", MemoryLayout<N>.offset(of: \.addr)),
        ])
        typealias V = probity_net_rule
        try check(V.self, "probity_net_rule", [("count", MemoryLayout<V>.offset(of: \.count)), ("rules", MemoryLayout<V>.offset(of: \.rules))])
        // The contract side's access bits are the kernel's.
        XCTAssertEqual(UInt32(EnforcementPlan.Access.read.rawValue), PROBITY_ACCESS_READ.rawValue)
        XCTAssertEqual(UInt32(EnforcementPlan.Access.write.rawValue), PROBITY_ACCESS_WRITE.rawValue)
        XCTAssertEqual(UInt32(EnforcementPlan.Access.create.rawValue), PROBITY_ACCESS_CREATE.rawValue)
        XCTAssertEqual(UInt32(EnforcementPlan.Access.exec.rawValue), PROBITY_ACCESS_EXEC.rawValue)
    }
}

@testable import ProbityProbes

/// Reading libbpf's log to find which optional program the verifier refused.
final class LoaderLogTests: XCTestCase {
    func testRefusedOptionalProgramIsFoundInTheLog() {
        let log = [
            "libbpf: prog 'probity_io_uring_submit': BPF program load failed: Permission denied",
            "libbpf: prog 'probity_io_uring_submit': failed to load: -13",
            "libbpf: failed to load object 'probity'",
        ]
        XCTAssertEqual(KernelProbes.refusedOptionalProgram(in: log), "probity_io_uring_submit")
        // A required program is never left out: its failure is an error.
        XCTAssertNil(KernelProbes.refusedOptionalProgram(in: ["libbpf: prog 'probity_exec': failed to load: -22"]))
        XCTAssertNil(KernelProbes.refusedOptionalProgram(in: ["unrelated"]))
    }
}
