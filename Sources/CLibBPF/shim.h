/* libbpf's public API, found through pkg-config (libbpf.pc). */
#include <bpf/libbpf.h>
#include <bpf/bpf.h>
#include <bpf/btf.h>
