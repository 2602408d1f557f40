/* syscall_exit.bpf.c: the one hook at every system call's exit (tp_btf/sys_exit).
 *
 * It hands the open family to open.bpf.c, with their arguments read from the registers saved at
 * syscall entry (which this hook receives: one plain load each), and every call made through the
 * 32-bit ABI to abi.bpf.c. One typed hook for all of them costs less than a per-syscall tracepoint
 * for each open call (the perf tracepoint path, its buffer and a helper to find the registers:
 * about 4% of workload (b), measured with perf) plus a raw sys_enter hook for the 32-bit ABI,
 * which ran at every call of the host anyway. The other syscalls keep their own tracepoints: they
 * are rare, and the numbers of the calls they watch differ more between architectures.
 */
#include "common.bpf.h"

#define TS_COMPAT_ 0x0002

static __always_inline __u64 open_how_bits(__u64 flags, __u64 mode)
{
	return ((__u64)(__u32)flags << 32) | (__u32)mode;
}

SEC("tp_btf/sys_exit")
int BPF_PROG(probity_syscall_exit, struct pt_regs *regs, long ret)
{
#if defined(bpf_target_x86)
	/* Set for a call through the 32-bit ABI until the return to user mode, so still set here;
	 * such a call passes no per-syscall tracepoint, and its numbers are another table's. */
	struct task_struct *task = bpf_get_current_task_btf();
	if (task->thread_info.status & TS_COMPAT_)
		return probity_report_compat((__u32)regs->orig_ax);
#endif
	long nr = SYSCALL_NR(regs);
	if (nr == NR_openat)
		return probity_report_open(ret, (int)SYSCALL_ARG1(regs), SYSCALL_ARG2(regs),
					   open_how_bits(SYSCALL_ARG3(regs), SYSCALL_ARG4(regs)), PROBITY_SYS_OPENAT);
	if (nr == NR_open)
		return probity_report_open(ret, AT_FDCWD_, SYSCALL_ARG1(regs),
					   open_how_bits(SYSCALL_ARG2(regs), SYSCALL_ARG3(regs)), PROBITY_SYS_OPEN);
	if (nr == NR_creat)
		return probity_report_open(ret, AT_FDCWD_, SYSCALL_ARG1(regs),
					   open_how_bits(O_CREAT_ | O_WRONLY_ | O_TRUNC_, SYSCALL_ARG2(regs)), PROBITY_SYS_CREAT);
	if (nr == NR_openat2) {
		struct open_how how = {};
		bpf_probe_read_user(&how, sizeof(how), (void *)SYSCALL_ARG3(regs));
		return probity_report_open(ret, (int)SYSCALL_ARG1(regs), SYSCALL_ARG2(regs), open_how_bits(how.flags, how.mode),
					   PROBITY_SYS_OPENAT2);
	}
	/* open_by_handle_at(2) opens a file by its handle, with no path at all: the object is all there is. */
	if (nr == NR_open_by_handle_at)
		return probity_report_open(ret, (int)SYSCALL_ARG1(regs), 0, open_how_bits(SYSCALL_ARG3(regs), 0),
					   PROBITY_SYS_OPEN_BY_HANDLE_AT);
	return 0;
}
