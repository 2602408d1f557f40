/* open.bpf.c: open, openat, openat2, creat and open_by_handle_at, reported at the syscall's exit
 * with the result.
 *
 * The syscall exit hook (syscall_exit.bpf.c) reads their arguments from the registers saved at
 * syscall entry and calls probity_report_open, so no per-thread state is kept between entry and
 * exit. A successful open is reported with the object it opened: the kernel's own path of the file (walked from the new descriptor's dentry
 * and mount, so `//`, `/./`, `..`, symlinks and relative paths are already resolved), its device
 * and inode, beside the string the caller passed. Enforcement judges that object, at the exit,
 * before the process can use the descriptor. A failed relative open is sent with the dentry path
 * of the directory it was relative to (dirfd, or the cwd); user space joins and normalises them.
 * Identical successful opens of one object by one process within the coalescing window are
 * folded into the next record of that slot (its `count`).
 */
#include "enforce.bpf.h"

/* Within a tick (at most 10 ms at HZ=100) of a clock reading that found the window open with
 * this much to spare, the window is still open: the jiffies counter is read instead of the
 * clock (a plain load rather than about 40 ns). */
#define COALESCE_TICK_NS 10000000ULL

/* The coalescing slot for a successful open, and whether this open folds into it (then the
 * caller reports nothing). On a miss the slot is claimed for this open, and *now is set to the
 * time it read (the record's time). */
static __always_inline bool coalesce_open(struct probity_config *cfg, __u32 tgid, struct file *f, __u32 dev, __u64 ino,
					  long ret, __s32 flags, __u32 mode, __u16 sys, __u64 *now, __u32 *count)
{
	__u64 key = (ino ^ ((__u64)dev << 32)) * 0x100000001b3ULL;
	key = (key ^ tgid) * 0x100000001b3ULL;
	key = (key ^ (__u32)flags) * 0x100000001b3ULL;
	/* This CPU's slot for it: CPU × COALESCE_SLOTS + index (emit_folded takes any CPU's). */
	__u32 index = bpf_get_smp_processor_id() * COALESCE_SLOTS + (__u32)(key ^ (key >> 32)) % COALESCE_SLOTS;
	struct coalesce_slot *slot = bpf_map_lookup_elem(&coalesce, &index);
	if (!slot)
		return false;
	bool same = slot->ino == ino && slot->dev == dev && slot->tgid == tgid && slot->open_flags == flags;
	__u64 jiffies = bpf_jiffies64();
	bool open_window = same && jiffies == slot->checked_jiffies;
	if (same && !open_window) {
		*now = bpf_ktime_get_boot_ns();
		__u64 elapsed = *now - slot->window_start_ns;
		open_window = elapsed < cfg->coalesce_window_ns;
		if (elapsed + COALESCE_TICK_NS < cfg->coalesce_window_ns)
			slot->checked_jiffies = jiffies;
	}
	if (open_window) {
		if (slot->suppressed == 0) {
			/* First fold in this window: keep what a later record needs, the path too. */
			struct scratch *s = get_scratch();
			struct coalesce_kept *kept = bpf_map_lookup_elem(&coalesce_kept, &index);
			if (!s || !kept)
				return false;
			bool truncated = false;
			/* (No record is in progress: the start of the scratch buffer is free.) */
			__u32 len = write_dentry_path(s->buf, 0, (struct path *)&f->f_path, &truncated);
			if (truncated || len == 0 || len > COALESCE_PATH_MAX)
				return false; /* too long to keep: reported one by one */
			bpf_probe_read_kernel(kept->path, COALESCE_PATH_MAX, s->buf);
			kept->path_len = len;
			struct task_struct *task = bpf_get_current_task_btf();
			kept->ppid = task->real_parent->tgid;
			kept->uid = task->cred->uid.val;
			kept->gid = task->cred->gid.val;
			kept->cgroup_id = task->cgroups->dfl_cgrp->kn->id;
			kept->result = ret;
			kept->mode = mode;
			kept->syscall = sys;
			mark_folding(tgid);
		}
		slot->suppressed += 1;
		__u32 zero = 0;
		__u64 *total = bpf_map_lookup_elem(&coalesced_total, &zero);
		if (total)
			*total += 1;
		return true;
	}
	if (same)
		*count += slot->suppressed;
	else if (slot->suppressed > 0)
		/* The slot goes to another open: report what it had folded first. */
		emit_folded(cfg, slot, index);
	if (*now == 0)
		*now = bpf_ktime_get_boot_ns();
	slot->ino = ino;
	slot->dev = dev;
	slot->tgid = tgid;
	slot->open_flags = flags;
	slot->window_start_ns = *now;
	slot->checked_jiffies = 0;
	slot->suppressed = 0;
	return false;
}

