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
#define O_CREAT_ 0100
#define O_WRONLY_ 01
#define O_TRUNC_ 01000

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

/* Process tree being followed (tgid -> 1), inherited on fork when follow_tree is set. User space
 * may size it before load (ProbeOptions.maxTracked). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, __u32);
	__type(value, __u8);
} tracked SEC(".maps") __weak;

/* Inserts into `tracked` and `enforce_class` that failed (the map was full), per CPU, indexed by
 * enum probity_map_full. Never silent: a process missing from either map is not watched. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, PROBITY_FULL_MAX);
	__type(key, __u32);
	__type(value, __u64);
} map_full SEC(".maps") __weak;

static __always_inline void count_map_full(__u32 which)
{
	__u64 *n = bpf_map_lookup_elem(&map_full, &which);
	if (n)
		*n += 1;
}

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

/* Slot `index` of this CPU's `slots` in `map`. The kernel's caches are plain arrays of slots ×
 * possible CPUs (user space sizes them before load), not per-CPU arrays: a per-CPU array reaches
 * each value through a table of pointers, and on a distinct open that table and the slot were two
 * cache misses in a row (perf put a quarter of the open program's own time on them). */
static __always_inline void *cpu_slot(void *map, __u32 slots, __u32 index)
{
	__u32 key = bpf_get_smp_processor_id() * slots + index;
	return bpf_map_lookup_elem(map, &key);
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

/* The wake-up flag for a record of `size` bytes: the reader polls, and is woken only when the
 * data pending crosses a multiple of `wakeup_bytes`. Waking it on every record while the backlog
 * stays above the mark (as a plain threshold would) costs an irq_work per record exactly when
 * the reader is busiest: measured, it tripled the cost of an open under a burst. */
static __always_inline __u64 wake_flags(struct probity_config *cfg, __u64 size)
{
	if (!cfg || !cfg->wakeup_bytes)
		return BPF_RB_NO_WAKEUP;
	__u64 pending = bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA);
	if ((pending + size) / cfg->wakeup_bytes != pending / cfg->wakeup_bytes)
		return BPF_RB_FORCE_WAKEUP;
	return BPF_RB_NO_WAKEUP;
}

/* The header of a record of the current task, stamped `now` (bpf_ktime_get_boot_ns: about 40 ns
 * a call here, so a program that already has the time passes it on). */
static __always_inline void fill_header_at(struct probity_header *h, __u32 kind, struct task_struct *task, __u64 now)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	/* What bpf_get_current_uid_gid and bpf_get_current_cgroup_id read, loaded through the
	 * current task's typed pointer: a few plain loads instead of two helper calls (50 ns). */
	struct task_struct *current = bpf_get_current_task_btf();
	const struct cred *cred = current->cred;
	h->time_ns = now;
	h->kind = kind;
	h->flags = 0;
	h->pid = pid_tgid >> 32;
	h->tid = (__u32)pid_tgid;
	h->ppid = task->real_parent->tgid; /* BTF pointer walk: no helper call */
	h->uid = cred->uid.val;
	h->gid = cred->gid.val;
	h->_pad0 = 0;
	h->cgroup_id = current->cgroups->dfl_cgrp->kn->id;
}

static __always_inline void fill_header(struct probity_header *h, __u32 kind, struct task_struct *task)
{
	fill_header_at(h, kind, task, bpf_ktime_get_boot_ns());
}

/* Submit `size` bytes of the scratch record; counts a drop when the ring is full. */
static __always_inline void emit(struct probity_config *cfg, void *rec, __u64 size, __u32 kind)
{
	if (size > SCRATCH_SIZE)
		size = SCRATCH_SIZE;
	if (bpf_ringbuf_output(&events, rec, size, wake_flags(cfg, size)) != 0)
		count_drop(kind);
}

/* In-kernel coalescing of identical opens: a per-CPU direct-mapped cache of recent successful
 * opens, indexed by a hash of (process, object, flags) and matched on the exact fields, never the
 * hash alone. The object is the opened file's device and inode, so a repeated open is recognised
 * before its path is walked, and two paths cannot fold into one unless they name the same file.
 * Per-CPU arrays need no locks and no allocation, unlike an LRU hash whose insert on every
 * distinct open costs more than the open's record itself. A slot is small (what every open
 * compares and claims: 48 bytes, so the table stays in cache); what a slot that folded opens
 * keeps for their record (the header of the open and the object's path) is in a second array
 * at the same index, touched only when it folds. The folded count is reported with them when the
 * slot is reused or the process exits. Failed opens and processes under enforcement are never
 * folded. */
#define COALESCE_SLOTS PROBITY_COALESCE_SLOTS
#define COALESCE_PATH_MAX 256

struct coalesce_slot {
	__u64 ino;
	__u64 window_start_ns;
	__u64 checked_jiffies;  /* a jiffy in which the window was seen open: no clock read needed */
	__u32 dev;
	__u32 tgid;
	__s32 open_flags;
	__u32 suppressed;       /* identical opens folded since the last record */
};

