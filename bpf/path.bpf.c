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
	w->stack->dentry[w->depth & (PROBITY_DPATH_DEPTH_MASK)] = w->dentry;
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
	struct dpath_emit e = { .stack = stack, .s = s, .depth = w.depth, .start = off, .off = off };
	bpf_loop(PROBITY_DPATH_DEPTH, dpath_write, &e, 0);
	s->buf[bounded(e.off, SCRATCH_MASK)] = 0;
	if (e.truncated)
		truncated = DPATH_TRUNCATED_BIT;
	return ((e.off - off + 1) & (PROBITY_DPATH_MAX * 2 - 1)) | truncated;
}

/* The inode number of the open file at `file`, and its device (the kernel's dev_t) in *dev. */
__noinline __u64 probity_file_object(__u64 file, __u32 *dev)
{
	struct inode *inode = KERNEL_OBJECT(struct file, file)->f_inode;
	if (dev)
		*dev = inode->i_sb->s_dev;
	return inode->i_ino;
}
