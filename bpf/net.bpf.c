/* net.bpf.c: outbound connections: connect(2), and sendto/sendmsg/sendmmsg that name a destination
 * (UDP: DNS queries, exfiltration over datagrams; Unix datagram sockets). Reported at the
 * syscall's exit with the result; the destination comes from the caller's sockaddr.
 */
#include "common.bpf.h"

#define AF_UNIX_ 1
#define AF_INET_ 2
#define AF_INET6_ 10

/* One global function builds every connect record (verified once; scalar arguments). */
__noinline int probity_report_connect(long ret, int fd, __u64 address, int addrlen, __u32 sys)
{
	const void *uaddr = (const void *)address;
	if (!uaddr || addrlen < 2)
		return 0;
	struct probity_config *cfg = get_config();
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	if (!should_report(cfg, tgid))
		return 0;
	__u16 family = 0;
	if (bpf_probe_read_user(&family, sizeof(family), uaddr) != 0)
		return 0;
	if (family != AF_INET_ && family != AF_INET6_ && family != AF_UNIX_)
		return 0;

	struct scratch *s = get_scratch();
	if (!s) {
		count_drop(PROBITY_KIND_CONNECT);
		return 0;
	}
	struct probity_connect *e = (struct probity_connect *)s->buf;
	__builtin_memset(e, 0, sizeof(*e));
	struct task_struct *task = bpf_get_current_task_btf();
	fill_header(&e->hdr, PROBITY_KIND_CONNECT, task);
	e->result = ret;
	e->family = family;
	e->syscall = sys;
	e->fd = fd;

	struct file *f = fd_to_file(fd);
	if (f) {
		struct socket *sock = BPF_CORE_READ(f, private_data);
		e->sock_type = BPF_CORE_READ(sock, type);
		e->protocol = BPF_CORE_READ(sock, sk, sk_protocol);
	}

	if (family == AF_INET_) {
		struct sockaddr_in sin = {};
		bpf_probe_read_user(&sin, sizeof(sin), uaddr);
		e->port = bpf_ntohs(sin.sin_port);
		__builtin_memcpy(e->addr, &sin.sin_addr, 4);
	} else if (family == AF_INET6_) {
		struct sockaddr_in6 sin6 = {};
		bpf_probe_read_user(&sin6, sizeof(sin6), uaddr);
		e->port = bpf_ntohs(sin6.sin6_port);
		__builtin_memcpy(e->addr, &sin6.sin6_addr, 16);
	} else {
		int plen = addrlen - 2;
		if (plen > PROBITY_UNIX_PATH_MAX)
			plen = PROBITY_UNIX_PATH_MAX;
		if (plen > 0) {
			bpf_probe_read_user(e->unix_path, bounded(plen, 127), (const char *)uaddr + 2);
			if (e->unix_path[0] == 0 && plen > 1)
				e->unix_path[0] = '@'; /* abstract socket */
			e->unix_path_len = plen;
		}
	}
	emit(cfg, e, sizeof(*e), PROBITY_KIND_CONNECT);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_connect")
int probity_connect_exit(struct trace_event_raw_sys_exit *ctx)
{
	struct pt_regs *regs = syscall_regs();
	return probity_report_connect(ctx->ret, (int)SYSCALL_ARG1(regs), SYSCALL_ARG2(regs), (int)SYSCALL_ARG3(regs),
			      PROBITY_SYS_CONNECT);
}

SEC("tracepoint/syscalls/sys_exit_sendto")
int probity_sendto_exit(struct trace_event_raw_sys_exit *ctx)
{
	struct pt_regs *regs = syscall_regs();
	return probity_report_connect(ctx->ret, (int)SYSCALL_ARG1(regs), SYSCALL_ARG5(regs), (int)SYSCALL_ARG6(regs),
			      PROBITY_SYS_SENDTO);
}

SEC("tracepoint/syscalls/sys_exit_sendmsg")
int probity_sendmsg_exit(struct trace_event_raw_sys_exit *ctx)
{
	struct pt_regs *regs = syscall_regs();
	struct user_msghdr msg = {};
	if (bpf_probe_read_user(&msg, sizeof(msg), (void *)SYSCALL_ARG2(regs)) != 0)
		return 0;
	return probity_report_connect(ctx->ret, (int)SYSCALL_ARG1(regs), (__u64)msg.msg_name, msg.msg_namelen, PROBITY_SYS_SENDMSG);
}

/* sendmmsg: every message sent may name its own destination. Each one sent is reported, except
 * that a run of messages to the destination just reported is reported once. */
struct mmsg_walk {
	struct mmsghdr *vec;
	long sent;
	int fd;
	__u8 last[28];   /* the previous message's sockaddr bytes */
	int last_len;
};

static long mmsg_step(__u64 i, void *ctx)
{
	struct mmsg_walk *w = ctx;
	if ((long)i >= w->sent)
		return 1;
	struct user_msghdr msg = {};
	if (bpf_probe_read_user(&msg, sizeof(msg), &w->vec[i].msg_hdr) != 0)
		return 1;
	if (!msg.msg_name || msg.msg_namelen < 2)
		return 0;
	__u8 addr[28] = {};
	int len = msg.msg_namelen > 28 ? 28 : msg.msg_namelen;
	bpf_probe_read_user(addr, sizeof(addr), msg.msg_name);
	if (len == w->last_len && __builtin_memcmp(addr, w->last, sizeof(addr)) == 0)
		return 0;
	__builtin_memcpy(w->last, addr, sizeof(addr));
	w->last_len = len;
	__u32 bytes = 0;
	bpf_probe_read_user(&bytes, sizeof(bytes), &w->vec[i].msg_len);
	probity_report_connect(bytes, w->fd, (__u64)msg.msg_name, msg.msg_namelen, PROBITY_SYS_SENDMMSG);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_sendmmsg")
int probity_sendmmsg_exit(struct trace_event_raw_sys_exit *ctx)
{
	if (ctx->ret <= 0)
		return 0;
	struct pt_regs *regs = syscall_regs();
	struct mmsg_walk w = { .vec = (struct mmsghdr *)SYSCALL_ARG2(regs), .sent = ctx->ret, .fd = (int)SYSCALL_ARG1(regs) };
	bpf_loop(1024 /* UIO_MAXIOV, the kernel's own limit on vlen */, mmsg_step, &w, 0);
	return 0;
}