/* Kept at the first fold of a window, for the record of the folded opens. */
struct coalesce_kept {
	__u64 cgroup_id;
	__s64 result;
	__u32 ppid;
	__u32 uid;
	__u32 gid;
	__u32 mode;
	__u16 syscall;
	__u16 path_len;
	__u32 _pad0;
	char path[COALESCE_PATH_MAX];
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, COALESCE_SLOTS); /* × possible CPUs, at load */
	__type(key, __u32);
	__type(value, struct coalesce_slot);
} coalesce SEC(".maps") __weak;

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, COALESCE_SLOTS); /* × possible CPUs, at load */
	__type(key, __u32);
	__type(value, struct coalesce_kept);
} coalesce_kept SEC(".maps") __weak;

/* Processes with folded opens not yet reported: tgid -> the CPUs whose slots hold them (bit n for
 * CPU n below 63; bit 63 for every CPU from 63 up). Their exit flushes those CPUs' slots. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, __u64);
} folding SEC(".maps") __weak;

#define FOLDING_CPU_BITS 63

/* Marks that the current CPU's slots hold folded opens of `tgid`. */
static __always_inline void mark_folding(__u32 tgid)
{
	__u32 cpu = bpf_get_smp_processor_id();
	__u64 bit = 1ULL << (cpu < FOLDING_CPU_BITS ? cpu : FOLDING_CPU_BITS);
	__u64 *cpus = bpf_map_lookup_elem(&folding, &tgid);
	if (cpus) {
		if (!(*cpus & bit))
			__sync_fetch_and_or(cpus, bit);
		return;
	}
	if (bpf_map_update_elem(&folding, &tgid, &bit, BPF_NOEXIST) != 0) {
		/* Another CPU added it first: add this one. */
		cpus = bpf_map_lookup_elem(&folding, &tgid);
		if (cpus)
			__sync_fetch_and_or(cpus, bit);
	}
}

/* Reports the opens slot `key` (CPU × COALESCE_SLOTS + index: any CPU's, for an exit flush)
 * folded since its last record, as one open record with their count and the object's path, built
 * in the second half of the scratch buffer (the first may hold a record in progress). The count
 * is taken with an atomic exchange: an exit flush from another CPU and the slot's own CPU
 * claiming it for another open never both report it. */
static __always_inline void emit_folded(struct probity_config *cfg, struct coalesce_slot *slot, __u32 key)
{
	struct scratch *s = get_scratch();
	struct coalesce_kept *kept = bpf_map_lookup_elem(&coalesce_kept, &key);
	if (!s || !kept) {
		count_drop(PROBITY_KIND_OPEN);
		return;
	}
	__u32 tgid = slot->tgid, dev = slot->dev;
	__u64 ino = slot->ino;
	__s32 open_flags = slot->open_flags;
	__u32 count = __sync_lock_test_and_set(&slot->suppressed, 0);
	if (count == 0)
		return;
	struct probity_open *r = (struct probity_open *)&s->buf[SCRATCH_SIZE];
	r->hdr.time_ns = bpf_ktime_get_boot_ns();
	r->hdr.kind = PROBITY_KIND_OPEN;
	r->hdr.flags = PROBITY_F_COALESCED | PROBITY_F_OBJECT;
	r->hdr.pid = tgid;
	r->hdr.tid = tgid;
	r->hdr.ppid = kept->ppid;
	r->hdr.uid = kept->uid;
	r->hdr.gid = kept->gid;
	r->hdr._pad0 = 0;
	r->hdr.cgroup_id = kept->cgroup_id;
	r->result = kept->result;
	r->open_flags = open_flags;
	r->mode = kept->mode;
	r->dirfd = AT_FDCWD_;
	r->count = count;
	r->syscall = kept->syscall;
	r->path_len = 0;
	r->dir_len = 0;
	r->ino = ino;
	r->dev = dev;
	r->_pad0 = 0;
	bpf_probe_read_kernel(&s->buf[SCRATCH_SIZE + sizeof(*r)], COALESCE_PATH_MAX, kept->path);
	__u32 len = kept->path_len;
	if (len > COALESCE_PATH_MAX)
		len = COALESCE_PATH_MAX;
	r->object_len = len;
	emit(cfg, r, sizeof(*r) + len, PROBITY_KIND_OPEN);
}

#define DPATH_TRUNCATED_BIT 0x80000000u

/* Defined once, in path.bpf.c (the one object that casts kernel addresses to typed pointers):
 * the kernel's path of a `struct path` at `path_address`, written into the scratch buffer at
 * `off` (see there), and the device and inode of the `struct file` at `file`. */
extern __u32 probity_dentry_path(__u32 off, __u64 path_address);
extern __u64 probity_file_object(__u64 file, __u32 *dev);
extern __u64 probity_fd_file(int fd);

/* The reporters the syscall exit hook (syscall_exit.bpf.c) hands each watched call to, defined in
 * their concern's object: the open family (open.bpf.c) and calls through the 32-bit ABI (abi.bpf.c). */
extern int probity_report_open(long ret, int dirfd, __u64 name, __u64 how, __u32 sys);
extern int probity_report_compat(__u32 nr);

