/* open.bpf.c: open, openat, openat2 and creat, reported at the syscall's exit with the result.
 *
 * The arguments come from the registers saved at syscall entry (bpf_task_pt_regs), so no
 * per-thread state is kept between entry and exit. A relative path is sent with the dentry path
 * of the directory it is relative to (dirfd, or the cwd for AT_FDCWD), walked at the exit;
 * user space joins the two. Identical opens by one process within the coalescing window are
 * folded into the next record of that key (its `count`).
 */
#include "enforce.bpf.h"

#define O_CREAT_ 0100
#define O_WRONLY_ 01
#define O_TRUNC_ 01000

/* FNV-1a over the path's bytes, eight at a time, then the tail. */
static __always_inline __u64 hash_path(const char *buf, __u32 off, __u32 len)
{
	__u64 h = 0xcbf29ce484222325ULL;
	__u32 words = len / 8;
	for (__u32 i = 0; i < PROBITY_PATH_MAX / 8; i++) {
		if (i >= words)
			break;
		__u64 w = *(const __u64 *)&buf[(off + i * 8) & SCRATCH_MASK];
		h = (h ^ w) * 0x100000001b3ULL;
	}
	for (__u32 i = 0; i < 8; i++) {
		__u32 j = words * 8 + i;
		if (j >= len)
			break;
		h = (h ^ (__u8)buf[(off + j) & SCRATCH_MASK]) * 0x100000001b3ULL;
	}
	return h;
}

static __always_inline int report_open(long ret, int dirfd, const char *filename, __s32 flags, __u32 mode, __u16 sys)
{
	struct probity_config *cfg = get_config();
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	if (!should_report(cfg, tgid))
		return 0;
	struct scratch *s = get_scratch();
	if (!s) {
		count_drop(PROBITY_KIND_OPEN);
		return 0;
	}
	struct probity_open *e = (struct probity_open *)s->buf;
	__u32 off = sizeof(*e);
	long n = bpf_probe_read_user_str(&s->buf[off & SCRATCH_MASK], PROBITY_PATH_MAX, filename);
	if (n < 0)
		n = 0;
	__u32 plen = n;

	/* Enforce mode: kill before the file can be read (only opens that did or could open it). */
	bool killed = false;
	if (cfg->enforce && plen > 1 && (ret >= 0 || ret == -13 /* EACCES */ || ret == -1 /* EPERM */)) {
		__u8 access = 0;
		if ((flags & 3) != O_WRONLY_)
			access |= PROBITY_ACCESS_READ;
		if ((flags & 3) != 0 || (flags & O_TRUNC_))
			access |= PROBITY_ACCESS_WRITE;
		if (flags & O_CREAT_)
			access |= PROBITY_ACCESS_CREATE;
		killed = enforce_path(cfg, tgid, off, access);
	}

	__u32 count = 1;
	/* Coalescing applies to absolute paths short enough to keep in a slot, so that folded opens
	 * can always be reported later with their path. */
	if (!killed && cfg->coalesce_window_ns && plen > 1 && plen <= COALESCE_PATH_MAX && s->buf[sizeof(*e)] == '/') {
		__u64 key = hash_path(s->buf, off, plen);
		key = (key ^ tgid) * 0x100000001b3ULL;
		key = (key ^ (__u32)flags) * 0x100000001b3ULL;
		key = (key ^ (__u64)(ret >= 0 ? 0 : ret)) * 0x100000001b3ULL;
		__u32 index = (__u32)(key ^ (key >> 32)) % COALESCE_SLOTS;
		struct coalesce_slot *slot = bpf_map_lookup_elem(&coalesce, &index);
		if (slot) {
			__u64 now = bpf_ktime_get_boot_ns();
			if (slot->key == key && slot->tgid == tgid) {
				if (now - slot->window_start_ns < cfg->coalesce_window_ns) {
					if (slot->suppressed == 0) {
						/* First fold in this window: keep what a later record needs. */
						struct task_struct *task = bpf_get_current_task_btf();
						__u64 uid_gid = bpf_get_current_uid_gid();
						slot->ppid = task->real_parent->tgid;
						slot->uid = (__u32)uid_gid;
						slot->gid = uid_gid >> 32;
						slot->cgroup_id = bpf_get_current_cgroup_id();
						slot->result = ret;
						slot->open_flags = flags;
						slot->mode = mode;
						slot->syscall = sys;
						slot->path_len = plen;
						bpf_probe_read_kernel(slot->path, COALESCE_PATH_MAX, &s->buf[sizeof(*e)]);
						__u8 one = 1;
						bpf_map_update_elem(&folding, &tgid, &one, BPF_ANY);
					}
					slot->suppressed += 1;
					__u32 zero = 0;
					__u64 *total = bpf_map_lookup_elem(&coalesced_total, &zero);
					if (total)
						*total += 1;
					return 0;
				}
				count += slot->suppressed;
			} else if (slot->suppressed > 0) {
				/* The slot goes to another open: report what it had folded first. */
				emit_folded(cfg, slot);
			}
			slot->key = key;
			slot->tgid = tgid;
			slot->window_start_ns = now;
			slot->suppressed = 0;
		}
	}

	struct task_struct *task = bpf_get_current_task_btf();
	fill_header(&e->hdr, PROBITY_KIND_OPEN, task);
	if (plen == PROBITY_PATH_MAX)
		e->hdr.flags |= PROBITY_F_PATH_TRUNCATED;
	if (count > 1)
		e->hdr.flags |= PROBITY_F_COALESCED;
	if (killed)
		e->hdr.flags |= PROBITY_F_KILLED;
	e->result = ret;
	e->open_flags = flags;
	e->mode = mode;
	e->dirfd = dirfd;
	e->count = count;
	e->syscall = sys;
	e->path_len = plen;
	e->dir_len = 0;
	e->_pad0 = 0;
	off += plen;

	if (plen > 1 && s->buf[sizeof(*e)] != '/') {
		__u32 w = write_relative_dir(s->buf, off, task, dirfd, &e->hdr.flags);
		e->dir_len = w;
		off += w;
	}
	emit(cfg, e, off, PROBITY_KIND_OPEN);
	return 0;
}


