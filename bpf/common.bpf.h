/* common.bpf.h: maps and helpers shared by every Probity BPF program.
 *
 * The maps are declared __weak so that each .bpf.c object can name them and
 * `bpftool gen object` links them into one map each.
 */
#ifndef PROBITY_COMMON_BPF_H
#define PROBITY_COMMON_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include "probity.h"

#define AT_FDCWD_ (-100)

/* `v & mask`, done where the verifier sees it (the compiler may otherwise drop a mask it can
 * prove redundant, and the verifier then loses the bound). */
static __always_inline __u64 bounded(__u64 v, __u64 mask)
{
	asm volatile("%[v] &= %[m]" : [v] "+r"(v) : [m] "i"(mask));
	return v;
}

/* The one ring buffer all records go through. User space sets its size before load. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 24);
} events SEC(".maps") __weak;

/* Records that could not be reserved, per kind, per CPU. Never silent. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, PROBITY_KIND_MAX);
	__type(key, __u32);
	__type(value, __u64);
} dropped SEC(".maps") __weak;

/* Opens folded into an earlier identical record, per CPU (index 0). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} coalesced_total SEC(".maps") __weak;

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct probity_config);
} settings SEC(".maps") __weak;

/* Process tree being followed (tgid -> 1), inherited on fork when follow_tree is set. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, __u32);
	__type(value, __u8);
} tracked SEC(".maps") __weak;

/* Scratch space for building a record before it is copied into the ring. */
#define SCRATCH_SIZE 32768
#define SCRATCH_MASK (SCRATCH_SIZE - 1)
struct scratch {
	char buf[SCRATCH_SIZE * 2]; /* masked offsets stay in the first half; reads may spill into the second */
};
/* One slot per CPU, indexed by the CPU id (programs run with migration disabled). An array
 * rather than a per-CPU array: per-CPU values are limited to 32 KiB. User space sets
 * max_entries to the number of possible CPUs before load. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct scratch);
} scratch_map SEC(".maps") __weak;

static __always_inline struct scratch *get_scratch(void)
{
	__u32 cpu = bpf_get_smp_processor_id();
	return bpf_map_lookup_elem(&scratch_map, &cpu);
}

static __always_inline struct probity_config *get_config(void)
{
	__u32 zero = 0;
	return bpf_map_lookup_elem(&settings, &zero);
}

static __always_inline void count_drop(__u32 kind)
{
	__u64 *n = bpf_map_lookup_elem(&dropped, &kind);
	if (n)
		*n += 1;
}

/* Whether events of the current process should be reported. */
static __always_inline bool should_report(struct probity_config *cfg, __u32 tgid)
{
	if (!cfg)
		return false;
	if (tgid == cfg->ignore_tgid)
		return false;
	if (cfg->follow_tree && !bpf_map_lookup_elem(&tracked, &tgid))
		return false;
	return true;
}

static __always_inline __u64 wake_flags(struct probity_config *cfg)
{
	if (cfg && cfg->wakeup_bytes &&
	    bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) >= cfg->wakeup_bytes)
		return BPF_RB_FORCE_WAKEUP;
	return BPF_RB_NO_WAKEUP;
}

static __always_inline void fill_header(struct probity_header *h, __u32 kind, struct task_struct *task)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u64 uid_gid = bpf_get_current_uid_gid();
	h->time_ns = bpf_ktime_get_boot_ns();
	h->kind = kind;
	h->flags = 0;
	h->pid = pid_tgid >> 32;
	h->tid = (__u32)pid_tgid;
	h->ppid = task->real_parent->tgid; /* BTF pointer walk: no helper call */
	h->uid = (__u32)uid_gid;
	h->gid = uid_gid >> 32;
	h->_pad0 = 0;
	h->cgroup_id = bpf_get_current_cgroup_id();
}

