/* memory.bpf.c: a process reaching into another's memory without /proc: process_vm_readv and
 * process_vm_writev (the pages copied directly), and ptrace attach / seize (after which it can
 * peek and poke at will). Reported at the syscall's exit with the target pid; in enforce mode a
 * process whose class kills process-memory reads dies before it runs another instruction (the
 * copied bytes never leave it).
 */
#include "enforce.bpf.h"

#define PTRACE_ATTACH_ 16
#define PTRACE_SEIZE_ 0x4206

static __always_inline int report_memory(long ret, __u32 target, __u32 request, __u16 sys)
{
	struct probity_config *cfg = get_config();
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	if (!should_report(cfg, tgid))
		return 0;
	struct probity_memory e = {};
	fill_header(&e.hdr, PROBITY_KIND_MEMORY, bpf_get_current_task_btf());
	e.result = ret;
	e.target_pid = target;
	e.request = request;
	e.syscall = sys;
	if (cfg->enforce && target != tgid && (ret >= 0 || ret == -1 /* EPERM */ || ret == -13 /* EACCES */)) {
		__u32 *cls = bpf_map_lookup_elem(&enforce_class, &tgid);
		struct probity_class *class = cls && *cls ? bpf_map_lookup_elem(&enforce_classes, cls) : NULL;
		if (class && (class->flags & PROBITY_CLASS_PROC_MEMORY)) {
			bpf_send_signal(SIGKILL_);
			count_enforced(0);
			e.hdr.flags |= PROBITY_F_KILLED;
		}
	}
	if (bpf_ringbuf_output(&events, &e, sizeof(e), wake_flags(cfg, sizeof(e))) != 0)
		count_drop(PROBITY_KIND_MEMORY);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_process_vm_readv")
int probity_process_vm_readv_exit(struct trace_event_raw_sys_exit *ctx)
{
	struct pt_regs *regs = syscall_regs();
	return report_memory(ctx->ret, (__u32)SYSCALL_ARG1(regs), 0, PROBITY_SYS_PROCESS_VM_READV);
}

SEC("tracepoint/syscalls/sys_exit_process_vm_writev")
int probity_process_vm_writev_exit(struct trace_event_raw_sys_exit *ctx)
{
	struct pt_regs *regs = syscall_regs();
	return report_memory(ctx->ret, (__u32)SYSCALL_ARG1(regs), 0, PROBITY_SYS_PROCESS_VM_WRITEV);
}

SEC("tracepoint/syscalls/sys_exit_ptrace")
int probity_ptrace_exit(struct trace_event_raw_sys_exit *ctx)
{
	struct pt_regs *regs = syscall_regs();
	__u32 request = (__u32)SYSCALL_ARG1(regs);
	if (request != PTRACE_ATTACH_ && request != PTRACE_SEIZE_)
		return 0;
	return report_memory(ctx->ret, (__u32)SYSCALL_ARG2(regs), request, PROBITY_SYS_PTRACE);
}
