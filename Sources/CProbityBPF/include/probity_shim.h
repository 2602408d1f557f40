/*
 * probity_shim.h: the little C that makes libbpf callable from Swift. No logic lives here.
 */
#ifndef PROBITY_SHIM_H
#define PROBITY_SHIM_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
/* Packet sockets and classic BPF socket filters (DNSObserver): sockaddr_ll, sock_filter. */
#include <linux/filter.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <bpf/libbpf.h>
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include "probity.h"

/* The linked BPF object (bpf/probity.bpf.o) embedded at build time, or NULL when the build
 * ran without `make bpf` (the skeleton header was absent). */
const void *probity_bpf_object_bytes(size_t *size);

/* Route libbpf's log lines, formatted, to `sink` (NULL restores libbpf's default printer). */
typedef void (*probity_log_sink)(int level, const char *line);
void probity_set_libbpf_log(probity_log_sink sink);

/* Size and offset of one member of a struct in a BTF blob, by name; -1 when absent.
 * (btf_members() is a static inline in btf.h that does not import into Swift.) */
long probity_btf_struct_size(const struct btf *btf, const char *type_name);
long probity_btf_member_offset(const struct btf *btf, const char *type_name, const char *member);

/* SO_PEERCRED of a connected Unix socket: returns 0 and fills the fields, or -errno. */
int probity_peer_credentials(int fd, uint32_t *pid, uint32_t *uid, uint32_t *gid);

/* What the gated child of `probity run` becomes before it runs the command (GatedChild.swift):
 * prepared before fork, read-only in the child. */
struct probity_child_identity {
	int change_user;        /* 1: take uid, gid and groups below; 0: stay the current user */
	uint32_t uid;
	uint32_t gid;
	const uint32_t *groups; /* supplementary groups (getgrouplist of the user, before fork) */
	size_t group_count;
	int last_cap;           /* /proc/sys/kernel/cap_last_cap (63 when unknown) */
};

/* In a forked child, before exec: no_new_privs, the ambient and bounding capability sets cleared,
 * the user's groups, gid and uid (when change_user), then effective, permitted and inheritable
 * capabilities cleared. Only raw system calls (async-signal-safe, single-threaded child) on memory
 * the parent prepared. Returns 0, or an errno with *step naming the call that failed. */
int probity_child_drop_privileges(const struct probity_child_identity *id, const char **step);

/* In a forked child: execvp(file, argv) with `envp` as the environment when not NULL (PATH is
 * looked up in it). Returns only on failure, with errno set. */
int probity_child_exec(const char *file, char *const argv[], char *const envp[]);

#endif
