/* open-paths.c: a workload of opens that name their file the ways an evasion would, for
 * `make bench` (workload e): through a symlinked directory, a symlinked file, a relative path
 * after chdir, `..` segments and a dirfd, in turn. Every open succeeds and is closed.
 * Usage: open-paths N DIR — prints "N opens in S s" like cfloor's syscall-load. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	if (argc < 3)
		return 2;
	long n = atol(argv[1]);
	const char *dir = argv[2];
	char real[4096], path[4096];
	snprintf(real, sizeof(real), "%s/real", dir);
	mkdir(dir, 0755);
	mkdir(real, 0755);
	snprintf(path, sizeof(path), "%s/file", real);
	int fd = open(path, O_WRONLY | O_CREAT, 0644);
	if (fd < 0)
		return 1;
	close(fd);
	char linkdir[4096], linkfile[4096], dotdot[4096];
	snprintf(linkdir, sizeof(linkdir), "%s/linkdir", dir);
	snprintf(linkfile, sizeof(linkfile), "%s/linkfile", dir);
	unlink(linkdir);
	unlink(linkfile);
	if (symlink(real, linkdir) != 0 || symlink(path, linkfile) != 0)
		return 1;
	snprintf(dotdot, sizeof(dotdot), "%s/real/../real/./file", dir);
	char viadir[4096];
	snprintf(viadir, sizeof(viadir), "%s/linkdir/file", dir);
	int dirfd = open(real, O_RDONLY | O_DIRECTORY);
	if (dirfd < 0 || chdir(real) != 0)
		return 1;
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (long i = 0; i < n; i++) {
		switch (i % 5) {
		case 0: fd = open(viadir, O_RDONLY); break;
		case 1: fd = open(linkfile, O_RDONLY); break;
		case 2: fd = open("file", O_RDONLY); break;
		case 3: fd = open(dotdot, O_RDONLY); break;
		default: fd = openat(dirfd, "file", O_RDONLY); break;
		}
		if (fd < 0)
			return 1;
		close(fd);
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	printf("%ld opens in %.3f s\n", n, (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9);
	return 0;
}
