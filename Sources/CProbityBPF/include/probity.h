/*
 * probity.h: the event layouts shared by the BPF programs (bpf/NAME.bpf.c), the C shim and Swift.
 *
 * Every record the kernel writes into the `events` ring buffer starts with a
 * `struct probity_header`; its `kind` says which struct follows. Fields are fixed-width and
 * naturally aligned, with explicit padding: the same bytes mean the same thing on both sides.
 * A test (KernelTests/LayoutTests) checks the Swift view of each struct against the BTF of the
 * compiled BPF object, field by field.
 *
 * Variable-length data (paths, argv) follows the fixed part of a record in `data[]`, in the order
 * the struct's comment gives, each piece's byte length in a `*_len` field. Paths walked from a
 * dentry ("dentry paths": the kernel's own path of an object, symlinks and `..` already resolved)
 * are absolute and root first ("/a/b\0"), from the root of the process's mount namespace.
 */
#ifndef PROBITY_H
#define PROBITY_H

#ifndef __bpf__
#include <linux/types.h>
#endif

/* Event kinds. */
enum probity_kind {
	PROBITY_KIND_EXEC = 1,
	PROBITY_KIND_FORK = 2,
	PROBITY_KIND_EXIT = 3,
	PROBITY_KIND_OPEN = 4,
	PROBITY_KIND_CONNECT = 5,   /* connect(2), and sendto/sendmsg with a destination address */
	PROBITY_KIND_IO_URING = 6,  /* io_uring ring creation and submissions that bypass syscalls */
	PROBITY_KIND_UNLINK = 7,    /* unlink, unlinkat, rmdir: a struct probity_open record (flags: AT_REMOVEDIR) */
	PROBITY_KIND_LINK = 8,      /* rename, link, symlink: a name placed (struct probity_link) */
	PROBITY_KIND_MEMORY = 9,    /* another process's memory: process_vm_readv/writev, ptrace attach */
	PROBITY_KIND_ABI = 10,      /* a system call through an ABI the syscall tracepoints do not see */
	PROBITY_KIND_MAX = 11,      /* size of the per-kind counter arrays */
};

/* Limits of the variable-length parts. */
#define PROBITY_PATH_MAX 4096        /* user-supplied path strings (open, exec filename) */
#define PROBITY_DPATH_MAX 2048       /* dentry paths (exe, cwd, directory of a relative open) */
#define PROBITY_DPATH_DEPTH 64       /* components walked up a dentry chain */
#define PROBITY_DPATH_DEPTH_MASK 63
/* Slots per CPU of the kernel's caches (plain arrays of slots × possible CPUs, sized at load). */
#define PROBITY_COALESCE_SLOTS 256   /* recent opens, for coalescing */
#define PROBITY_DIR_CACHE_SLOTS 256  /* recently walked directories */
#define PROBITY_MAX_CPUS 8192        /* the most CPUs a loop over every CPU's slots visits */
#define PROBITY_ARGV_MAX 4096        /* argv bytes, NUL-separated */
#define PROBITY_ARGS_MAX 32          /* argv entries */
#define PROBITY_ENV_MAX 16384        /* environment bytes; the last 16 KiB when larger (package
                                        managers append their variables to what they inherit) */
#define PROBITY_UNIX_PATH_MAX 108

/* Flags describing truncation and special cases (`probity_header.flags`). */
enum probity_flag {
	PROBITY_F_PATH_TRUNCATED = 1 << 0,  /* path / filename cut at the limit */
	PROBITY_F_DPATH_TRUNCATED = 1 << 1, /* a dentry walk stopped at the depth or size limit */
	PROBITY_F_ARGV_TRUNCATED = 1 << 2,  /* argv cut at PROBITY_ARGV_MAX bytes or PROBITY_ARGS_MAX entries */
	PROBITY_F_RELATIVE = 1 << 3,        /* open: the path passed was relative (for a failed open, its directory follows) */
	PROBITY_F_FAILED_EXEC = 1 << 4,     /* exec: reported from the syscall's exit with an error */
	PROBITY_F_EXE_UNLINKED = 1 << 5,    /* exec: the executable has no link on disk (memfd, deleted) */
	PROBITY_F_COALESCED = 1 << 6,       /* open: stands for `count` identical opens */
	PROBITY_F_ENV_TRUNCATED = 1 << 7,
	PROBITY_F_KILLED = 1 << 8,          /* enforce: the kernel program sent SIGKILL for this open / exec */
	PROBITY_F_OBJECT = 1 << 9,          /* open: the opened object's dentry path, device and inode follow */
	PROBITY_F_SCRIPT = 1 << 10,         /* exec: the file named was a script; `exe` is its interpreter */
};

