/* compat-syscall.c: a 64-bit process that makes a system call through the 32-bit ABI
 * (`int 0x80`), which the per-syscall tracepoints never see. It calls getpid (20 in the 32-bit
 * table) and prints the result, so a test can tell whether it ran to the end. */
#include <stdio.h>

int main(void)
{
	long pid = 20; /* __NR_getpid in the i386 table */
	__asm__ volatile("int $0x80" : "+a"(pid) : : "memory");
	printf("compat getpid %ld\n", pid);
	return 0;
}
