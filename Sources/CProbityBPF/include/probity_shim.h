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

#endif
