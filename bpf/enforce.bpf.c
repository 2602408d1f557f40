/* enforce.bpf.c: `probity run --mode enforce`.
 *
 * - Classes follow processes: a child starts in its parent's class (sched_process_fork); the
 *   entry goes when the process exits. User space sets a process's class when an exec changes
 *   the package responsible for it.
 * - Connects and UDP sends with a destination are checked by cgroup programs attached to the
 *   root of the cgroup v2 hierarchy, so a process meets them in whatever cgroup it is or moves
 *   to; the decision is keyed by the process's class (tgid), and a process without one (outside
 *   the run) is allowed. Returning 0 makes the call fail with EPERM before a packet leaves.
 *   Destinations are looked up per class in an LPM trie (networks, ports, protocols; addresses of
 *   allowed host names are added as DNS answers are seen).
 * - A child the full `enforce_class` map cannot take is counted in `map_full`: user space fails
 *   the run ("not every process was watched").
 * The kills for opens and execs are in open.bpf.c and process.bpf.c (enforce.bpf.h).
 */
#include "enforce.bpf.h"

SEC("tp_btf/sched_process_fork")
int BPF_PROG(probity_enforce_fork, struct task_struct *parent, struct task_struct *child)
{
	struct probity_config *cfg = get_config();
	if (!cfg || !cfg->enforce)
		return 0;
	__u32 ptgid = parent->tgid;
	__u32 ctgid = child->tgid;
	if (ptgid == ctgid)
		return 0; /* a thread */
	__u32 *cls = bpf_map_lookup_elem(&enforce_class, &ptgid);
	if (cls && bpf_map_update_elem(&enforce_class, &ctgid, cls, BPF_ANY) != 0)
		count_map_full(PROBITY_FULL_ENFORCE_CLASS);
	return 0;
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(probity_enforce_exit, struct task_struct *p)
{
	struct probity_config *cfg = get_config();
	if (!cfg || !cfg->enforce || p->pid != p->tgid)
		return 0;
	__u32 tgid = p->tgid;
	bpf_map_delete_elem(&enforce_class, &tgid);
	return 0;
}

#define CONNECT_ALLOW 1
#define CONNECT_DENY 0

static __always_inline int net_verdict(const __u8 *addr, __u16 port, __u8 protocol)
{
	struct probity_config *cfg = get_config();
	if (!cfg || !cfg->enforce)
		return CONNECT_ALLOW;
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	__u32 *cls = bpf_map_lookup_elem(&enforce_class, &tgid);
	if (!cls || *cls == 0)
		return CONNECT_ALLOW;
	struct probity_net_key key = { .prefixlen = 32 + 128, .cls = bpf_htonl(*cls) };
	__builtin_memcpy(key.addr, addr, 16);
	struct probity_net_rule *rule = bpf_map_lookup_elem(&enforce_net, &key);
	if (rule) {
		for (__u32 i = 0; i < PROBITY_NET_PORT_RULES; i++) {
			if (i >= rule->count)
				break;
			struct probity_net_port_rule *r = &rule->rules[i];
			if (port < r->port_lo || port > r->port_hi)
				continue;
			if (r->protocol && r->protocol != protocol)
				continue;
			if (r->verdict == PROBITY_VERDICT_DENY)
				goto deny;
			return CONNECT_ALLOW;
		}
	}
	struct probity_class *class = bpf_map_lookup_elem(&enforce_classes, cls);
	if (class && (class->flags & PROBITY_CLASS_NET_ALLOWLIST))
		goto deny;
	return CONNECT_ALLOW;
deny:
	count_enforced(1);
	return CONNECT_DENY;
}

static __always_inline int check4(struct bpf_sock_addr *ctx)
{
	__u8 addr[16] = {};
	addr[10] = 0xff;
	addr[11] = 0xff;
	__u32 ip = ctx->user_ip4;
	__builtin_memcpy(&addr[12], &ip, 4);
	return net_verdict(addr, bpf_ntohs((__u16)ctx->user_port), (__u8)ctx->protocol);
}

static __always_inline int check6(struct bpf_sock_addr *ctx)
{
	__u32 words[4] = { ctx->user_ip6[0], ctx->user_ip6[1], ctx->user_ip6[2], ctx->user_ip6[3] };
	return net_verdict((const __u8 *)words, bpf_ntohs((__u16)ctx->user_port), (__u8)ctx->protocol);
}

SEC("cgroup/connect4")
int probity_enforce_connect4(struct bpf_sock_addr *ctx) { return check4(ctx); }

SEC("cgroup/connect6")
int probity_enforce_connect6(struct bpf_sock_addr *ctx) { return check6(ctx); }

SEC("cgroup/sendmsg4")
int probity_enforce_sendmsg4(struct bpf_sock_addr *ctx) { return check4(ctx); }

SEC("cgroup/sendmsg6")
int probity_enforce_sendmsg6(struct bpf_sock_addr *ctx) { return check6(ctx); }
