/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Threads inside TCP calls, for kprobe mode's stash check (tests/qemu-guest.sh), where
 * every call in progress holds a kretprobe instance and a stash entry.
 *
 *   ts-blockers block LISTEN-ADDR CLIENT-ADDR N HOLD-MS
 *
 * N threads blocked in recv() at once: each of N connections gets one server thread
 * that blocks in recv(); once all are accepted and HOLD-MS have passed, the client
 * writes one byte to each; every thread reads it and exits. With fewer instances or
 * stash entries than threads the kernel misses returns and the stash fills. Prints
 * "bytes=N" (what the readers received).
 *
 *   ts-blockers flow LISTEN-ADDR CLIENT-ADDR BYTES
 *
 * One connection, one way: a thread writes BYTES in 1000-byte writes and closes, the
 * main thread reads until EOF; so at most one send and one receive are in progress at
 * any time. Prints "c2s=BYTES s2c=0" as counted from the calls' return values.
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

	if (recv(fd, &c, 1, 0) != 1) {
		perror("recv");
		exit(2);
	}
	close(fd);
	return NULL;
}

static int sock_at(const char *addr, struct sockaddr_in *sa, int port)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;

	memset(sa, 0, sizeof(*sa));
	sa->sin_family = AF_INET;
	sa->sin_port = htons((unsigned short)port);
	if (fd < 0 || inet_pton(AF_INET, addr, &sa->sin_addr) != 1) {
		fprintf(stderr, "ts-blockers: bad address %s\n", addr);
		exit(1);
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	return fd;
}

static int listener(const char *addr, struct sockaddr_in *la)
{
	int lfd = sock_at(addr, la, 0);
	socklen_t len = sizeof(*la);

	if (bind(lfd, (struct sockaddr *)la, sizeof(*la)) != 0 || listen(lfd, MAXN) != 0 ||
	    getsockname(lfd, (struct sockaddr *)la, &len) != 0) {
		perror("listen");
		exit(1);
	}
	return lfd;
}

static long long flow_bytes, flow_sent;
static int flow_fd;

static void *writer(void *arg)
{
	char buf[1000];

	(void)arg;
	memset(buf, 'f', sizeof(buf));
	while (flow_sent < flow_bytes) {
		size_t want = flow_bytes - flow_sent < (long long)sizeof(buf) ?
			      (size_t)(flow_bytes - flow_sent) : sizeof(buf);
		ssize_t r = send(flow_fd, buf, want, 0);

		if (r <= 0) {
			perror("send");
			exit(2);
		}
		flow_sent += r;
	}
	close(flow_fd);
	return NULL;
}

static int flow(const char *laddr, const char *caddr, long long bytes)
{
	struct sockaddr_in la, ca;
	int lfd = listener(laddr, &la), afd;
	long long got = 0;
	pthread_t th;
	char buf[4093];
	ssize_t r;

	flow_bytes = bytes;
	flow_fd = sock_at(caddr, &ca, 0);
	if (bind(flow_fd, (struct sockaddr *)&ca, sizeof(ca)) != 0 ||
	    connect(flow_fd, (struct sockaddr *)&la, sizeof(la)) != 0 ||
	    (afd = accept(lfd, NULL, NULL)) < 0) {
		perror("connect");
		return 1;
	}
	if (pthread_create(&th, NULL, writer, NULL) != 0)
		return 1;
	while ((r = recv(afd, buf, sizeof(buf), 0)) > 0)
		got += r;
	if (r < 0) {
		perror("recv");
		return 1;
	}
	pthread_join(th, NULL);
	close(afd);
	close(lfd);
	if (got != flow_sent) {
		fprintf(stderr, "ts-blockers: sent %lld, received %lld\n", flow_sent, got);
		return 1;
	}
	printf("c2s=%lld s2c=0\n", got);
	return 0;
}

int main(int argc, char **argv)
{
	struct sockaddr_in la, ca, peer;
	pthread_t th[MAXN];
	int lfd, cfd[MAXN], n, hold_ms;
	socklen_t len;

	if (argc == 5 && strcmp(argv[1], "flow") == 0 && atoll(argv[4]) > 0)
		return flow(argv[2], argv[3], atoll(argv[4]));
	if (argc != 6 || strcmp(argv[1], "block") != 0 || (n = atoi(argv[4])) < 1 || n > MAXN ||
	    (hold_ms = atoi(argv[5])) < 0) {
		fprintf(stderr, "usage: ts-blockers block LISTEN-ADDR CLIENT-ADDR N HOLD-MS (N <= %d)\n"
			"       ts-blockers flow LISTEN-ADDR CLIENT-ADDR BYTES\n", MAXN);
		return 1;
	}
	argv++;
	lfd = listener(argv[1], &la);
	for (int i = 0; i < n; i++) {
		int afd;

		len = sizeof(peer);
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
	usleep((useconds_t)hold_ms * 1000); /* every reader inside recv() */
	for (int i = 0; i < n; i++)
		if (send(cfd[i], "x", 1, 0) != 1) {
			perror("send");
			return 1;
		}
	for (int i = 0; i < n; i++)
		pthread_join(th[i], NULL);
	for (int i = 0; i < n; i++)
		close(cfd[i]);
	close(lfd);
	printf("bytes=%d\n", n);
	return 0;
}
