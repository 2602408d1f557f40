/* process.bpf.c: process lifecycle: exec (successful and failed), fork, exit.
 *
 * Successful execs are reported from sched_process_exec, where the new image is in place: the
 * executable the kernel resolved (bprm->file), argv from the new mm, the cwd. Failed execs never
 * reach that tracepoint, so the execve/execveat syscall exits report them with the arguments the
 * caller passed (its memory is still intact).
 */
#include "enforce.bpf.h"

static __always_inline __u32 clamp_u32(__u64 v, __u32 max, bool *truncated)
{
	if (v > max) {
		*truncated = true;
		return max;
	}
	return (__u32)v;
}

/* A script's name as run, absolute (a relative name joined to the cwd at `tmp_off`, space the
 * record has not used yet), checked for an exec kill. */
static __always_inline bool enforce_script(struct probity_config *cfg, struct task_struct *p, struct scratch *s,
					   __u32 filename_off, __u32 tmp_off)
{
	if (s->buf[bounded(filename_off, SCRATCH_MASK)] == '/')
		return enforce_object(cfg, p->tgid, filename_off, PROBITY_ACCESS_EXEC, 0, 0);
	bool truncated = false;
	__u32 w = write_dentry_path(s->buf, tmp_off, &BPF_CORE_READ(p, fs)->pwd, &truncated);
	if (w == 0 || truncated)
		return false;
	__u32 at = tmp_off + w - 1; /* the NUL */
	s->buf[bounded(at, SCRATCH_MASK)] = '/';
	bpf_probe_read_kernel_str(&s->buf[bounded(at + 1, SCRATCH_MASK)], 256, &s->buf[bounded(filename_off, SCRATCH_MASK)]);
	return enforce_object(cfg, p->tgid, tmp_off, PROBITY_ACCESS_EXEC, 0, 0);
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(probity_exec, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
	struct probity_config *cfg = get_config();
	if (!should_report(cfg, p->tgid))
		return 0;
	struct scratch *s = get_scratch();
	if (!s) {
		count_drop(PROBITY_KIND_EXEC);
		return 0;
	}
	struct probity_exec *e = (struct probity_exec *)s->buf;
	fill_header(&e->hdr, PROBITY_KIND_EXEC, p);
	e->result = 0;
	e->start_time_ns = BPF_CORE_READ(p, start_boottime);
	e->argc = BPF_CORE_READ(bprm, argc);
	e->syscall = 0;
	e->_pad0 = 0;
	e->_pad1 = 0;
	e->_pad2 = 0;
	e->env_len = 0;

	__u32 off = sizeof(*e);
	long n = bpf_probe_read_kernel_str(&s->buf[off & SCRATCH_MASK], PROBITY_PATH_MAX, BPF_CORE_READ(bprm, filename));
	if (n < 0)
		n = 0;
	if (n == PROBITY_PATH_MAX)
		e->hdr.flags |= PROBITY_F_PATH_TRUNCATED;
	e->filename_len = n;
	__u32 filename_off = off;
	off += n;

	bool truncated = false;
	struct file *file = BPF_CORE_READ(bprm, file);
	__u32 exe_off = off;
	__u32 w = write_dentry_path(s->buf, off, (struct path *)&file->f_path, &truncated);
	e->exe_len = w;
	if (BPF_CORE_READ(file, f_inode, i_nlink) == 0)
		e->hdr.flags |= PROBITY_F_EXE_UNLINKED;
	/* binfmt_script (and binfmt_misc) point bprm->interp at the interpreter's name. */
	bool script = BPF_CORE_READ(bprm, interp) != BPF_CORE_READ(bprm, filename);
	if (script)
		e->hdr.flags |= PROBITY_F_SCRIPT;
	/* Enforce mode: the new image has not run an instruction yet. The binary is judged by its
	 * object; a script (the kernel now runs its interpreter) by the name it was run by, joined
	 * to the cwd when relative, since the script's own file is no longer at hand here. */
	if (cfg->enforce && bpf_map_lookup_elem(&enforce_class, &e->hdr.pid)) {
		struct inode *inode = BPF_CORE_READ(file, f_inode);
		bool kill = w > 1 && enforce_object(cfg, p->tgid, off, PROBITY_ACCESS_EXEC, BPF_CORE_READ(inode, i_sb, s_dev),
						   BPF_CORE_READ(inode, i_ino));
		if (!kill && n > 1 && script)
			kill = enforce_script(cfg, p, s, filename_off, off + w);
		if (!kill && (e->hdr.flags & PROBITY_F_EXE_UNLINKED)) {
			/* A memory-backed (memfd) or deleted executable: no file on disk to judge. */
			__u32 *cls = bpf_map_lookup_elem(&enforce_class, &e->hdr.pid);
			struct probity_class *class = cls && *cls ? bpf_map_lookup_elem(&enforce_classes, cls) : NULL;
			if (class && (class->flags & PROBITY_CLASS_KILL_MEMORY_EXEC)) {
				bpf_send_signal(SIGKILL_);
				count_enforced(0);
				kill = true;
			}
		}
		if (kill)
			e->hdr.flags |= PROBITY_F_KILLED;
	}
	off += w;

	struct mm_struct *mm = BPF_CORE_READ(p, mm);
	__u64 arg_start = BPF_CORE_READ(mm, arg_start);
	__u64 arg_end = BPF_CORE_READ(mm, arg_end);
	bool argv_trunc = false;
	__u32 alen = clamp_u32(arg_end > arg_start ? arg_end - arg_start : 0, PROBITY_ARGV_MAX, &argv_trunc);
	if (argv_trunc)
		e->hdr.flags |= PROBITY_F_ARGV_TRUNCATED;
	if (alen > 0 && alen <= PROBITY_ARGV_MAX &&
	    bpf_probe_read_user(&s->buf[off & SCRATCH_MASK], alen, (void *)arg_start) == 0) {
		e->argv_len = alen;
		off += alen;
	} else {
		e->argv_len = 0;
	}

	struct path *pwd = &BPF_CORE_READ(p, fs)->pwd;
	w = write_dentry_path(s->buf, off, pwd, &truncated);
	e->cwd_len = w;
	off += w;
	if (truncated)
		e->hdr.flags |= PROBITY_F_DPATH_TRUNCATED;

	/* The environment, for attribution (npm lifecycle, PEP 517 builds): read here, in the
	 * kernel, because a short-lived process is gone before user space could read /proc. */
	__u64 env_start = BPF_CORE_READ(mm, env_start);
	__u64 env_end = BPF_CORE_READ(mm, env_end);
	__u64 env_size = env_end > env_start ? env_end - env_start : 0;
	if (env_size > PROBITY_ENV_MAX) {
		env_start = env_end - PROBITY_ENV_MAX;
		env_size = PROBITY_ENV_MAX;
		e->hdr.flags |= PROBITY_F_ENV_TRUNCATED;
	}
	if (env_size > 0 && env_size <= PROBITY_ENV_MAX &&
	    bpf_probe_read_user(&s->buf[bounded(off, SCRATCH_MASK)], env_size, (void *)env_start) == 0) {
		e->env_len = env_size;
		if (!(e->hdr.flags & PROBITY_F_KILLED))
			exempt_at_exec(cfg, p->tgid, exe_off, off, env_size, e->hdr.flags & PROBITY_F_ENV_TRUNCATED);
		off += env_size;
	}

	emit(cfg, e, off, PROBITY_KIND_EXEC);
	return 0;
}

/* Copying a caller's argv, one string per bpf_loop step. */
struct argv_copy {
	const char *const *argv;
	__u32 start;
	__u32 off;
	__u32 argc;
	bool truncated;
};

static long argv_step(__u64 i, void *ctx)
{
	struct argv_copy *a = ctx;
	const char *arg = NULL;
	if (bpf_probe_read_user(&arg, sizeof(arg), &a->argv[i & (PROBITY_ARGS_MAX - 1)]) != 0 || !arg)
		return 1;
	if (a->off - a->start > PROBITY_ARGV_MAX - 256) {
		a->truncated = true;
		return 1;
	}
	struct scratch *s = get_scratch();
	if (!s)
		return 1;
	long n = bpf_probe_read_user_str(&s->buf[bounded(a->off, SCRATCH_MASK)], 256, arg);
	if (n <= 0)
		return 1;
	if (n == 256)
		a->truncated = true;
	a->off += n;
	a->argc++;
	return 0;
}

/* Failed execve/execveat: filename and argv from the caller's memory. */
static __always_inline int report_failed_exec(long ret, const char *filename, const char *const *argv, __u16 sys, int dirfd)
{
	if (ret >= 0)
		return 0;
	struct probity_config *cfg = get_config();
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	if (!should_report(cfg, tgid))
		return 0;
	struct scratch *s = get_scratch();
	if (!s) {
		count_drop(PROBITY_KIND_EXEC);
		return 0;
	}
	struct task_struct *task = bpf_get_current_task_btf();
	struct probity_exec *e = (struct probity_exec *)s->buf;
	fill_header(&e->hdr, PROBITY_KIND_EXEC, task);
	e->hdr.flags |= PROBITY_F_FAILED_EXEC;
	e->result = ret;
	e->start_time_ns = task->start_boottime;
	e->syscall = sys;
	e->_pad0 = 0;
	e->_pad1 = 0;
	e->_pad2 = 0;
	e->exe_len = 0;
	e->env_len = 0;

	__u32 off = sizeof(*e);
	long n = bpf_probe_read_user_str(&s->buf[off & SCRATCH_MASK], PROBITY_PATH_MAX, filename);
	if (n < 0)
		n = 0;
	e->filename_len = n;
	off += n;

	struct argv_copy a = { .argv = argv, .start = off, .off = off };
	bpf_loop(PROBITY_ARGS_MAX, argv_step, &a, 0);
	if (a.argc == PROBITY_ARGS_MAX) {
		const char *more = NULL;
		bpf_probe_read_user(&more, sizeof(more), &argv[PROBITY_ARGS_MAX]);
		if (more)
			a.truncated = true;
	}
	if (a.truncated)
		e->hdr.flags |= PROBITY_F_ARGV_TRUNCATED;
	e->argc = a.argc;
	e->argv_len = a.off - a.start;
	off = a.off;

	bool truncated = false;
	struct path *pwd = &BPF_CORE_READ(task, fs)->pwd;
	__u32 w = write_dentry_path(s->buf, off, pwd, &truncated);
	e->cwd_len = w;
	off += w;
	if (truncated)
		e->hdr.flags |= PROBITY_F_DPATH_TRUNCATED;

	emit(cfg, e, off, PROBITY_KIND_EXEC);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_execve")
int probity_execve_exit(struct trace_event_raw_sys_exit *ctx)
{
	if (ctx->ret >= 0)
		return 0;
	struct pt_regs *regs = syscall_regs();
	return report_failed_exec(ctx->ret, (const char *)SYSCALL_ARG1(regs), (const char *const *)SYSCALL_ARG2(regs),
				  PROBITY_SYS_EXECVE, AT_FDCWD_);
}

SEC("tracepoint/syscalls/sys_exit_execveat")
int probity_execveat_exit(struct trace_event_raw_sys_exit *ctx)
{
	if (ctx->ret >= 0)
		return 0;
	struct pt_regs *regs = syscall_regs();
	return report_failed_exec(ctx->ret, (const char *)SYSCALL_ARG2(regs), (const char *const *)SYSCALL_ARG3(regs),
				  PROBITY_SYS_EXECVEAT, (int)SYSCALL_ARG1(regs));
}

SEC("tp_btf/sched_process_fork")
int BPF_PROG(probity_fork, struct task_struct *parent, struct task_struct *child)
{
	if (child->pid != child->tgid)
		return 0; /* a new thread, not a process */
	struct probity_config *cfg = get_config();
	if (!cfg)
		return 0;
	__u32 ptgid = parent->tgid;
	__u32 ctgid = child->tgid;
	if (cfg->follow_tree) {
		if (!bpf_map_lookup_elem(&tracked, &ptgid))
			return 0;
		__u8 one = 1;
		if (bpf_map_update_elem(&tracked, &ctgid, &one, BPF_ANY) != 0)
			count_map_full(PROBITY_FULL_TRACKED);
	}
	if (!should_report(cfg, ptgid))
		return 0;
	struct probity_fork e = {};
	fill_header(&e.hdr, PROBITY_KIND_FORK, parent);
	e.child_pid = ctgid;
	e.child_start_time_ns = child->start_boottime;
	if (bpf_ringbuf_output(&events, &e, sizeof(e), wake_flags(cfg, sizeof(e))) != 0)
		count_drop(PROBITY_KIND_FORK);
	return 0;
}

/* At exit, report the opens the coalescing slots of each CPU marked in `folding` folded for the
 * process: a process that moved between CPUs left folded opens on each. */
struct flush_folded {
	__u32 tgid;
	__u32 base;   /* the first slot of the CPU being flushed */
	__u64 cpus;   /* the CPUs to flush (see `folding`) */
};

static long flush_step(__u64 index, void *ctx)
{
	struct flush_folded *f = ctx;
	__u32 key = f->base + (__u32)index;
	struct coalesce_slot *slot = bpf_map_lookup_elem(&coalesce, &key);
	if (!slot)
		return 1; /* past the last CPU */
	if (slot->tgid == f->tgid && slot->suppressed > 0)
		emit_folded(get_config(), slot, key);
	return 0;
}

static long flush_cpu(__u64 index, void *ctx)
{
	struct flush_folded *f = ctx;
	__u32 cpu = (__u32)index;
	if (cpu < FOLDING_CPU_BITS && !(f->cpus & (1ULL << cpu)))
		return 0;
	if (cpu >= FOLDING_CPU_BITS && !(f->cpus & (1ULL << FOLDING_CPU_BITS)))
		return 1;
	f->base = cpu * COALESCE_SLOTS;
	__u32 zero_key = f->base;
	if (!bpf_map_lookup_elem(&coalesce, &zero_key))
		return 1; /* no such CPU */
	bpf_loop(COALESCE_SLOTS, flush_step, f, 0);
	return 0;
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(probity_exit, struct task_struct *p, bool group_dead)
{
	if (!group_dead)
		return 0;
	struct probity_config *cfg = get_config();
	__u32 tgid = p->tgid;
	__u64 *cpus = bpf_map_lookup_elem(&folding, &tgid);
	if (cpus) {
		struct flush_folded f = { .tgid = tgid, .cpus = *cpus };
		bpf_map_delete_elem(&folding, &tgid);
		bpf_loop(PROBITY_MAX_CPUS, flush_cpu, &f, 0);
	}
	if (!should_report(cfg, tgid))
		return 0;
	struct probity_exit e = {};
	fill_header(&e.hdr, PROBITY_KIND_EXIT, p);
	e.exit_code = p->exit_code;
	e.start_time_ns = p->start_boottime;
	if (bpf_ringbuf_output(&events, &e, sizeof(e), wake_flags(cfg, sizeof(e))) != 0)
		count_drop(PROBITY_KIND_EXIT);
	if (cfg && cfg->follow_tree)
		bpf_map_delete_elem(&tracked, &tgid);
	return 0;
}
