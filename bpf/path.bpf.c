/* path.bpf.c: the kernel's own names of objects: the path of a dentry and its mount, and the
 * device and inode of an open file.
 *
 * The walks here read kernel memory through typed pointers (bpf_rdonly_cast), one plain load
 * per field, where bpf_probe_read_kernel would cost a helper call each (about 25 ns here). This
 * object is the only one that declares that kfunc: the static linker of libbpf 1.1 cannot merge
 * one kfunc declared by two objects. Everything else calls the global functions below, declared
 * in common.bpf.h.
 */
#include "common.bpf.h"

extern void *bpf_rdonly_cast(const void *obj__ign, __u32 btf_id__k) __ksym;

/* A kernel address as a read-only typed pointer: its loads cannot fault (a bad address reads
 * as zero), and it cannot be passed where the kernel trusts a pointer. */
#define KERNEL_OBJECT(type, address) ((type *)bpf_rdonly_cast((void *)(address), bpf_core_type_id_kernel(type)))

/* A dentry walk runs in two passes through bpf_loop (a plain loop this deep is too many states
 * for the verifier): the first collects the dentries from the leaf up to the root, crossing
 * mount points, into a per-CPU stack; the second writes their names root first, so that the
 * record holds an ordinary absolute path ("/a/b\0") that the kernel programs can match. */
struct dpath_stack {
	__u64 dentry[PROBITY_DPATH_DEPTH];
	/* What the directory cache compares, per dentry: its name's hash and length, and its
	 * d_seq, which the kernel advances whenever the dentry is moved (rename) or unlinked. */
	__u64 hash_len[PROBITY_DPATH_DEPTH];
	__u32 seq[PROBITY_DPATH_DEPTH];
	__u64 kept; /* see kept() */
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct dpath_stack);
} dpath_stacks SEC(".maps");

/* A kernel pointer, stored in the walk's map value and read back: the verifier then sees a plain
 * number, so that the walk's states stay comparable from one step to the next (typed pointers
 * would make each step a new state, and the walk too costly to verify). */
static __always_inline __u64 kept(struct dpath_stack *stack, void *pointer)
{
	*(void *volatile *)&stack->kept = pointer;
	return *(volatile __u64 *)&stack->kept;
}

struct dpath_walk {
	__u64 dentry;       /* struct dentry * */
	__u64 mnt;          /* struct mount * */
	__u64 mnt_root;     /* struct dentry * */
	struct dpath_stack *stack;
	__u32 depth;
	bool truncated;
	bool pseudo;      /* the object of a pseudo filesystem (pipe:, memfd:): its name is the path */
};

static long dpath_collect(__u64 index, void *ctx)
{
	struct dpath_walk *w = ctx;
	struct dentry *dentry = KERNEL_OBJECT(struct dentry, w->dentry);
	__u64 parent = kept(w->stack, dentry->d_parent);
	if (w->dentry == w->mnt_root || w->dentry == parent) {
		struct mount *mnt = KERNEL_OBJECT(struct mount, w->mnt);
		__u64 mnt_parent = kept(w->stack, mnt->mnt_parent);
		if (w->dentry != w->mnt_root || mnt_parent == w->mnt) {
			/* The real root, or a pseudo filesystem's root, whose own name is the path. */
			if (w->dentry == parent && w->dentry != w->mnt_root && w->depth == 0) {
				w->stack->dentry[0] = w->dentry;
				w->depth = 1;
				w->pseudo = true;
			}
			return 1;
		}
		/* Cross the mount point into the parent mount. */
		w->dentry = kept(w->stack, mnt->mnt_mountpoint);
		w->mnt = mnt_parent;
		w->mnt_root = kept(w->stack, KERNEL_OBJECT(struct mount, mnt_parent)->mnt.mnt_root);
		return 0;
	}
	if (w->depth >= PROBITY_DPATH_DEPTH) {
		w->truncated = true;
		return 1;
	}
	__u32 at = w->depth & (PROBITY_DPATH_DEPTH_MASK);
	w->stack->dentry[at] = w->dentry;
	w->stack->hash_len[at] = dentry->d_name.hash_len;
	w->stack->seq[at] = dentry->d_seq.seqcount.sequence;
	w->depth += 1;
	w->dentry = parent;
	return 0;
}

struct dpath_emit {
	struct dpath_stack *stack;
	struct scratch *s;
	__u32 depth;
	__u32 start;
	__u32 off;        /* where the terminating NUL of what is written so far stands */
	__u32 dir_end;    /* where the leaf's directory ends: the '/' before the leaf's name */
	bool truncated;
};

