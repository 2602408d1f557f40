/* enforce.bpf.h: the maps and checks of `probity run --mode enforce`, shared by the open and
 * exec programs (which kill) and enforce.bpf.c (class inheritance, connect denial).
 *
 * A kill is decided where the event is built, from the kernel's own path of the object (the
 * dentry path already in the scratch buffer: symlinks, `..` and doubled slashes resolved) and
 * from its device and inode: the FNV-1a hash of every directory prefix and of the whole path
 * finds entries for the process's class, whose bytes are then compared with the path; the
 * object is looked up in `enforce_inodes`. Each entry says which of the class's rules kill and
 * which are excepted there (rule bits), so an exception only cancels its own rule.
 * bpf_send_signal(SIGKILL) lands before the process runs another instruction of its own: an
 * opened file is never read, an executed image never runs.
 */
#ifndef PROBITY_ENFORCE_BPF_H
#define PROBITY_ENFORCE_BPF_H

#include "common.bpf.h"

#define SIGKILL_ 9
#define ENFORCE_PATH_MAX PROBITY_ENFORCE_PATH_MAX

/* tgid -> class (the contract governing the process); absent: nothing enforced. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, __u32);
	__type(value, __u32);
} enforce_class SEC(".maps") __weak;

/* class -> its flags and process-memory rule bits. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, struct probity_class);
} enforce_classes SEC(".maps") __weak;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, struct probity_path_key);
	__type(value, struct probity_path_rule);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} enforce_paths SEC(".maps") __weak;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, struct probity_inode_key);
	__type(value, struct probity_inode_rule);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} enforce_inodes SEC(".maps") __weak;

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 65536);
	__type(key, struct probity_net_key);
	__type(value, struct probity_net_rule);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} enforce_net SEC(".maps") __weak;

/* Actions carried out: [0] kills, [1] denied connects. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u64);
} enforced SEC(".maps") __weak;

static __always_inline void count_enforced(__u32 which)
{
	__u64 *n = bpf_map_lookup_elem(&enforced, &which);
	if (n)
		*n += 1;
}

/* The accesses (enum probity_access) an open with these O_* flags makes. */
static __always_inline __u8 open_access(__s32 flags)
{
	__u8 access = 0;
	if ((flags & 3) != O_WRONLY_)
		access |= PROBITY_ACCESS_READ;
	if ((flags & 3) != 0 || (flags & O_TRUNC_))
		access |= PROBITY_ACCESS_WRITE;
	if (flags & O_CREAT_)
		access |= PROBITY_ACCESS_CREATE;
	return access;
}

struct path_check {
	__u32 off;       /* where the path starts in the scratch buffer */
	__u32 cls;
	__u32 access;    /* enum probity_access bits of the attempt */
	__u64 hash;
	__u32 kill;      /* rule bits that kill, gathered along the path */
	__u32 except;    /* rule bits excepted along the path */
	bool done;
};

/* Comparing an entry's path with the path in the scratch buffer, eight bytes per bpf_loop step
 * (a loop with a data-dependent end inside the path walk's callback is too many states). */
struct path_compare {
	struct probity_path_rule *rule;
	__u32 off;
	__u32 len;
	bool differ;
};

static long path_compare_step(__u64 i, void *ctx)
{
	struct path_compare *c = ctx;
	struct scratch *s = get_scratch();
	__u32 at = (__u32)i * 8;
	if (!s || at >= c->len || at >= ENFORCE_PATH_MAX) {
		if (!s)
			c->differ = true;
		return 1;
	}
	__u64 a = *(const __u64 *)&s->buf[bounded(c->off + at, SCRATCH_MASK)];
	__u64 b = *(const __u64 *)&c->rule->path[bounded(at, ENFORCE_PATH_MAX - 8) & ~7u];
	__u32 rest = c->len - at;
	if (rest < 8) {
		__u64 mask = (1ULL << (rest * 8)) - 1;
		a &= mask;
		b &= mask;
	}
	if (a != b) {
		c->differ = true;
		return 1;
	}
	return 0;
}

/* Whether the entry's path is exactly the `len` bytes at `off` in the scratch buffer. */
static __always_inline bool same_path(__u32 off, __u32 len, struct probity_path_rule *rule)
{
	if (rule->len != len || len > ENFORCE_PATH_MAX)
		return false;
	struct path_compare c = { .rule = rule, .off = off, .len = len };
	bpf_loop(ENFORCE_PATH_MAX / 8, path_compare_step, &c, 0);
	return !c.differ;
}

static __always_inline void path_lookup(struct path_check *c, struct scratch *s, __u8 match, __u32 len)
{
	struct probity_path_key key = { .cls = c->cls, .match = match, .hash = c->hash };
	struct probity_path_rule *rule = bpf_map_lookup_elem(&enforce_paths, &key);
	if (!rule || !same_path(c->off, len, rule))
		return;
	for (__u32 a = 0; a < PROBITY_ACCESS_KINDS; a++)
		if (c->access & (1 << a))
			c->kill |= rule->kill[a];
	c->except |= rule->except;
}

