/* license.bpf.c: the one place the licence is declared for the linked object. */
#include "common.bpf.h"

char LICENSE[] SEC("license") = "GPL";

/* Every shared layout, named once so that it is kept in the object's BTF: the layout test
 * checks the Swift view of each struct against it, and `bpftool btf dump` shows them. */
struct probity_header probity_layout_header __attribute__((unused));
struct probity_exec probity_layout_exec __attribute__((unused));
struct probity_fork probity_layout_fork __attribute__((unused));
struct probity_exit probity_layout_exit __attribute__((unused));
struct probity_open probity_layout_open __attribute__((unused));
struct probity_connect probity_layout_connect __attribute__((unused));
struct probity_io_uring probity_layout_io_uring __attribute__((unused));
struct probity_config probity_layout_config __attribute__((unused));
struct probity_path_key probity_layout_path_key __attribute__((unused));
struct probity_path_rule probity_layout_path_rule __attribute__((unused));
struct probity_net_key probity_layout_net_key __attribute__((unused));
struct probity_net_rule probity_layout_net_rule __attribute__((unused));
struct probity_inode_key probity_layout_inode_key __attribute__((unused));
struct probity_inode_rule probity_layout_inode_rule __attribute__((unused));
struct probity_class probity_layout_class __attribute__((unused));