/* One global function (verified once, not once per calling program) builds every open's record.
 * Arguments are scalars: `how` is the open flags in the high 32 bits and the mode in the low. */
__noinline int probity_report_open(long ret, int dirfd, __u64 name, __u64 how, __u32 sys)
{
	const char *filename = (const char *)name;
	__s32 flags = (__s32)(how >> 32);
	__u32 mode = (__u32)how;
	struct probity_config *cfg = get_config();
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	if (!should_report(cfg, tgid))
		return 0;

	struct scratch *s = get_scratch();
	if (!s) {
		count_drop(PROBITY_KIND_OPEN);
		return 0;
	}
	struct task_struct *task = bpf_get_current_task_btf();
	struct file *f = ret >= 0 ? fd_to_file((int)ret) : NULL;
	__u64 ino = 0;
	__u32 dev = 0;
	if (f)
		ino = probity_file_object((__u64)f, &dev);

	bool enforced = cfg->enforce && bpf_map_lookup_elem(&enforce_class, &tgid);

	__u32 count = 1;
	__u64 now = 0;
	if (f && !enforced && cfg->coalesce_window_ns &&
	    coalesce_open(cfg, tgid, f, dev, ino, ret, flags, mode, sys, &now, &count))
		return 0;
	if (now == 0)
		now = bpf_ktime_get_boot_ns();


	struct probity_open *e = (struct probity_open *)s->buf;
	__u32 off = sizeof(*e);
	long n = bpf_probe_read_user_str(&s->buf[off & SCRATCH_MASK], PROBITY_PATH_MAX, filename);
	if (n < 0)
		n = 0;
	__u32 plen = n;
	fill_header_at(&e->hdr, PROBITY_KIND_OPEN, task, now);
	if (count > 1)
		e->hdr.flags |= PROBITY_F_COALESCED;
	init_open_record(e, ret, flags, mode, dirfd, count, sys, plen);
	e->ino = ino;
	e->dev = dev;
	off += plen;


	if (plen > 1 && s->buf[sizeof(*e)] != '/')
		e->hdr.flags |= PROBITY_F_RELATIVE;
	if (f) {
		bool truncated = false;
		__u32 w = write_dentry_path(s->buf, off, (struct path *)&f->f_path, &truncated);
		e->hdr.flags |= PROBITY_F_OBJECT;
		if (truncated)
			e->hdr.flags |= PROBITY_F_DPATH_TRUNCATED;
		e->object_len = w;
		/* Enforce mode: kill before the descriptor can be used. */
		if (enforced && w > 1 && enforce_object(cfg, tgid, off, open_access(flags), dev, ino))
			e->hdr.flags |= PROBITY_F_KILLED;
		off += w;
	} else {
		/* Refused by permissions: the attempt is judged on the path asked for, when absolute. */
		if (enforced && plen > 1 && (ret == -13 /* EACCES */ || ret == -1 /* EPERM */) &&
		    enforce_object(cfg, tgid, sizeof(*e), open_access(flags), 0, 0))
			e->hdr.flags |= PROBITY_F_KILLED;
		if (e->hdr.flags & PROBITY_F_RELATIVE) {
			__u32 w = write_relative_dir(s->buf, off, task, dirfd, &e->hdr.flags);
			e->dir_len = w;
			off += w;
		}
	}
	emit(cfg, e, off, PROBITY_KIND_OPEN);
	return 0;
}
