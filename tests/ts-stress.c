/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * ts-stress - many concurrent small-write TCP connections with an exact byte count, for
 * the qemu kernel matrix (tests/qemu-guest.sh), where it proves the plugin's counters
 * under preemption: more runnable tasks than CPUs, each syscall a short BPF event.
 *
 *   ts-stress --listen ADDR --bind ADDR [--pairs N] [--bytes B] [--reply-bytes R]
 *             [--write-size W] [--read-size S]
 *
 * Forks N server and N client processes (default 8 + 8). All start at once; each client
 * connects from ADDR --bind to its own server on --listen, writes B bytes (default
 * 2,000,000) in W-byte blocking writes (default 64) and shuts down its sending side;
 * the server reads with S-byte reads (default 4093, odd on purpose: reads end in the
 * middle of segments) until EOF, then writes R bytes (default 1,000,000) back in W-byte
 * writes, which the client reads with S-byte reads. Pairs run their phases at their own
 * pace, so sends and receives of both directions overlap. Counts come only from
 * successful syscall return values; the tool checks that each pair's ends agree and
 * prints the totals
 *
 *   c2s=N s2c=M pairs=P seconds=T
 *
 *   ts-stress --raw
 *
 * Reads copies of every TCP packet of the current network namespace with raw sockets
 * (socket(AF_INET, SOCK_RAW, IPPROTO_TCP) and its IPv6 twin) until SIGTERM or SIGINT,
 * then prints "raw_bytes=N raw_packets=M": the plugin must count none of this as TCP
 * payload.
 *
 * ts-traffic (one connection, every syscall flavour) and ts-stream (one connection,
 * 64 KiB chunks for a while) exercise neither many tasks nor small events.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tsnet.h"

#define MAX_PAIRS 64
#define MAX_IO 65536
#define TIMEOUT_SECONDS 600

/* What one child reports to the parent through its pipe. */
struct tally {
	unsigned long long sent, received;
};

static unsigned char buf[MAX_IO];

static unsigned long long number(const char *s, unsigned long long max, const char *opt)
{
	unsigned long long v;
	char *end;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s || *end || s[0] == '-' || v == 0 || v > max) {
		fprintf(stderr, "ts-stress: invalid %s value \"%s\" (1 ... %llu)\n", opt, s, max);
		exit(1);
	}
	return v;
}

static void set_port(struct sockaddr_storage *ss, in_port_t port)
{
	if (ss->ss_family == AF_INET)
		((struct sockaddr_in *)ss)->sin_port = port;
	else
		((struct sockaddr_in6 *)ss)->sin6_port = port;
}

static in_port_t get_port(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET)
		return ((const struct sockaddr_in *)ss)->sin_port;
	return ((const struct sockaddr_in6 *)ss)->sin6_port;
}

/* Writes n bytes in size-byte write() calls; returns what the calls reported. */
static unsigned long long send_all(int fd, unsigned long long n, size_t size)
{
	unsigned long long sent = 0;

	while (sent < n) {
		size_t len = n - sent < size ? (size_t)(n - sent) : size;
		ssize_t r = write(fd, buf, len);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			ts_die("write");
		}
		sent += (unsigned long long)r;
	}
	return sent;
}

/* Reads with size-byte read() calls until EOF; returns the bytes read. */
static unsigned long long recv_all(int fd, size_t size)
{
	unsigned long long got = 0;

	for (;;) {
		ssize_t r = read(fd, buf, size);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			ts_die("read");
		}
		if (r == 0)
			return got;
		got += (unsigned long long)r;
	}
}

static void report(int fd, const struct tally *t)
{
	if (write(fd, t, sizeof(*t)) != (ssize_t)sizeof(*t))
		ts_die("write(result pipe)");
}

/* Blocks until the parent closes the start pipe: every child then starts at once. */
static void wait_start(int fd)
{
	char c;

	while (read(fd, &c, 1) < 0 && errno == EINTR)
		;
	close(fd);
}

static volatile sig_atomic_t stop;

static void on_stop(int sig)
{
	(void)sig;
	stop = 1;
}