/* Submit `size` bytes of the scratch record; counts a drop when the ring is full. */
static __always_inline void emit(struct probity_config *cfg, void *rec, __u64 size, __u32 kind)
{
	if (size > SCRATCH_SIZE)
		size = SCRATCH_SIZE;
	if (bpf_ringbuf_output(&events, rec, size, wake_flags(cfg)) != 0)
		count_drop(kind);
}

/* State of one dentry walk, carried through bpf_loop (a plain loop this deep is too many
 * states for the verifier). */
struct dpath_walk {
	struct dentry *dentry;
	struct mount *mnt;
	struct dentry *mnt_root;
	__u32 start;
	__u32 off;
	bool truncated;
};

static __always_inline void put_name(struct dpath_walk *w, struct dentry *dentry)
{
	struct scratch *s = get_scratch();
	if (!s)
		return;
	const unsigned char *name = BPF_CORE_READ(dentry, d_name.name);
	long n = bpf_probe_read_kernel_str(&s->buf[bounded(w->off, SCRATCH_MASK)], 256, name);
	if (n > 0)
		w->off += n;
}

static long dpath_step(__u64 index, void *ctx)
{
	struct dpath_walk *w = ctx;
	struct dentry *dentry = w->dentry;
	struct mount *mnt = w->mnt;
	struct dentry *parent = BPF_CORE_READ(dentry, d_parent);
	if (dentry == w->mnt_root || dentry == parent) {
		struct mount *mnt_parent = BPF_CORE_READ(mnt, mnt_parent);
		if (dentry != w->mnt_root || mnt_parent == mnt) {
			/* The real root, or a pseudo filesystem's root (pipe:, memfd:), whose own
			 * name is then the whole path. */
			if (dentry == parent && dentry != w->mnt_root && w->off == w->start)
				put_name(w, dentry);
			return 1;
		}
		/* Cross the mount point into the parent mount. */
		w->dentry = BPF_CORE_READ(mnt, mnt_mountpoint);
		w->mnt = mnt_parent;
		w->mnt_root = BPF_CORE_READ(mnt_parent, mnt.mnt_root);
		return 0;
	}
	if (w->off - w->start > PROBITY_DPATH_MAX - 256) {
		w->truncated = true;
		return 1;
	}
	put_name(w, dentry);
	w->dentry = parent;
	if (index == PROBITY_DPATH_DEPTH - 1)
		w->truncated = true;
	return 0;
}

/* In-kernel coalescing of identical opens: a per-CPU direct-mapped cache of recent opens,
 * indexed by a hash of (process, path, flags, outcome). Per-CPU arrays need no locks and no
 * allocation, unlike an LRU hash whose insert on every distinct open costs more than the open's
 * record itself. A slot that has folded opens keeps the path and header of the open, so that
 * the folded count can be reported with them when the slot is reused or the process exits. */
#define COALESCE_SLOTS 1024
#define COALESCE_PATH_MAX 256

struct coalesce_slot {
	__u64 key;              /* hash of tgid, flags, outcome and path */
	__u64 window_start_ns;
	__u32 tgid;
	__u32 suppressed;       /* identical opens folded since the last record */
	/* Filled at the first fold of a window: */
	__u64 cgroup_id;
	__s64 result;
	__u32 ppid;
	__u32 uid;
	__u32 gid;
	__s32 open_flags;
	__u32 mode;
	__u16 syscall;
	__u16 path_len;
	char path[COALESCE_PATH_MAX];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, COALESCE_SLOTS);
	__type(key, __u32);
	__type(value, struct coalesce_slot);
} coalesce SEC(".maps") __weak;

/* Processes with folded opens not yet reported (tgid -> 1): their exit flushes them. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, __u8);
} folding SEC(".maps") __weak;

/* Reports the opens a slot folded since its last record, as one open record with their count,
 * built in the second half of the scratch buffer (the first may hold a record in progress). */
