/* io_uring.bpf.c: io_uring rings and the requests on them that bypass syscall tracepoints.
 *
 * Opens and connects submitted through a ring never pass through sys_exit_openat or connect, so
 * the ring's creation is reported (who holds a ring), and every open or connect submitted on it
 * is reported as an open or connect record of its own, with what the request names: the path
 * (the kernel's copy made when the request was prepared, with the directory of a relative one)
 * or the destination address (the kernel's copy when made, else the submitter's sockaddr). The outcome arrives later, on the
 * completion queue, so `result` is 0 (submitted). Enforce mode judges the open at submission, by
 * the path as named; connects meet the cgroup programs like any other. The submitter is the
 * current task: the process itself, or its SQPOLL thread (same thread group).
 *
 * These hooks are optional: the loader attaches them when the io_uring tracepoints exist and
 * reports which did.
 */
#include "enforce.bpf.h"

#define AF_INET_ 2
#define AF_INET6_ 10

SEC("tp_btf/io_uring_create")
int BPF_PROG(probity_io_uring_create, int fd, void *ring, u32 sq_entries, u32 cq_entries, u32 flags)
{
	struct probity_config *cfg = get_config();
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	if (!should_report(cfg, tgid))
		return 0;
	struct probity_io_uring e = {};
	fill_header(&e.hdr, PROBITY_KIND_IO_URING, bpf_get_current_task_btf());
	e.syscall = PROBITY_SYS_IO_URING_SETUP;
	e.fd = fd;
	e.sq_entries = sq_entries;
	e.cq_entries = cq_entries;
	if (bpf_ringbuf_output(&events, &e, sizeof(e), wake_flags(cfg, sizeof(e))) != 0)
		count_drop(PROBITY_KIND_IO_URING);
	return 0;
}

static __always_inline void report_uring_open(struct probity_config *cfg, __u32 tgid, struct io_kiocb *req)
{
	struct scratch *s = get_scratch();
	if (!s) {
		count_drop(PROBITY_KIND_OPEN);
		return;
	}
	struct io_open *o = (struct io_open *)&req->cmd;
	const char *name = BPF_CORE_READ(o, filename, name);
	int dfd = BPF_CORE_READ(o, dfd);
	__s32 flags = (__s32)BPF_CORE_READ(o, how.flags);
	struct task_struct *task = bpf_get_current_task_btf();
	struct probity_open *e = (struct probity_open *)s->buf;
	fill_header(&e->hdr, PROBITY_KIND_OPEN, task);
	__u32 off = sizeof(*e);
	long n = bpf_probe_read_kernel_str(&s->buf[off & SCRATCH_MASK], PROBITY_PATH_MAX, name);
	if (n < 0)
		n = 0;
	init_open_record(e, 0, flags, (__u32)BPF_CORE_READ(o, how.mode), dfd, 1, PROBITY_SYS_IO_URING_OPENAT, n);
	if (cfg->enforce && n > 1 && enforce_object(cfg, tgid, off, open_access(flags), 0, 0))
		e->hdr.flags |= PROBITY_F_KILLED;
	off += n;
	if (n > 1 && s->buf[sizeof(*e)] != '/') {
		__u32 w = write_relative_dir(s->buf, off, task, dfd, &e->hdr.flags);
		e->dir_len = w;
		off += w;
	}
	emit(cfg, e, off, PROBITY_KIND_OPEN);
}

static __always_inline void report_uring_connect(struct probity_config *cfg, struct io_kiocb *req)
{
	struct io_connect *c = (struct io_connect *)&req->cmd;
	struct io_async_msghdr *io = BPF_CORE_READ(req, async_data);
	if (!io)
		return;
	struct probity_connect e = {};
	fill_header(&e.hdr, PROBITY_KIND_CONNECT, bpf_get_current_task_btf());
	e.syscall = PROBITY_SYS_IO_URING_CONNECT;
	e.fd = BPF_CORE_READ(req, cqe.fd);
	struct __kernel_sockaddr_storage ss = {};
	bpf_probe_read_kernel(&ss, sizeof(ss), &io->addr);
	int len = BPF_CORE_READ(c, addr_len);
	if (ss.ss_family != AF_INET_ && ss.ss_family != AF_INET6_) {
		/* Not copied in yet (the kernel copies it when the request is issued): the caller's
		 * own sockaddr, which the submitter's memory still holds. The cgroup programs judge the
		 * address the kernel actually uses. */
		__builtin_memset(&ss, 0, sizeof(ss));
		bpf_probe_read_user(&ss, sizeof(struct sockaddr_in6), BPF_CORE_READ(c, addr));
	}
	e.family = ss.ss_family;
	if (e.family == AF_INET_ && len >= (int)sizeof(struct sockaddr_in)) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
		e.port = bpf_ntohs(sin->sin_port);
		__builtin_memcpy(e.addr, &sin->sin_addr, 4);
	} else if (e.family == AF_INET6_ && len >= (int)sizeof(struct sockaddr_in6)) {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
		e.port = bpf_ntohs(sin6->sin6_port);
		__builtin_memcpy(e.addr, &sin6->sin6_addr, 16);
	} else {
		return; /* Unix sockets over a ring: the ring's creation is reported */
	}
	struct file *f = BPF_CORE_READ(req, file);
	if (!f)  /* assigned when the request is issued: the submitter's descriptor table has it */
		f = fd_to_file(e.fd);
	if (f) {
		struct socket *sock = BPF_CORE_READ(f, private_data);
		e.sock_type = BPF_CORE_READ(sock, type);
		e.protocol = BPF_CORE_READ(sock, sk, sk_protocol);
	}
	if (bpf_ringbuf_output(&events, &e, sizeof(e), wake_flags(cfg, sizeof(e))) != 0)
		count_drop(PROBITY_KIND_CONNECT);
}

SEC("tp_btf/io_uring_submit_req")
int BPF_PROG(probity_io_uring_submit, struct io_kiocb *req)
{
	__u8 op = BPF_CORE_READ(req, opcode);
	if (op != IORING_OP_OPENAT && op != IORING_OP_OPENAT2 && op != IORING_OP_CONNECT)
		return 0;
	struct probity_config *cfg = get_config();
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	if (!should_report(cfg, tgid))
		return 0;
	if (op == IORING_OP_CONNECT)
		report_uring_connect(cfg, req);
	else
		report_uring_open(cfg, tgid, req);
	return 0;
}
