/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * N threads blocked in recv() at once (tests/qemu-guest.sh, kprobe mode): every blocked
 * call holds a kretprobe instance, so with fewer instances than threads the kernel
 * misses returns. Each of N connections gets one server thread that blocks in recv();
 * once all are accepted and a moment has passed, the client writes one byte to each;
 * every thread reads it and exits. Prints "bytes=N".
 *
 * Usage: ts-blockers LISTEN-ADDR CLIENT-ADDR N
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAXN 256

static void *reader(void *arg)
{
	int fd = (int)(long)arg;
	char c;

	if (recv(fd, &c, 1, 0) != 1)
		exit(2);
	close(fd);
	return NULL;
}

static int sock_at(const char *addr, struct sockaddr_in *sa, int port)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;

	memset(sa, 0, sizeof(*sa));
	sa->sin_family = AF_INET;
	sa->sin_port = htons((unsigned short)port);
	if (fd < 0 || inet_pton(AF_INET, addr, &sa->sin_addr) != 1)
		exit(1);
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	return fd;
}

int main(int argc, char **argv)
{
	struct sockaddr_in la, ca, peer;
	pthread_t th[MAXN];
	int lfd, cfd[MAXN], n;
	socklen_t len = sizeof(peer);

	if (argc != 4 || (n = atoi(argv[3])) < 1 || n > MAXN) {
		fprintf(stderr, "usage: ts-blockers LISTEN-ADDR CLIENT-ADDR N (N <= %d)\n", MAXN);
		return 1;
	}
	lfd = sock_at(argv[1], &la, 5991);
	if (bind(lfd, (struct sockaddr *)&la, sizeof(la)) != 0 || listen(lfd, MAXN) != 0) {
		perror("listen");
		return 1;
	}
	for (int i = 0; i < n; i++) {
		int afd;

		cfd[i] = sock_at(argv[2], &ca, 0);
		if (bind(cfd[i], (struct sockaddr *)&ca, sizeof(ca)) != 0 ||
		    connect(cfd[i], (struct sockaddr *)&la, sizeof(la)) != 0 ||
		    (afd = accept(lfd, (struct sockaddr *)&peer, &len)) < 0) {
			perror("connect");
			return 1;
		}
		if (pthread_create(&th[i], NULL, reader, (void *)(long)afd) != 0)
			return 1;
	}
	usleep(300000); /* all readers inside recv() */
	for (int i = 0; i < n; i++)
		if (send(cfd[i], "x", 1, 0) != 1)
			return 1;
	for (int i = 0; i < n; i++)
		pthread_join(th[i], NULL);
	for (int i = 0; i < n; i++)
		close(cfd[i]);
	printf("bytes=%d\n", n);
	return 0;
}