/* Which system call produced an open / connect / exec record. */
enum probity_syscall {
	PROBITY_SYS_OPEN = 1,
	PROBITY_SYS_OPENAT = 2,
	PROBITY_SYS_OPENAT2 = 3,
	PROBITY_SYS_CREAT = 4,
	PROBITY_SYS_CONNECT = 5,
	PROBITY_SYS_SENDTO = 6,
	PROBITY_SYS_SENDMSG = 7,
	PROBITY_SYS_EXECVE = 8,
	PROBITY_SYS_EXECVEAT = 9,
	PROBITY_SYS_IO_URING_SETUP = 10,
	PROBITY_SYS_IO_URING_SUBMIT = 11,
	PROBITY_SYS_UNLINK = 12,
	PROBITY_SYS_UNLINKAT = 13,
	PROBITY_SYS_RMDIR = 14,
	PROBITY_SYS_OPEN_BY_HANDLE_AT = 15,
	PROBITY_SYS_SENDMMSG = 16,
	PROBITY_SYS_RENAME = 17,
	PROBITY_SYS_RENAMEAT = 18,
	PROBITY_SYS_RENAMEAT2 = 19,
	PROBITY_SYS_LINK = 20,
	PROBITY_SYS_LINKAT = 21,
	PROBITY_SYS_SYMLINK = 22,
	PROBITY_SYS_SYMLINKAT = 23,
	PROBITY_SYS_PROCESS_VM_READV = 24,
	PROBITY_SYS_PROCESS_VM_WRITEV = 25,
	PROBITY_SYS_PTRACE = 26,
	PROBITY_SYS_IO_URING_OPENAT = 27,   /* an open submitted on an io_uring (struct probity_open) */
	PROBITY_SYS_IO_URING_CONNECT = 28,  /* a connect submitted on an io_uring (struct probity_connect) */
};

/* 48 bytes, first in every record. */
struct probity_header {
	__u64 time_ns;     /* CLOCK_BOOTTIME nanoseconds */
	__u32 kind;        /* enum probity_kind */
	__u32 flags;       /* enum probity_flag */
	__u32 pid;         /* thread-group id of the acting process */
	__u32 tid;         /* thread id */
	__u32 ppid;        /* thread-group id of the real parent */
	__u32 uid;
	__u32 gid;
	__u32 _pad0;
	__u64 cgroup_id;   /* cgroup v2 id */
};

/*
 * exec: data[] = filename (filename_len, as passed to execve, NUL-terminated),
 *                exe (exe_len, dentry path of the file the kernel executes),
 *                argv (argv_len, NUL-separated),
 *                cwd (cwd_len, dentry path),
 *                env (env_len, the environment block, NUL-separated "K=V"; user space keeps
 *                only the variables that name a package manager's lifecycle or build).
 */
struct probity_exec {
	struct probity_header hdr;
	__s64 result;          /* 0, or -errno for a failed exec */
	__u64 start_time_ns;   /* the process's start, CLOCK_BOOTTIME ns (stable identity with pid) */
	__u32 argc;            /* argument count as the kernel saw it (may exceed the entries kept) */
	__u16 syscall;         /* enum probity_syscall */
	__u16 _pad0;
	__u16 filename_len;
	__u16 exe_len;
	__u16 argv_len;
	__u16 cwd_len;
	__u16 env_len;
	__u16 _pad1;
	__u32 _pad2;
	char data[];
};

/* fork: hdr describes the parent. Only new processes (not threads) are reported. */
struct probity_fork {
	struct probity_header hdr;
	__u32 child_pid;
	__u32 _pad0;
	__u64 child_start_time_ns;
};

/* exit: the last thread of a process exited. */
struct probity_exit {
	struct probity_header hdr;
	__u32 exit_code;       /* wait(2) status: (code << 8) | signal */
	__u32 _pad0;
	__u64 start_time_ns;
};

/*
 * open: data[] = path (path_len, as the caller passed it, NUL-terminated; 0 for a coalesced record),
 *                then dir (dir_len, dentry path of dirfd or the cwd) when PROBITY_F_RELATIVE and the
 *                open failed,
 *                then object (object_len, dentry path of the opened file) when PROBITY_F_OBJECT.
 * A successful open always carries its object: the path contracts and enforcement judge.
 */
