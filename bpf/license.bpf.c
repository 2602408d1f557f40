/* license.bpf.c: the one place the licence is declared for the linked object. */
#include "common.bpf.h"

char LICENSE[] SEC("license") = "GPL";
