/* net.bpf.c: outbound connections: connect(2), and sendto/sendmsg that name a destination
 * (UDP: DNS queries, exfiltration over datagrams; Unix datagram sockets). Reported at the
 * syscall's exit with the result; the destination comes from the caller's sockaddr.
 */
#include "common.bpf.h"

#define AF_UNIX_ 1
#define AF_INET_ 2
#define AF_INET6_ 10

static __always_inline int report_connect(long ret, int fd, const void *uaddr, int addrlen, __u16 sys)
{
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

	struct file *f = fd_to_file(task, fd);
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
	return report_connect(ctx->ret, (int)SYSCALL_ARG1(regs), (const void *)SYSCALL_ARG2(regs), (int)SYSCALL_ARG3(regs),
			      PROBITY_SYS_CONNECT);
}

SEC("tracepoint/syscalls/sys_exit_sendto")
int probity_sendto_exit(struct trace_event_raw_sys_exit *ctx)
{
	struct pt_regs *regs = syscall_regs();
	return report_connect(ctx->ret, (int)SYSCALL_ARG1(regs), (const void *)SYSCALL_ARG5(regs), (int)SYSCALL_ARG6(regs),
			      PROBITY_SYS_SENDTO);
}

SEC("tracepoint/syscalls/sys_exit_sendmsg")
int probity_sendmsg_exit(struct trace_event_raw_sys_exit *ctx)
{
	struct pt_regs *regs = syscall_regs();
	struct user_msghdr msg = {};
	if (bpf_probe_read_user(&msg, sizeof(msg), (void *)SYSCALL_ARG2(regs)) != 0)
		return 0;
	return report_connect(ctx->ret, (int)SYSCALL_ARG1(regs), msg.msg_name, msg.msg_namelen, PROBITY_SYS_SENDMSG);
}