struct probity_open {
	struct probity_header hdr;
	__s64 result;          /* fd, or -errno */
	__s32 open_flags;      /* O_* flags as passed */
	__u32 mode;
	__s32 dirfd;           /* AT_FDCWD (-100) for open/creat */
	__u32 count;           /* identical opens this record stands for (>= 1) */
	__u16 syscall;         /* enum probity_syscall */
	__u16 path_len;
	__u16 dir_len;
	__u16 object_len;
	__u64 ino;             /* PROBITY_F_OBJECT: the opened file's inode number */
	__u32 dev;             /* and its filesystem's device (the kernel's dev_t: major << 20 | minor) */
	__u32 _pad0;
	char data[];
};

/* connect / sendto / sendmsg with a destination. */
struct probity_connect {
	struct probity_header hdr;
	__s64 result;          /* 0, or -errno (-EINPROGRESS is an attempt under way); bytes sent for send* */
	__u16 family;          /* AF_INET, AF_INET6, AF_UNIX */
	__u16 port;            /* host byte order */
	__u16 sock_type;       /* SOCK_STREAM, SOCK_DGRAM, ... */
	__u16 protocol;        /* IPPROTO_TCP, IPPROTO_UDP, ... */
	__u16 syscall;         /* enum probity_syscall */
	__u16 unix_path_len;
	__s32 fd;
	__u8 addr[16];         /* IPv4 in the first 4 bytes, or IPv6 */
	char unix_path[PROBITY_UNIX_PATH_MAX]; /* AF_UNIX; abstract names start with '@' */
	__u32 _pad0;
};

/*
 * link: a name placed in a directory: rename / renameat / renameat2 (old moved to new), link /
 * linkat (new is another name of old), symlink / symlinkat (new points at the text old).
 * data[] = old (old_len, as passed), new (new_len, as passed), then, when PROBITY_F_RELATIVE,
 * new_dir (new_dir_len, dentry path of newdirfd or the cwd), then, when old is a relative path
 * of rename or link, old_dir (old_dir_len).
 */
struct probity_link {
	struct probity_header hdr;
	__s64 result;          /* 0, or -errno */
	__s32 old_dirfd;
	__s32 new_dirfd;
	__u32 call_flags;      /* renameat2's RENAME_* or linkat's AT_* flags */
	__u16 syscall;         /* enum probity_syscall */
	__u16 old_len;
	__u16 new_len;
	__u16 new_dir_len;
	__u16 old_dir_len;
	__u16 _pad0;
	char data[];
};

/* memory: the process read or wrote another process's memory, or attached to it as a tracer. */
struct probity_memory {
	struct probity_header hdr;
	__s64 result;          /* bytes moved, 0, or -errno */
	__u32 target_pid;      /* the process whose memory (the pid as the caller named it) */
	__u32 request;         /* ptrace: the request (PTRACE_ATTACH 16, PTRACE_SEIZE 0x4206) */
	__u16 syscall;         /* enum probity_syscall */
	__u16 _pad0;
	__u32 _pad1;
};

/* abi: a process made a system call through an ABI the per-syscall tracepoints never see (a
 * 32-bit `int 0x80` / compat call from a process of the 64-bit machine). Reported once per
 * process; what the call did is not known. */
struct probity_abi {
	struct probity_header hdr;
	__u32 syscall_nr;      /* the number in that ABI's table */
	__u32 abi;             /* 1: the 32-bit compat ABI */
};

/* io_uring: a ring was created, or a request that bypasses syscall tracepoints was submitted. */
struct probity_io_uring {
	struct probity_header hdr;
	__u16 syscall;         /* PROBITY_SYS_IO_URING_SETUP or _SUBMIT */
	__u8 opcode;           /* IORING_OP_* for submissions */
	__u8 _pad0;
	__s32 fd;              /* ring fd (setup) or request fd (submit) */
	__u32 sq_entries;
	__u32 cq_entries;
};

/* Entries the kernel could not insert into a full map, per CPU (the `map_full` array): a process
 * that is neither followed nor enforced. User space reports them like lost events. */
enum probity_map_full {
	PROBITY_FULL_TRACKED = 0,       /* a child of a followed process not added to `tracked` */
	PROBITY_FULL_ENFORCE_CLASS = 1, /* a child of a classified process not added to `enforce_class` */
	PROBITY_FULL_MAX = 2,
};

/* Settings written by user space into the `settings` array map before the programs attach. */
struct probity_config {
	__u32 follow_tree;         /* 1: report only processes in the `tracked` map and their descendants */
	__u32 ignore_tgid;         /* the monitor itself */
	__u64 coalesce_window_ns;  /* 0 disables in-kernel coalescing of identical opens */
	__u64 wakeup_bytes;        /* wake the reader only when this much data is pending */
	__u32 enforce;             /* 1: carry out the kill / deny entries of the enforce_* maps */
	__u32 _pad0;
};

