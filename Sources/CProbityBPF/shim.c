#include "probity_shim.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#if __has_include("generated/probity.skel.h")
#include "generated/probity.skel.h"
const void *probity_bpf_object_bytes(size_t *size)
{
	return probity_bpf__elf_bytes(size);
}
#else
const void *probity_bpf_object_bytes(size_t *size)
{
	*size = 0;
	return NULL;
}
#endif

static probity_log_sink current_sink;

static int forward_log(enum libbpf_print_level level, const char *fmt, va_list args)
{
	char line[1024];
	vsnprintf(line, sizeof(line), fmt, args);
	if (current_sink)
		current_sink((int)level, line);
	return 0;
}

void probity_set_libbpf_log(probity_log_sink sink)
{
	current_sink = sink;
	libbpf_set_print(sink ? forward_log : NULL);
}

static const struct btf_type *find_struct(const struct btf *btf, const char *type_name)
{
	__s32 id = btf__find_by_name_kind(btf, type_name, BTF_KIND_STRUCT);
	if (id < 0)
		return NULL;
	return btf__type_by_id(btf, id);
}

long probity_btf_struct_size(const struct btf *btf, const char *type_name)
{
	const struct btf_type *t = find_struct(btf, type_name);
	return t ? (long)t->size : -1;
}

long probity_btf_member_offset(const struct btf *btf, const char *type_name, const char *member)
{
	const struct btf_type *t = find_struct(btf, type_name);
	if (!t)
		return -1;
	const struct btf_member *m = btf_members(t);
	for (unsigned short i = 0; i < btf_vlen(t); i++, m++) {
		const char *name = btf__name_by_offset(btf, m->name_off);
		if (name && strcmp(name, member) == 0)
			return (long)(btf_member_bit_offset(t, i) / 8);
	}
	return -1;
}

int probity_peer_credentials(int fd, uint32_t *pid, uint32_t *uid, uint32_t *gid)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0)
		return -errno;
	*pid = (uint32_t)cred.pid;
	*uid = cred.uid;
	*gid = cred.gid;
	return 0;
}

#include <linux/capability.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

int probity_child_drop_privileges(const struct probity_child_identity *id, const char **step)
{
	/* Raw system calls: glibc's setuid family broadcasts to every thread with signals, and the
	 * child of a threaded parent has one thread; prctl and capset have no glibc state. */
	*step = "prctl(PR_SET_NO_NEW_PRIVS)";
	if (syscall(SYS_prctl, PR_SET_NO_NEW_PRIVS, 1L, 0L, 0L, 0L) != 0)
		return errno;
	*step = "prctl(PR_CAP_AMBIENT_CLEAR_ALL)";
	if (syscall(SYS_prctl, PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0L, 0L, 0L) != 0 && errno != EINVAL)
		return errno;
	*step = "prctl(PR_CAPBSET_DROP)";
	int last = id->last_cap > 0 && id->last_cap < 64 ? id->last_cap : 63;
	for (long cap = 0; cap <= last; cap++)
		if (syscall(SYS_prctl, PR_CAPBSET_DROP, cap, 0L, 0L, 0L) != 0 && errno != EINVAL)
			return errno;
	if (id->change_user) {
		*step = "setgroups";
		if (syscall(SYS_setgroups, (long)id->group_count, id->groups) != 0)
			return errno;
		*step = "setresgid";
		if (syscall(SYS_setresgid, (long)id->gid, (long)id->gid, (long)id->gid) != 0)
			return errno;
		*step = "setresuid";
		if (syscall(SYS_setresuid, (long)id->uid, (long)id->uid, (long)id->uid) != 0)
			return errno;
	}
	*step = "capset";
	struct __user_cap_header_struct header = { .version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };
	struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3];
	memset(data, 0, sizeof(data));
	if (syscall(SYS_capset, &header, data) != 0)
		return errno;
	*step = "";
	return 0;
}

int probity_child_exec(const char *file, char *const argv[], char *const envp[])
{
	if (envp)
		return execvpe(file, argv, envp);
	return execvp(file, argv);
}