static long path_check_step(__u64 i, void *ctx)
{
	struct path_check *c = ctx;
	struct scratch *s = get_scratch();
	if (!s)
		return 1;
	char ch = s->buf[bounded(c->off + i, SCRATCH_MASK)];
	if (ch == 0) {
		path_lookup(c, s, PROBITY_MATCH_EXACT, (__u32)i);
		c->done = true;
		return 1;
	}
	if (ch == '/' && i > 0)
		path_lookup(c, s, PROBITY_MATCH_PREFIX, (__u32)i);
	c->hash = (c->hash ^ (__u8)ch) * 0x100000001b3ULL;
	return 0;
}

/* `/proc/PID/{environ,mem,maps,smaps,pagemap}` (or `/proc/PID/task/TID/...`) of another process. */
struct proc_check {
	__u32 off;
	__u32 pos;
	__u32 pid;
	__u32 digits;
	__u32 state;     /* 0: pid digits, 1: after "task/", 2: tid digits, 3: leaf */
};

static __always_inline bool leaf_is_secret(struct scratch *s, __u32 off)
{
	char b[8] = {};
	bpf_probe_read_kernel(b, sizeof(b), &s->buf[bounded(off, SCRATCH_MASK)]);
	if (b[0] == 'e' && b[1] == 'n' && b[2] == 'v' && b[3] == 'i' && b[4] == 'r' && b[5] == 'o' && b[6] == 'n' && b[7] == 0)
		return true;
	if (b[0] == 'm' && b[1] == 'e' && b[2] == 'm' && b[3] == 0)
		return true;
	if (b[0] == 'm' && b[1] == 'a' && b[2] == 'p' && b[3] == 's' && b[4] == 0)
		return true;
	if (b[0] == 's' && b[1] == 'm' && b[2] == 'a' && b[3] == 'p' && b[4] == 's' && b[5] == 0)
		return true;
	if (b[0] == 'p' && b[1] == 'a' && b[2] == 'g' && b[3] == 'e' && b[4] == 'm' && b[5] == 'a' && b[6] == 'p' && b[7] == 0)
		return true;
	return false;
}

static __always_inline __u32 proc_memory_owner(struct scratch *s, __u32 off)
{
	char head[6] = {};
	bpf_probe_read_kernel(head, sizeof(head), &s->buf[bounded(off, SCRATCH_MASK)]);
	if (head[0] != '/' || head[1] != 'p' || head[2] != 'r' || head[3] != 'o' || head[4] != 'c' || head[5] != '/')
		return 0;
	__u32 pid = 0, i = off + 6, n = 0;
	for (n = 0; n < 10; n++) {
		char ch = s->buf[bounded(i + n, SCRATCH_MASK)];
		if (ch < '0' || ch > '9')
			break;
		pid = pid * 10 + (ch - '0');
	}
	if (n == 0 || s->buf[bounded(i + n, SCRATCH_MASK)] != '/')
		return 0;
	i += n + 1;
	if (leaf_is_secret(s, i))
		return pid;
	char task[5] = {};
	bpf_probe_read_kernel(task, sizeof(task), &s->buf[bounded(i, SCRATCH_MASK)]);
	if (task[0] != 't' || task[1] != 'a' || task[2] != 's' || task[3] != 'k' || task[4] != '/')
		return 0;
	i += 5;
	for (n = 0; n < 10; n++) {
		char ch = s->buf[bounded(i + n, SCRATCH_MASK)];
		if (ch < '0' || ch > '9')
			break;
	}
	if (n == 0 || s->buf[bounded(i + n, SCRATCH_MASK)] != '/')
		return 0;
	return leaf_is_secret(s, i + n + 1) ? pid : 0;
}

/* Whether the current process must be killed for `access` to the object whose absolute,
 * NUL-terminated dentry path is at `off` in the scratch buffer (device `dev`, inode `ino`; 0
 * when unknown); sends the signal when so. `access` holds every access the attempt makes. */