static long dpath_write(__u64 index, void *ctx)
{
	struct dpath_emit *w = ctx;
	struct scratch *s = w->s;
	if (index >= w->depth)
		return 1;
	if (w->off - w->start > PROBITY_DPATH_MAX - 256) {
		w->truncated = true;
		return 1;
	}
	if (index == w->depth - 1)
		w->dir_end = w->off;
	__u32 slot = (w->depth - 1 - (__u32)index) & (PROBITY_DPATH_DEPTH_MASK);
	struct dentry *dentry = KERNEL_OBJECT(struct dentry, w->stack->dentry[slot]);
	const unsigned char *name = dentry->d_name.name;
	s->buf[bounded(w->off, SCRATCH_MASK)] = '/';
	long n = bpf_probe_read_kernel_str(&s->buf[bounded(w->off + 1, SCRATCH_MASK)], 256, name);
	if (n <= 0) {
		s->buf[bounded(w->off + 1, SCRATCH_MASK)] = 0;
		n = 1;
	}
	w->off += n;
	return 0;
}

/* The directory cache: the paths of recently walked directories, per CPU, so that an open in a
 * directory seen before reads one name (its own) instead of one per component. An entry is the
 * chain of dentries the walk collected above the leaf, with each one's name hash and length and
 * its d_seq, and the path those names spelled. It is used only when the walk of the open just made
 * collected the very same chain: the same dentries, none renamed or unlinked since (their d_seq
 * unchanged), none freed and reused under another name (the name hash and length), crossing the
 * same mount points (the mount roots are not in the chain, but their mount points are). So the
 * names the cache returns are the names the full walk would have read: rename, mount, unmount,
 * chroot and namespaces are all seen through the chain itself, with no invalidation to miss.
 * A slot is written under an odd version and read only when the version is even and unchanged
 * across the read, so that a program preempted while filling a slot is never read half way. */
#define DIR_CACHE_SLOTS PROBITY_DIR_CACHE_SLOTS
#define DIR_CACHE_DEPTH 16
#define DIR_CACHE_PATH_MAX 512

struct dir_cache_slot {
	__u32 version;  /* odd while being written */
	__u32 depth;    /* dentries in the chain (0: empty) */
	__u32 len;      /* bytes of the directory's path, without a NUL */
	__u32 _pad;
	__u64 dentry[DIR_CACHE_DEPTH];
	__u64 hash_len[DIR_CACHE_DEPTH];
	__u32 seq[DIR_CACHE_DEPTH];
	char path[DIR_CACHE_PATH_MAX];
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, DIR_CACHE_SLOTS); /* × possible CPUs, at load */
	__type(key, __u32);
	__type(value, struct dir_cache_slot);
} dir_cache SEC(".maps");

#define compiler_barrier() asm volatile("" ::: "memory")

/* The slot of the directory whose dentry is `dir`. */
static __always_inline struct dir_cache_slot *dir_cache_slot(__u64 dir)
{
	__u32 index = (__u32)(((dir >> 6) * 0x9E3779B97F4A7C15ULL) >> 32) % DIR_CACHE_SLOTS;
	return cpu_slot(&dir_cache, DIR_CACHE_SLOTS, index);
}

/* Whether `slot` holds the chain stack->*[1 .. depth-1] (the leaf's directory and up). */
static __always_inline bool dir_cache_matches(struct dir_cache_slot *slot, struct dpath_stack *stack, __u32 depth)
{
	if (slot->depth != depth - 1)
		return false;
	for (__u32 i = 0; i < DIR_CACHE_DEPTH; i++) {
		if (i + 1 >= depth)
			break;
		if (slot->dentry[i] != stack->dentry[i + 1] || slot->hash_len[i] != stack->hash_len[i + 1] ||
		    slot->seq[i] != stack->seq[i + 1])
			return false;
	}
	return true;
}

/* Keeps the directory path just written at `off` (`len` bytes) for the chain in `stack`. */
static __always_inline void dir_cache_fill(struct dir_cache_slot *slot, struct dpath_stack *stack, __u32 depth,
					   struct scratch *s, __u32 off, __u32 len)
{
	slot->version += 1;
	compiler_barrier();
	slot->depth = 0;
	for (__u32 i = 0; i < DIR_CACHE_DEPTH; i++) {
		if (i + 1 >= depth)
			break;
		slot->dentry[i] = stack->dentry[i + 1];
		slot->hash_len[i] = stack->hash_len[i + 1];
		slot->seq[i] = stack->seq[i + 1];
	}
	bpf_probe_read_kernel(slot->path, DIR_CACHE_PATH_MAX, &s->buf[bounded(off, SCRATCH_MASK)]);
	slot->len = len;
	slot->depth = depth - 1;
	compiler_barrier();
	slot->version += 1;
}

/* The path of the leaf at stack->dentry[0] written at `off` from the directory cache: the bytes
 * written, NUL included, or 0 when the cache does not hold the leaf's directory. */
