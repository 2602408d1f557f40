/* enforce.bpf.h: the maps and checks of `probity run --mode enforce`, shared by the open and
 * exec programs (which kill) and enforce.bpf.c (class inheritance, connect denial).
 *
 * A kill is decided where the event is built, from the path already in the scratch buffer:
 * the FNV-1a hash of every directory prefix and of the whole path is looked up for the
 * process's class. bpf_send_signal(SIGKILL) lands before the process runs another instruction
 * of its own: an opened file is never read, an executed image never runs.
 */
#ifndef PROBITY_ENFORCE_BPF_H
#define PROBITY_ENFORCE_BPF_H

#include "common.bpf.h"

#define SIGKILL_ 9
#define ENFORCE_PATH_MAX 256

/* tgid -> class (the contract governing the process); absent: nothing enforced. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, __u32);
	__type(value, __u32);
} enforce_class SEC(".maps") __weak;

/* class -> enum probity_class_flag bits. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, __u32);
} enforce_classes SEC(".maps") __weak;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, struct probity_path_key);
	__type(value, struct probity_path_rule);
} enforce_paths SEC(".maps") __weak;

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

struct path_check {
	__u32 off;       /* where the path starts in the scratch buffer */
	__u32 cls;
	__u64 hash;
	__u8 access;
	bool kill;
	bool except;
	bool done;
};

static __always_inline void path_lookup(struct path_check *c, __u8 match)
{
	struct probity_path_key key = { .cls = c->cls, .match = match, .hash = c->hash };
	struct probity_path_rule *rule = bpf_map_lookup_elem(&enforce_paths, &key);
	if (!rule || !(rule->access & c->access))
		return;
	if (rule->verdict == PROBITY_VERDICT_KILL)
		c->kill = true;
	else if (rule->verdict == PROBITY_VERDICT_EXCEPT)
		c->except = true;
}

static long path_check_step(__u64 i, void *ctx)
{
	struct path_check *c = ctx;
	struct scratch *s = get_scratch();
	if (!s)
		return 1;
	char ch = s->buf[bounded(c->off + i, SCRATCH_MASK)];
	if (ch == 0) {
		path_lookup(c, PROBITY_MATCH_EXACT);
		c->done = true;
		return 1;
	}
	if (ch == '/' && i > 0)
		path_lookup(c, PROBITY_MATCH_PREFIX);
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

/* Whether the current process must be killed for `access` to the absolute, NUL-terminated path
 * at `off` in the scratch buffer; sends the signal when so. */
static __always_inline bool enforce_path(struct probity_config *cfg, __u32 tgid, __u32 off, __u8 access)
{
	if (!cfg || !cfg->enforce)
		return false;
	__u32 *cls = bpf_map_lookup_elem(&enforce_class, &tgid);
	if (!cls || *cls == 0)
		return false;
	struct scratch *s = get_scratch();
	if (!s || s->buf[bounded(off, SCRATCH_MASK)] != '/')
		return false;
	struct path_check c = { .off = off, .cls = *cls, .hash = 0xcbf29ce484222325ULL, .access = access };
	bpf_loop(ENFORCE_PATH_MAX, path_check_step, &c, 0);
	bool kill = c.done && c.kill && !c.except;
	if (!kill && (access & PROBITY_ACCESS_READ)) {
		__u32 *flags = bpf_map_lookup_elem(&enforce_classes, cls);
		if (flags && (*flags & PROBITY_CLASS_PROC_MEMORY)) {
			__u32 owner = proc_memory_owner(s, off);
			kill = owner != 0 && owner != tgid && !c.except;
		}
	}
	if (kill) {
		bpf_send_signal(SIGKILL_);
		count_enforced(0);
	}
	return kill;
}

#endif
