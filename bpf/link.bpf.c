/* link.bpf.c: names placed in a directory: rename, renameat, renameat2 (a file moved to a new
 * name), link, linkat (another name of a file), symlink, symlinkat (a name pointing at a text).
 * Reported at the syscall's exit with both paths as passed; a relative one comes with the dentry
 * path of the directory it is relative to, as for a failed open. These are how a file reaches a
 * start-up or persistence location without being opened there for writing.
 */
#include "common.bpf.h"

#define LINK_PATH_MAX 4096

__noinline int probity_report_link(long ret, __u64 dirfds, __u64 old_name, __u64 new_name, __u32 sys_and_flags)
{
	struct probity_config *cfg = get_config();
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	if (!should_report(cfg, tgid))
		return 0;
	struct scratch *s = get_scratch();
	if (!s) {
		count_drop(PROBITY_KIND_LINK);
		return 0;
	}
	__u16 sys = sys_and_flags & 0xff;
	int old_dirfd = (int)(dirfds >> 32);
	int new_dirfd = (int)(__u32)dirfds;
	struct task_struct *task = bpf_get_current_task_btf();
	struct probity_link *e = (struct probity_link *)s->buf;
	fill_header(&e->hdr, PROBITY_KIND_LINK, task);
	e->result = ret;
	e->old_dirfd = old_dirfd;
	e->new_dirfd = new_dirfd;
	e->call_flags = sys_and_flags >> 8;
	e->syscall = sys;
	e->new_dir_len = 0;
	e->old_dir_len = 0;
	e->_pad0 = 0;

	__u32 off = sizeof(*e);
	long n = bpf_probe_read_user_str(&s->buf[off & SCRATCH_MASK], LINK_PATH_MAX, (const char *)old_name);
	if (n < 0)
		n = 0;
	__u32 old_at = off;
	e->old_len = n;
	off += n;
	__u32 new_at = off;
	n = bpf_probe_read_user_str(&s->buf[bounded(off, SCRATCH_MASK)], LINK_PATH_MAX, (const char *)new_name);
	if (n < 0)
		n = 0;
	e->new_len = n;
	off += n;
	if (e->old_len == LINK_PATH_MAX || e->new_len == LINK_PATH_MAX)
		e->hdr.flags |= PROBITY_F_PATH_TRUNCATED;

	if (e->new_len > 1 && s->buf[bounded(new_at, SCRATCH_MASK)] != '/') {
		__u32 w = write_relative_dir(s->buf, off, task, new_dirfd, &e->hdr.flags);
		e->new_dir_len = w;
		off += w;
	}
	if (sys != PROBITY_SYS_SYMLINK && sys != PROBITY_SYS_SYMLINKAT && e->old_len > 1 &&
	    s->buf[bounded(old_at, SCRATCH_MASK)] != '/') {
		__u32 old_flags = 0;  /* PROBITY_F_RELATIVE speaks of the new name only */
		__u32 w = write_relative_dir(s->buf, off, task, old_dirfd, &old_flags);
		e->hdr.flags |= old_flags & PROBITY_F_DPATH_TRUNCATED;
		e->old_dir_len = w;
		off += w;
	}
	emit(cfg, e, off, PROBITY_KIND_LINK);
	return 0;
}

static __always_inline __u64 dirfds(__u64 old_dirfd, __u64 new_dirfd)
{
	return ((__u64)(__u32)old_dirfd << 32) | (__u32)new_dirfd;
}

SEC("tracepoint/syscalls/sys_exit_rename")
int probity_rename_exit(struct trace_event_raw_sys_exit *ctx)
{
	struct pt_regs *regs = syscall_regs();
	return probity_report_link(ctx->ret, dirfds(AT_FDCWD_, AT_FDCWD_), SYSCALL_ARG1(regs), SYSCALL_ARG2(regs), PROBITY_SYS_RENAME);
}

SEC("tracepoint/syscalls/sys_exit_renameat")
int probity_renameat_exit(struct trace_event_raw_sys_exit *ctx)
{
	struct pt_regs *regs = syscall_regs();
	return probity_report_link(ctx->ret, dirfds(SYSCALL_ARG1(regs), SYSCALL_ARG3(regs)), SYSCALL_ARG2(regs), SYSCALL_ARG4(regs),
				   PROBITY_SYS_RENAMEAT);
}

SEC("tracepoint/syscalls/sys_exit_renameat2")
int probity_renameat2_exit(struct trace_event_raw_sys_exit *ctx)
{
	struct pt_regs *regs = syscall_regs();
	return probity_report_link(ctx->ret, dirfds(SYSCALL_ARG1(regs), SYSCALL_ARG3(regs)), SYSCALL_ARG2(regs), SYSCALL_ARG4(regs),
				   PROBITY_SYS_RENAMEAT2 | ((__u32)SYSCALL_ARG5(regs) << 8));
}

SEC("tracepoint/syscalls/sys_exit_link")
int probity_link_exit(struct trace_event_raw_sys_exit *ctx)
{
	struct pt_regs *regs = syscall_regs();
	return probity_report_link(ctx->ret, dirfds(AT_FDCWD_, AT_FDCWD_), SYSCALL_ARG1(regs), SYSCALL_ARG2(regs), PROBITY_SYS_LINK);
}

SEC("tracepoint/syscalls/sys_exit_linkat")
int probity_linkat_exit(struct trace_event_raw_sys_exit *ctx)
{
	struct pt_regs *regs = syscall_regs();
	return probity_report_link(ctx->ret, dirfds(SYSCALL_ARG1(regs), SYSCALL_ARG3(regs)), SYSCALL_ARG2(regs), SYSCALL_ARG4(regs),
				   PROBITY_SYS_LINKAT | ((__u32)SYSCALL_ARG5(regs) << 8));
}

SEC("tracepoint/syscalls/sys_exit_symlink")
int probity_symlink_exit(struct trace_event_raw_sys_exit *ctx)
{
	struct pt_regs *regs = syscall_regs();
	return probity_report_link(ctx->ret, dirfds(AT_FDCWD_, AT_FDCWD_), SYSCALL_ARG1(regs), SYSCALL_ARG2(regs), PROBITY_SYS_SYMLINK);
}

SEC("tracepoint/syscalls/sys_exit_symlinkat")
int probity_symlinkat_exit(struct trace_event_raw_sys_exit *ctx)
{
	struct pt_regs *regs = syscall_regs();
	return probity_report_link(ctx->ret, dirfds(AT_FDCWD_, SYSCALL_ARG2(regs)), SYSCALL_ARG1(regs), SYSCALL_ARG3(regs),
				   PROBITY_SYS_SYMLINKAT);
}
