/* io_uring.bpf.c: io_uring rings and the requests on them that bypass syscall tracepoints.
 *
 * Opens and connects submitted through a ring never pass through sys_enter/exit_openat or
 * connect, so the ring's creation is reported (who holds a ring), and so is every submitted
 * request whose opcode opens a file or connects a socket. These hooks are optional: the
 * loader attaches them when the io_uring tracepoints exist and reports which did.
 */
#include "common.bpf.h"

static __always_inline void report_io_uring(__u16 sys, __u8 opcode, __s32 fd, __u32 sq, __u32 cq)
{
	struct probity_config *cfg = get_config();
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	if (!should_report(cfg, tgid))
		return;
	struct probity_io_uring e = {};
	fill_header(&e.hdr, PROBITY_KIND_IO_URING, bpf_get_current_task_btf());
	e.syscall = sys;
	e.opcode = opcode;
	e.fd = fd;
	e.sq_entries = sq;
	e.cq_entries = cq;
	if (bpf_ringbuf_output(&events, &e, sizeof(e), wake_flags(cfg)) != 0)
		count_drop(PROBITY_KIND_IO_URING);
}

SEC("tp_btf/io_uring_create")
int BPF_PROG(probity_io_uring_create, int fd, void *ring, u32 sq_entries, u32 cq_entries, u32 flags)
{
	report_io_uring(PROBITY_SYS_IO_URING_SETUP, 0, fd, sq_entries, cq_entries);
	return 0;
}

SEC("tp_btf/io_uring_submit_req")
int BPF_PROG(probity_io_uring_submit, struct io_kiocb *req)
{
	__u8 op = BPF_CORE_READ(req, opcode);
	if (op != IORING_OP_OPENAT && op != IORING_OP_OPENAT2 && op != IORING_OP_CONNECT)
		return 0;
	report_io_uring(PROBITY_SYS_IO_URING_SUBMIT, op, BPF_CORE_READ(req, cqe.fd), 0, 0);
	return 0;
}