static __always_inline bool enforce_object(struct probity_config *cfg, __u32 tgid, __u32 off, __u8 access, __u32 dev, __u64 ino)
{
	if (!cfg || !cfg->enforce)
		return false;
	__u32 *cls = bpf_map_lookup_elem(&enforce_class, &tgid);
	if (!cls || *cls == 0)
		return false;
	struct scratch *s = get_scratch();
	if (!s || s->buf[bounded(off, SCRATCH_MASK)] != '/')
		return false;
	struct path_check c = { .off = off, .cls = *cls, .access = access, .hash = 0xcbf29ce484222325ULL };
	bpf_loop(ENFORCE_PATH_MAX, path_check_step, &c, 0);
	__u32 kill = c.kill, except = c.except;
	if (ino) {
		struct probity_inode_key k = { .cls = *cls, .dev = dev, .ino = ino };
		struct probity_inode_rule *r = bpf_map_lookup_elem(&enforce_inodes, &k);
		if (r)
			for (__u32 a = 0; a < PROBITY_ACCESS_KINDS; a++)
				if (access & (1 << a))
					kill |= r->kill[a];
	}
	if (access & PROBITY_ACCESS_READ) {
		struct probity_class *class = bpf_map_lookup_elem(&enforce_classes, cls);
		if (class && (class->flags & PROBITY_CLASS_PROC_MEMORY)) {
			__u32 owner = proc_memory_owner(s, off);
			if (owner != 0 && owner != tgid)
				kill |= class->proc_memory_rules;
		}
	}
	bool killing = (kill & ~except) != 0;
	if (killing) {
		bpf_send_signal(SIGKILL_);
		count_enforced(0);
	}
	return killing;
}

/* Whether the NUL-terminated path at `off` is an exempt executable of class `cls`. */
struct exempt_check {
	__u32 off;
	__u32 cls;
	__u64 hash;
	bool exempt;
};

static long exempt_step(__u64 i, void *ctx)
{
	struct exempt_check *c = ctx;
	struct scratch *s = get_scratch();
	if (!s)
		return 1;
	char ch = s->buf[bounded(c->off + i, SCRATCH_MASK)];
	if (ch == 0) {
		struct probity_path_key key = { .cls = c->cls, .match = PROBITY_MATCH_EXEMPT, .hash = c->hash };
		struct probity_path_rule *rule = bpf_map_lookup_elem(&enforce_paths, &key);
		c->exempt = rule && same_path(c->off, (__u32)i, rule);
		return 1;
	}
	c->hash = (c->hash ^ (__u8)ch) * 0x100000001b3ULL;
	return 0;
}

/* Environment variables that make the dynamic loader run other code inside a program. */
struct loader_scan {
	__u32 off;
	__u32 len;
	bool found;
};

static long loader_scan_step(__u64 i, void *ctx)
{
	struct loader_scan *c = ctx;
	struct scratch *s = get_scratch();
	if (!s || i >= c->len)
		return 1;
	/* Variables start at the block's start or after a NUL. */
	if (i > 0 && s->buf[bounded(c->off + i - 1, SCRATCH_MASK)] != 0)
		return 0;
	char b[16] = {};
	bpf_probe_read_kernel(b, sizeof(b), &s->buf[bounded(c->off + i, SCRATCH_MASK)]);
	if (b[0] != 'L' || b[1] != 'D' || b[2] != '_')
		return 0;
	if ((b[3] == 'P' && b[4] == 'R' && b[5] == 'E' && b[6] == 'L' && b[7] == 'O' && b[8] == 'A' && b[9] == 'D' && b[10] == '=') ||
	    (b[3] == 'A' && b[4] == 'U' && b[5] == 'D' && b[6] == 'I' && b[7] == 'T' && b[8] == '=') ||
	    (b[3] == 'L' && b[4] == 'I' && b[5] == 'B' && b[6] == 'R' && b[7] == 'A' && b[8] == 'R' && b[9] == 'Y' && b[10] == '_')) {
		c->found = true;
		return 1;
	}
	return 0;
}

/* At exec, in enforce mode: a program the class does not govern (ssh reading its keys) leaves
 * the class before its first instruction, rather than when user space has attributed the exec —
 * unless the loader was told to run other code in it (LD_PRELOAD, LD_AUDIT, LD_LIBRARY_PATH: the
 * environment block at `env_off`, `env_len` bytes, or unknown when `env_cut`). */
static __always_inline void exempt_at_exec(struct probity_config *cfg, __u32 tgid, __u32 exe_off, __u32 env_off,
					   __u32 env_len, bool env_cut)
{
	if (!cfg || !cfg->enforce)
		return;
	__u32 *cls = bpf_map_lookup_elem(&enforce_class, &tgid);
	if (!cls || *cls == 0)
		return;
	struct exempt_check c = { .off = exe_off, .cls = *cls, .hash = 0xcbf29ce484222325ULL };
	bpf_loop(ENFORCE_PATH_MAX, exempt_step, &c, 0);
	if (!c.exempt || env_cut)
		return;
	struct loader_scan scan = { .off = env_off, .len = env_len };
	bpf_loop(PROBITY_ENV_MAX, loader_scan_step, &scan, 0);
	if (scan.found)
		return;
	__u32 none = 0;
	bpf_map_update_elem(&enforce_class, &tgid, &none, BPF_ANY);
}

#endif