SEC("tracepoint/syscalls/sys_exit_openat")
int probity_openat_exit(struct trace_event_raw_sys_exit *ctx)
{
	struct pt_regs *regs = syscall_regs();
	return report_open(ctx->ret, (int)regs->di, (const char *)regs->si, (__s32)regs->dx, (__u32)regs->r10, PROBITY_SYS_OPENAT);
}

SEC("tracepoint/syscalls/sys_exit_open")
int probity_open_exit(struct trace_event_raw_sys_exit *ctx)
{
	struct pt_regs *regs = syscall_regs();
	return report_open(ctx->ret, AT_FDCWD_, (const char *)regs->di, (__s32)regs->si, (__u32)regs->dx, PROBITY_SYS_OPEN);
}

SEC("tracepoint/syscalls/sys_exit_creat")
int probity_creat_exit(struct trace_event_raw_sys_exit *ctx)
{
	struct pt_regs *regs = syscall_regs();
	return report_open(ctx->ret, AT_FDCWD_, (const char *)regs->di, O_CREAT_ | O_WRONLY_ | O_TRUNC_, (__u32)regs->si, PROBITY_SYS_CREAT);
}

SEC("tracepoint/syscalls/sys_exit_openat2")
int probity_openat2_exit(struct trace_event_raw_sys_exit *ctx)
{
	struct pt_regs *regs = syscall_regs();
	struct open_how how = {};
	bpf_probe_read_user(&how, sizeof(how), (void *)regs->dx);
	return report_open(ctx->ret, (int)regs->di, (const char *)regs->si, (__s32)how.flags, (__u32)how.mode, PROBITY_SYS_OPENAT2);
}