static __always_inline __u32 dir_cache_write(struct dir_cache_slot *slot, struct dpath_stack *stack, __u32 depth,
					     struct scratch *s, __u32 off)
{
	__u32 version = slot->version;
	if (version & 1 || !dir_cache_matches(slot, stack, depth))
		return 0;
	__u32 len = slot->len;
	if (len == 0 || len >= DIR_CACHE_PATH_MAX)
		return 0;
	/* Only the path's own bytes: most are a few dozen of the slot's 512. */
	bpf_probe_read_kernel(&s->buf[bounded(off, SCRATCH_MASK)], len & (DIR_CACHE_PATH_MAX - 1), slot->path);
	compiler_barrier();
	if (slot->version != version)
		return 0;
	__u32 at = off + len;
	s->buf[bounded(at, SCRATCH_MASK)] = '/';
	const unsigned char *name = KERNEL_OBJECT(struct dentry, stack->dentry[0])->d_name.name;
	long n = bpf_probe_read_kernel_str(&s->buf[bounded(at + 1, SCRATCH_MASK)], 256, name);
	if (n <= 0)
		return 0;
	return len + 1 + (__u32)n;
}

/*
 * The absolute path of `path` (a dentry and its mount), root first and NUL-terminated, written
 * into the scratch buffer at `off`, as the kernel's d_path would give it from the process's
 * mount namespace root. Returns the bytes written, NUL included, with DPATH_TRUNCATED_BIT set
 * when the depth or size limit cut it (the components nearest the root are then missing).
 *
 * A global function: the verifier checks it once, apart from its callers, instead of once per
 * call site and caller state (its two bpf_loop walks are costly to verify). Its arguments are
 * therefore scalars, the path's address among them.
 */
__noinline __u32 probity_dentry_path(__u32 off, __u64 path_address)
{
	struct path *path = KERNEL_OBJECT(struct path, path_address);
	__u32 zero = 0;
	struct dpath_stack *stack = bpf_map_lookup_elem(&dpath_stacks, &zero);
	struct scratch *s = get_scratch();
	if (!stack || !s || off > SCRATCH_SIZE - PROBITY_DPATH_MAX - 2)
		return 0;
	struct vfsmount *vfsmnt = path->mnt;
	struct dpath_walk w = {
		.dentry = kept(stack, path->dentry),
		.mnt = kept(stack, container_of(vfsmnt, struct mount, mnt)),
		.mnt_root = kept(stack, vfsmnt->mnt_root),
		.stack = stack,
	};
	bpf_loop(PROBITY_DPATH_DEPTH + 16, dpath_collect, &w, 0);
	__u32 truncated = w.truncated ? DPATH_TRUNCATED_BIT : 0;
	if (w.depth == 0) {
		s->buf[bounded(off, SCRATCH_MASK)] = '/';
		s->buf[bounded(off + 1, SCRATCH_MASK)] = 0;
		return 2 | truncated;
	}
	struct dir_cache_slot *slot = NULL;
	if (w.depth >= 2 && w.depth - 1 <= DIR_CACHE_DEPTH && !w.truncated && !w.pseudo) {
		slot = dir_cache_slot(stack->dentry[1]);
		if (slot) {
			__u32 n = dir_cache_write(slot, stack, w.depth, s, off);
			if (n > 0 && n <= PROBITY_DPATH_MAX) {
				return n;
			}
		}
	}
	struct dpath_emit e = { .stack = stack, .s = s, .depth = w.depth, .start = off, .off = off };
	bpf_loop(PROBITY_DPATH_DEPTH, dpath_write, &e, 0);
	s->buf[bounded(e.off, SCRATCH_MASK)] = 0;
	if (e.truncated)
		truncated = DPATH_TRUNCATED_BIT;
	else if (slot && e.dir_end > off && e.dir_end - off < DIR_CACHE_PATH_MAX) {
		dir_cache_fill(slot, stack, w.depth, s, off, e.dir_end - off);
	}
	return ((e.off - off + 1) & (PROBITY_DPATH_MAX * 2 - 1)) | truncated;
}

/* The struct file behind descriptor `fd` of the current task, as an address (0: none): the
 * descriptor table read with plain loads, the slot too (a helper call cost about 30 ns an open). */
__noinline __u64 probity_fd_file(int fd)
{
	__u32 zero = 0;
	struct dpath_stack *stack = bpf_map_lookup_elem(&dpath_stacks, &zero);
	struct task_struct *task = bpf_get_current_task_btf();
	struct fdtable *fdt = task->files->fdt;
	if (!stack || fd < 0 || (unsigned int)fd >= fdt->max_fds)
		return 0;
	/* fdt->fd is a pointer to pointers, a number to the verifier: the slot is read through a
	 * one-pointer kernel type, and the pointer read is handed back as a number (kept()). */
	__u64 slot = (__u64)fdt->fd + (__u64)(unsigned int)fd * sizeof(__u64);
	return kept(stack, KERNEL_OBJECT(struct llist_node, slot)->next);
}

/* The inode number of the open file at `file`, and its device (the kernel's dev_t) in *dev. */
__noinline __u64 probity_file_object(__u64 file, __u32 *dev)
{
	struct inode *inode = KERNEL_OBJECT(struct file, file)->f_inode;
	if (dev)
		*dev = inode->i_sb->s_dev;
	return inode->i_ino;
}
