/* abi.bpf.c: system calls the per-syscall tracepoints never see. On x86-64 a process of the
 * 64-bit machine can still enter the kernel through the 32-bit ABI (`int 0x80`, or a 32-bit
 * binary): those calls skip every syscalls/sys_{enter,exit}_* tracepoint, so an open or connect
 * made that way would go unreported. The raw sys_exit tracepoint does see them: the syscall exit
 * hook (syscall_exit.bpf.c) hands each one to probity_report_compat, which reports the first such
 * call of each process (a violation of its own, "unmonitored syscall ABI"), and in enforce mode
 * kills the process at it when its class says so: before the call returns to the process, so
 * nothing it got from the call is ever used.
 */
#include "enforce.bpf.h"

/* Processes already reported (tgid -> 1). */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, __u8);
} abi_reported SEC(".maps");

/* A system call `nr` made through the 32-bit ABI by the current process. */
__noinline int probity_report_compat(__u32 nr)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct probity_config *cfg = get_config();
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	if (!should_report(cfg, tgid))
		return 0;
	bool kill = false;
	if (cfg->enforce) {
		__u32 *cls = bpf_map_lookup_elem(&enforce_class, &tgid);
		struct probity_class *class = cls && *cls ? bpf_map_lookup_elem(&enforce_classes, cls) : NULL;
		if (class && (class->flags & PROBITY_CLASS_KILL_COMPAT_ABI)) {
			bpf_send_signal(SIGKILL_);
			count_enforced(0);
			kill = true;
		}
	}
	if (bpf_map_lookup_elem(&abi_reported, &tgid))
		return 0;
	__u8 one = 1;
	bpf_map_update_elem(&abi_reported, &tgid, &one, BPF_ANY);
	struct probity_abi e = {};
	fill_header(&e.hdr, PROBITY_KIND_ABI, task);
	if (kill)
		e.hdr.flags |= PROBITY_F_KILLED;
	e.syscall_nr = nr;
	e.abi = 1;
	if (bpf_ringbuf_output(&events, &e, sizeof(e), wake_flags(cfg, sizeof(e))) != 0)
		count_drop(PROBITY_KIND_ABI);
	return 0;
}
