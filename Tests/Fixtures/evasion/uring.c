/* uring.c: opens a file and connects a socket through io_uring only, so that neither passes
 * the openat or connect syscall tracepoints. Usage: uring open PATH | uring connect ADDR PORT.
 * Prints what the completion said. */
#include <arpa/inet.h>
#include <fcntl.h>
#include <liburing.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	struct io_uring ring;
	if (argc < 3 || io_uring_queue_init(4, &ring, 0) != 0) {
		fprintf(stderr, "usage: uring open PATH | uring connect ADDR PORT\n");
		return 2;
	}
	struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
	struct sockaddr_in sin;
	int sock = -1;
	if (strcmp(argv[1], "open") == 0) {
		io_uring_prep_openat(sqe, AT_FDCWD, argv[2], O_RDONLY, 0);
	} else if (strcmp(argv[1], "connect") == 0 && argc >= 4) {
		sock = socket(AF_INET, SOCK_STREAM, 0);
		memset(&sin, 0, sizeof(sin));
		sin.sin_family = AF_INET;
		sin.sin_port = htons((unsigned short)atoi(argv[3]));
		inet_pton(AF_INET, argv[2], &sin.sin_addr);
		io_uring_prep_connect(sqe, sock, (struct sockaddr *)&sin, sizeof(sin));
	} else {
		return 2;
	}
	io_uring_submit(&ring);
	struct io_uring_cqe *cqe;
	if (io_uring_wait_cqe(&ring, &cqe) != 0)
		return 3;
	int res = cqe->res;
	io_uring_cqe_seen(&ring, cqe);
	if (strcmp(argv[1], "open") == 0 && res >= 0) {
		char buf[16];
		ssize_t n = read(res, buf, sizeof(buf));
		printf("open %d read %zd\n", res, n);
	} else {
		printf("%s %d\n", argv[1], res);
	}
	return 0;
}