static __always_inline void emit_folded(struct probity_config *cfg, struct coalesce_slot *slot)
{
	struct scratch *s = get_scratch();
	if (!s) {
		count_drop(PROBITY_KIND_OPEN);
		return;
	}
	struct probity_open *r = (struct probity_open *)&s->buf[SCRATCH_SIZE];
	r->hdr.time_ns = bpf_ktime_get_boot_ns();
	r->hdr.kind = PROBITY_KIND_OPEN;
	r->hdr.flags = PROBITY_F_COALESCED;
	r->hdr.pid = slot->tgid;
	r->hdr.tid = slot->tgid;
	r->hdr.ppid = slot->ppid;
	r->hdr.uid = slot->uid;
	r->hdr.gid = slot->gid;
	r->hdr._pad0 = 0;
	r->hdr.cgroup_id = slot->cgroup_id;
	r->result = slot->result;
	r->open_flags = slot->open_flags;
	r->mode = slot->mode;
	r->dirfd = AT_FDCWD_;
	r->count = slot->suppressed;
	r->syscall = slot->syscall;
	r->path_len = slot->path_len;
	r->dir_len = 0;
	r->_pad0 = 0;
	bpf_probe_read_kernel(&s->buf[SCRATCH_SIZE + sizeof(*r)], COALESCE_PATH_MAX, slot->path);
	__u32 len = slot->path_len;
	if (len > COALESCE_PATH_MAX)
		len = COALESCE_PATH_MAX;
	emit(cfg, r, sizeof(*r) + len, PROBITY_KIND_OPEN);
	slot->suppressed = 0;
}

/*
 * Walk a path's dentries up to the root, writing components leaf first, NUL-terminated, into
 * the scratch buffer at `off`. Returns bytes written; sets *truncated when a limit was reached.
 */
static __always_inline __u32 write_dentry_path(char *buf, __u32 off, struct path *path, bool *truncated)
{
	struct vfsmount *vfsmnt = BPF_CORE_READ(path, mnt);
	struct dpath_walk w = {
		.dentry = BPF_CORE_READ(path, dentry),
		.mnt = container_of(vfsmnt, struct mount, mnt),
		.mnt_root = BPF_CORE_READ(vfsmnt, mnt_root),
		.start = off,
		.off = off,
	};
	bpf_loop(PROBITY_DPATH_DEPTH, dpath_step, &w, 0);
	if (w.truncated)
		*truncated = true;
	return w.off - w.start;
}

/* The struct file behind a descriptor of the current task, or NULL. */
static __always_inline struct file *fd_to_file(struct task_struct *task, int fd)
{
	struct file **fds = BPF_CORE_READ(task, files, fdt, fd);
	unsigned int max = BPF_CORE_READ(task, files, fdt, max_fds);
	struct file *f = NULL;
	if (fd < 0 || (unsigned int)fd >= max)
		return NULL;
	bpf_probe_read_kernel(&f, sizeof(f), &fds[fd]);
	return f;
}

/* For a relative path: the dentry path of the directory it is relative to (dirfd, or the cwd for
 * AT_FDCWD), written at `off`. Sets PROBITY_F_RELATIVE (and PROBITY_F_DPATH_TRUNCATED) in *flags;
 * returns the bytes written (0 when the directory is unknown). */
static __always_inline __u32 write_relative_dir(char *buf, __u32 off, struct task_struct *task, int dirfd, __u32 *flags)
{
	struct path *dir = NULL;
	if (dirfd == AT_FDCWD_) {
		dir = &task->fs->pwd;
	} else {
		struct file *f = fd_to_file(task, dirfd);
		if (f)
			dir = (struct path *)&f->f_path;
	}
	*flags |= PROBITY_F_RELATIVE;
	if (!dir)
		return 0;
	bool truncated = false;
	__u32 w = write_dentry_path(buf, off, dir, &truncated);
	if (truncated)
		*flags |= PROBITY_F_DPATH_TRUNCATED;
	return w;
}

/* The user-space registers saved at syscall entry: the syscall's arguments at its exit. */
static __always_inline struct pt_regs *syscall_regs(void)
{
	return (struct pt_regs *)bpf_task_pt_regs(bpf_get_current_task_btf());
}

#endif