static int raw_reader(void)
{
	unsigned long long bytes = 0, packets = 0;
	struct pollfd p[2];
	struct sigaction sa;
	int i;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	p[0].fd = socket(AF_INET, SOCK_RAW, IPPROTO_TCP);
	p[1].fd = socket(AF_INET6, SOCK_RAW, IPPROTO_TCP);
	if (p[0].fd < 0 || p[1].fd < 0)
		ts_die("socket(SOCK_RAW, IPPROTO_TCP)");
	p[0].events = p[1].events = POLLIN;
	/* Tells the caller the sockets exist: traffic from now on reaches them. */
	printf("ready\n");
	fflush(stdout);
	while (!stop) {
		if (poll(p, 2, 200) < 0) {
			if (errno == EINTR)
				continue;
			ts_die("poll");
		}
		for (i = 0; i < 2; i++) {
			ssize_t r;

			if (!(p[i].revents & POLLIN))
				continue;
			r = recv(p[i].fd, buf, sizeof(buf), MSG_DONTWAIT);
			if (r > 0) {
				bytes += (unsigned long long)r;
				packets++;
			} else if (r < 0 && errno != EAGAIN && errno != EINTR) {
				ts_die("recv(raw)");
			}
		}
	}
	printf("raw_bytes=%llu raw_packets=%llu\n", bytes, packets);
	return 0;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: ts-stress --listen ADDR --bind ADDR [--pairs N] [--bytes B]\n"
		   "                 [--reply-bytes R] [--write-size W] [--read-size S]\n"
		   "       ts-stress --raw\n"
		   "  N client/server process pairs (default 8); each client writes B bytes\n"
		   "  (default 2000000) in W-byte writes (default 64), the server reads them\n"
		   "  with S-byte reads (default 4093), then sends R bytes (default 1000000)\n"
		   "  back the same way. Prints: c2s=N s2c=M pairs=P seconds=T\n"
		   "  --raw: reads every TCP packet with raw sockets until SIGTERM, then\n"
		   "  prints raw_bytes=N raw_packets=M\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "listen", required_argument, NULL, 'l' },
		{ "bind", required_argument, NULL, 'b' },
		{ "pairs", required_argument, NULL, 'p' },
		{ "bytes", required_argument, NULL, 'n' },
		{ "reply-bytes", required_argument, NULL, 'r' },
		{ "write-size", required_argument, NULL, 'w' },
		{ "read-size", required_argument, NULL, 's' },
		{ "raw", no_argument, NULL, 'R' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *listen_s = NULL, *bind_s = NULL;
	unsigned long long bytes = 2000000, reply = 1000000, c2s = 0, s2c = 0;
	size_t wsize = 64, rsize = 4093;
	unsigned pairs = 8, i;
	struct sockaddr_storage la, ba;
	socklen_t llen, blen, len;
	int lfd[MAX_PAIRS], res[2 * MAX_PAIRS][2], start[2];
	struct tally t[2 * MAX_PAIRS];
	int opt, raw = 0, status, failed = 0;
	double t0;
	pid_t pid;

	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (opt) {
		case 'l':
			listen_s = optarg;
			break;
		case 'b':
			bind_s = optarg;
			break;
		case 'p':
			pairs = (unsigned)number(optarg, MAX_PAIRS, "--pairs");
			break;
		case 'n':
			bytes = number(optarg, 1ULL << 40, "--bytes");
			break;
		case 'r':
			reply = number(optarg, 1ULL << 40, "--reply-bytes");
			break;
		case 'w':
			wsize = (size_t)number(optarg, MAX_IO, "--write-size");
			break;
		case 's':
			rsize = (size_t)number(optarg, MAX_IO, "--read-size");
			break;
		case 'R':
			raw = 1;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 1;
		}
	}
	if (optind != argc || (!raw && (!listen_s || !bind_s))) {
		usage(stderr);
		return 1;
	}
	if (raw)
		return raw_reader();
	if (ts_parse_addr(listen_s, &la, &llen) || ts_parse_addr(bind_s, &ba, &blen) ||
	    la.ss_family != ba.ss_family)
		ts_die_msg("--listen and --bind must be IPv4 or IPv6 literals of one family");
	memset(buf, 'x', sizeof(buf));
	signal(SIGPIPE, SIG_IGN);
	/* A stuck connection must not hang the guest (every process sets its own alarm). */
	alarm(TIMEOUT_SECONDS);

	for (i = 0; i < pairs; i++) {
		int one = 1;

		lfd[i] = socket(la.ss_family, SOCK_STREAM, 0);
		if (lfd[i] < 0)
			ts_die("socket");
		setsockopt(lfd[i], SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		set_port(&la, 0);
		if (bind(lfd[i], (struct sockaddr *)&la, llen) < 0)
			ts_die("bind(listen)");
		if (listen(lfd[i], 1) < 0)
			ts_die("listen");
	}
	if (pipe(start) < 0)
		ts_die("pipe");
	/* Children 0 .. pairs-1 are servers, pairs .. 2*pairs-1 their clients. */
	for (i = 0; i < 2 * pairs; i++) {
		if (pipe(res[i]) < 0)
			ts_die("pipe");
		pid = fork();
		if (pid < 0)
			ts_die("fork");
		if (pid > 0) {
			close(res[i][1]);
			continue;
		}
		alarm(TIMEOUT_SECONDS);
		close(start[1]);
		close(res[i][0]);
		memset(&t[i], 0, sizeof(t[i]));
		if (i < pairs) {
			int fd;

			wait_start(start[0]);
			fd = accept(lfd[i], NULL, NULL);
			if (fd < 0)
				ts_die("accept");
			t[i].received = recv_all(fd, rsize);
			t[i].sent = send_all(fd, reply, wsize);
			if (close(fd) < 0)
				ts_die("close(server)");
		} else {
			struct sockaddr_storage ca;
			int fd;

			len = sizeof(ca);
			if (getsockname(lfd[i - pairs], (struct sockaddr *)&ca, &len) < 0)
				ts_die("getsockname");
			wait_start(start[0]);
			fd = socket(ba.ss_family, SOCK_STREAM, 0);
			if (fd < 0)
				ts_die("socket");
			set_port(&ba, 0);
			if (bind(fd, (struct sockaddr *)&ba, blen) < 0)
				ts_die("bind(client)");
			set_port(&la, get_port(&ca));
			if (connect(fd, (struct sockaddr *)&la, llen) < 0)
				ts_die("connect");
			t[i].sent = send_all(fd, bytes, wsize);
			if (shutdown(fd, SHUT_WR) < 0)
				ts_die("shutdown");
			t[i].received = recv_all(fd, rsize);
			if (close(fd) < 0)
				ts_die("close(client)");
		}
		report(res[i][1], &t[i]);
		_exit(0);
	}
	close(start[0]);
	t0 = ts_now();
	close(start[1]);
	for (i = 0; i < 2 * pairs; i++) {
		ssize_t r;

		do
			r = read(res[i][0], &t[i], sizeof(t[i]));
		while (r < 0 && errno == EINTR);
		if (r != (ssize_t)sizeof(t[i])) {
			fprintf(stderr, "ts-stress: %s %u reported nothing\n",
				i < pairs ? "server" : "client", i % pairs);
			failed = 1;
		}
	}
	while ((pid = wait(&status)) > 0)
		if (!WIFEXITED(status) || WEXITSTATUS(status))
			failed = 1;
	if (failed)
		ts_die_msg("a child failed");
	for (i = 0; i < pairs; i++) {
		const struct tally *s = &t[i], *c = &t[pairs + i];

		if (c->sent != s->received || s->sent != c->received) {
			fprintf(stderr, "ts-stress: pair %u disagrees: client sent %llu, server got %llu; "
				"server sent %llu, client got %llu\n", i, c->sent, s->received, s->sent,
				c->received);
			return 1;
		}
		c2s += c->sent;
		s2c += s->sent;
	}
	printf("c2s=%llu s2c=%llu pairs=%u seconds=%.3f\n", c2s, s2c, pairs, ts_now() - t0);
	return 0;
}
