/* unlink.bpf.c: files and directories removed (unlink, unlinkat, rmdir), reported at the
 * syscall's exit with the result, for contracts' `files: delete` rules. The record is a
 * struct probity_open of kind PROBITY_KIND_UNLINK (open_flags: unlinkat's AT_REMOVEDIR); a
 * relative path comes with the dentry path of its directory, as for opens.
 */
#include "common.bpf.h"

static __always_inline int report_unlink(long ret, int dirfd, const char *filename, __s32 flags, __u16 sys)
{
	struct probity_config *cfg = get_config();
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	if (!should_report(cfg, tgid))
		return 0;
	struct scratch *s = get_scratch();
	if (!s) {
		count_drop(PROBITY_KIND_UNLINK);
		return 0;
	}
	struct probity_open *e = (struct probity_open *)s->buf;
	__u32 off = sizeof(*e);
	long n = bpf_probe_read_user_str(&s->buf[off & SCRATCH_MASK], PROBITY_PATH_MAX, filename);
	if (n < 0)
		n = 0;
	__u32 plen = n;
	struct task_struct *task = bpf_get_current_task_btf();
	fill_header(&e->hdr, PROBITY_KIND_UNLINK, task);
	init_open_record(e, ret, flags, 0, dirfd, 1, sys, plen);
	off += plen;
	if (plen > 1 && s->buf[sizeof(*e)] != '/') {
		__u32 w = write_relative_dir(s->buf, off, task, dirfd, &e->hdr.flags);
		e->dir_len = w;
		off += w;
	}
	emit(cfg, e, off, PROBITY_KIND_UNLINK);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_unlinkat")
int probity_unlinkat_exit(struct trace_event_raw_sys_exit *ctx)
{
	struct pt_regs *regs = syscall_regs();
	return report_unlink(ctx->ret, (int)SYSCALL_ARG1(regs), (const char *)SYSCALL_ARG2(regs), (__s32)SYSCALL_ARG3(regs),
			     PROBITY_SYS_UNLINKAT);
}

SEC("tracepoint/syscalls/sys_exit_unlink")
int probity_unlink_exit(struct trace_event_raw_sys_exit *ctx)
{
	struct pt_regs *regs = syscall_regs();
	return report_unlink(ctx->ret, AT_FDCWD_, (const char *)SYSCALL_ARG1(regs), 0, PROBITY_SYS_UNLINK);
}

SEC("tracepoint/syscalls/sys_exit_rmdir")
int probity_rmdir_exit(struct trace_event_raw_sys_exit *ctx)
{
	struct pt_regs *regs = syscall_regs();
	return report_unlink(ctx->ret, AT_FDCWD_, (const char *)SYSCALL_ARG1(regs), 0x200 /* AT_REMOVEDIR */, PROBITY_SYS_RMDIR);
}