/* probity_dentry_path for a caller: the bytes written (at most PROBITY_DPATH_MAX + 1, as the
 * verifier sees it), and *truncated set when the path was cut. `buf` is the scratch buffer. */
static __always_inline __u32 write_dentry_path(char *buf, __u32 off, struct path *path, bool *truncated)
{
	__u32 r = probity_dentry_path(off, (__u64)path);
	if (r & DPATH_TRUNCATED_BIT)
		*truncated = true;
	r &= ~DPATH_TRUNCATED_BIT;
	if (r > PROBITY_DPATH_MAX + 1)
		return 0;
	return r;
}

/* The struct file behind a descriptor of the current task, or NULL. An address for
 * BPF_CORE_READ and for field addresses (&f->f_path): it is not dereferenced directly. */
static __always_inline struct file *fd_to_file(int fd)
{
	return (struct file *)probity_fd_file(fd);
}

/* The directory a relative path of `task` is resolved in: dirfd's, or the cwd for AT_FDCWD. */
static __always_inline struct path *dir_of(struct task_struct *task, int dirfd)
{
	if (dirfd == AT_FDCWD_)
		return &BPF_CORE_READ(task, fs)->pwd;
	struct file *f = fd_to_file(dirfd);
	return f ? (struct path *)&f->f_path : NULL;
}

/* For a relative path: the dentry path of the directory it is relative to (dirfd, or the cwd for
 * AT_FDCWD), written at `off`. Sets PROBITY_F_RELATIVE (and PROBITY_F_DPATH_TRUNCATED) in *flags;
 * returns the bytes written (0 when the directory is unknown). */
static __always_inline __u32 write_relative_dir(char *buf, __u32 off, struct task_struct *task, int dirfd, __u32 *flags)
{
	struct path *dir = dir_of(task, dirfd);
	*flags |= PROBITY_F_RELATIVE;
	if (!dir)
		return 0;
	bool truncated = false;
	__u32 w = write_dentry_path(buf, off, dir, &truncated);
	if (truncated)
		*flags |= PROBITY_F_DPATH_TRUNCATED;
	return w;
}

/* The fixed part of an open (or unlink) record after its header: one outcome, one name of
 * `path_len` bytes, no directory and no object yet. */
static __always_inline void init_open_record(struct probity_open *e, long ret, __s32 flags, __u32 mode, int dirfd,
					     __u32 count, __u16 sys, __u32 path_len)
{
	e->result = ret;
	e->open_flags = flags;
	e->mode = mode;
	e->dirfd = dirfd;
	e->count = count;
	e->syscall = sys;
	e->path_len = path_len;
	e->dir_len = 0;
	e->object_len = 0;
	e->ino = 0;
	e->dev = 0;
	e->_pad0 = 0;
	if (path_len == PROBITY_PATH_MAX)
		e->hdr.flags |= PROBITY_F_PATH_TRUNCATED;
}

/* The user-space registers saved at syscall entry: the syscall's arguments at its exit. The
 * pointer is the kernel's typed one, so libbpf's per-architecture syscall argument macros read
 * each argument with one plain load, relocated by CO-RE (struct pt_regs is preserve_access_index
 * in vmlinux.h); a BPF_CORE_READ would cost a helper call each. */
static __always_inline struct pt_regs *syscall_regs(void)
{
	return (struct pt_regs *)bpf_task_pt_regs(bpf_get_current_task_btf());
}

/* The number of the system call the registers were saved for, and the numbers the syscall exit
 * hook dispatches on (the architecture's own table; -1: no such call there). */
#if defined(bpf_target_x86)
#define SYSCALL_NR(regs) ((long)(regs)->orig_ax)
#define NR_open 2
#define NR_creat 85
#define NR_openat 257
#define NR_open_by_handle_at 304
#define NR_openat2 437
#elif defined(bpf_target_arm64)
#define SYSCALL_NR(regs) ((long)(regs)->syscallno)
#define NR_open -1
#define NR_creat -1
#define NR_openat 56
#define NR_open_by_handle_at 265
#define NR_openat2 437
#else
#error "syscall numbers are not defined for this architecture"
#endif

#define SYSCALL_ARG1(regs) PT_REGS_PARM1_SYSCALL(regs)
#define SYSCALL_ARG2(regs) PT_REGS_PARM2_SYSCALL(regs)
#define SYSCALL_ARG3(regs) PT_REGS_PARM3_SYSCALL(regs)
#define SYSCALL_ARG4(regs) PT_REGS_PARM4_SYSCALL(regs)
#define SYSCALL_ARG5(regs) PT_REGS_PARM5_SYSCALL(regs)
/* libbpf 1.1 stops at five; the sixth is the same register on both ABIs' syscall convention. */
#if defined(bpf_target_x86)
#define SYSCALL_ARG6(regs) ((regs)->r9)
#elif defined(bpf_target_arm64)
#define SYSCALL_ARG6(regs) ((regs)->regs[5])
#else
#error "SYSCALL_ARG6 is not defined for this architecture"
#endif

#endif