/*
 * Enforcement (`probity run --mode enforce`, bpf/enforce.bpf.c). User space compiles each
 * contract's `kill` and `deny` rules into map entries, numbered by class (the contract), and
 * tells the kernel each process's class (`enforce_class`, inherited at fork, updated by user
 * space when an exec changes the process's package).
 */
enum probity_access {
	PROBITY_ACCESS_READ = 1 << 0,
	PROBITY_ACCESS_WRITE = 1 << 1,
	PROBITY_ACCESS_CREATE = 1 << 2,
	PROBITY_ACCESS_EXEC = 1 << 3,
};

enum probity_path_match {
	PROBITY_MATCH_EXACT = 1,   /* the whole path */
	PROBITY_MATCH_PREFIX = 2,  /* a directory and everything under it */
	PROBITY_MATCH_EXEMPT = 3,  /* an executable whose processes the class does not govern (a credential reader) */
};

enum probity_verdict {
	PROBITY_VERDICT_KILL = 1,
	PROBITY_VERDICT_EXCEPT = 2,  /* an exception: no kill for this path */
	PROBITY_VERDICT_ALLOW = 3,   /* network: allowed destination */
	PROBITY_VERDICT_DENY = 4,    /* network: denied destination */
};

/* `enforce_paths` key: FNV-1a (64-bit) of the path or directory bytes, without a trailing '/'.
 * The hash only finds the entry: the kernel compares the entry's bytes before it acts. */
struct probity_path_key {
	__u32 cls;
	__u8 match;        /* enum probity_path_match */
	__u8 _pad0;
	__u16 _pad1;
	__u64 hash;
};

#define PROBITY_ENFORCE_PATH_MAX 256   /* bytes of a path the kernel matches (longer ones: user space) */
#define PROBITY_ACCESS_KINDS 4         /* read, write, create, exec: the bit index of enum probity_access */

/* Which of the class's rules kill on this path, per access kind, and which have an exception
 * here. Each kernel-enforced rule of a class has a bit (its `rule_bit` in user space): a kill
 * happens when some rule's kill bit is set along the path and that same rule's exception bit is
 * not, so one rule's exception never cancels another rule's kill. */
struct probity_path_rule {
	__u32 kill[PROBITY_ACCESS_KINDS];
	__u32 except;
	__u16 len;         /* bytes of path, no NUL */
	__u16 _pad0;
	char path[PROBITY_ENFORCE_PATH_MAX];
};

/* `enforce_inodes`: a file recognised by its object, whatever path names it (a hard link, a bind
 * mount): rules whose patterns name existing files get their device and inode here too. */
struct probity_inode_key {
	__u32 cls;
	__u32 dev;         /* the kernel's dev_t (major << 20 | minor) */
	__u64 ino;
};

struct probity_inode_rule {
	__u32 kill[PROBITY_ACCESS_KINDS];
};

/* `enforce_classes` value. */
struct probity_class {
	__u32 flags;             /* enum probity_class_flag */
	__u32 proc_memory_rules; /* rule bits that kill reads of another process's memory files */
};

enum probity_class_flag {
	PROBITY_CLASS_PROC_MEMORY = 1 << 0,  /* kill reads of another process's /proc/PID/{environ,mem,maps} */
	PROBITY_CLASS_NET_ALLOWLIST = 1 << 1, /* connects matching no `enforce_net` entry are denied */
	PROBITY_CLASS_KILL_MEMORY_EXEC = 1 << 2, /* kill execs of a memory-backed or deleted file */
	PROBITY_CLASS_KILL_COMPAT_ABI = 1 << 3,  /* kill a process at its first compat-ABI syscall */
};

/* `enforce_net` (LPM trie) key: prefixlen counts the 32 bits of `cls` plus the address bits;
 * IPv4 addresses are stored IPv4-mapped (::ffff:a.b.c.d). */
struct probity_net_key {
	__u32 prefixlen;
	__u32 cls;         /* big-endian, so that it leads the trie's bit order */
	__u8 addr[16];
};

#define PROBITY_NET_PORT_RULES 8
struct probity_net_port_rule {
	__u16 port_lo;     /* 0-65535: any port */
	__u16 port_hi;
	__u8 protocol;     /* 0 any, 6 tcp, 17 udp */
	__u8 verdict;      /* PROBITY_VERDICT_ALLOW or _DENY */
	__u16 _pad0;
};

struct probity_net_rule {
	__u32 count;
	__u32 _pad0;
	struct probity_net_port_rule rules[PROBITY_NET_PORT_RULES];
};

#endif /* PROBITY_H */
