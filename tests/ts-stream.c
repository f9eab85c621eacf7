/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * ts-stream - sustained full-duplex TCP traffic with an exact byte count, for the
 * reliability tests ("nothing lost" and the soak).
 *
 * Opens one TCP connection between a server socket and a client socket of this process
 * and lets both ends send and receive at the same time, as fast as they can, for a given
 * number of seconds. Then each end shuts down its sending side and drains the other
 * until EOF, so every byte sent has been received when it exits. Counts come only from
 * successful send()/recv() return values, and the tool itself checks that what one end
 * sent is what the other received before printing
 *
 *   c2s=N s2c=M seconds=S
 *
 * ts-traffic moves a fixed amount with every syscall flavour; this one moves as much
 * as possible for a while, which is what a long, concurrent, exact test needs.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "tsnet.h"

#define CHUNK (64 * 1024)

struct end {
	const char *who;
	int fd;
	unsigned long long sent, received;
};

static double deadline; /* CLOCK_MONOTONIC seconds */

static void on_alarm(int sig)
{
	static const char msg[] = "ts-stream: timeout: the connection did not finish\n";
	ssize_t r;

	(void)sig;
	r = write(STDERR_FILENO, msg, sizeof(msg) - 1);
	(void)r;
	_exit(1);
}

/*
 * Sends and receives on one non-blocking socket until the deadline, then shuts down
 * the sending side and keeps receiving until the peer's EOF.
 */
static void *pump(void *arg)
{
	static __thread unsigned char buf[CHUNK];
	struct end *e = arg;
	int sending = 1;

	memset(buf, 'x', sizeof(buf));
	for (;;) {
		struct pollfd p = { .fd = e->fd, .events = POLLIN | (sending ? POLLOUT : 0) };
		ssize_t r;

		if (sending && ts_now() >= deadline) {
			if (shutdown(e->fd, SHUT_WR) < 0)
				ts_die("shutdown");
			sending = 0;
			continue;
		}
		if (poll(&p, 1, 100) < 0) {
			if (errno == EINTR)
				continue;
			ts_die("poll");
		}
		if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
			r = recv(e->fd, buf, sizeof(buf), 0);
			if (r > 0) {
				e->received += (unsigned long long)r;
			} else if (r == 0) {
				/*
				 * The peer is done: it reached the shared deadline first. Stop
				 * sending too; what was sent is already queued for it.
				 */
				if (sending && shutdown(e->fd, SHUT_WR) < 0)
					ts_die("shutdown");
				break;
			} else if (errno != EAGAIN && errno != EINTR) {
				ts_die("recv");
			}
		}
		if (sending && (p.revents & POLLOUT)) {
			r = send(e->fd, buf, sizeof(buf), MSG_NOSIGNAL);
			if (r > 0)
				e->sent += (unsigned long long)r;
			else if (r < 0 && errno != EAGAIN && errno != EINTR)
				ts_die("send");
		}
	}
	return NULL;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: ts-stream --listen ADDR --connect ADDR --bind ADDR --seconds S\n"
		   "  Both ends send and receive concurrently for S seconds, then drain.\n"
		   "  Prints: c2s=N s2c=M seconds=S\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "listen", required_argument, NULL, 'l' },
		{ "connect", required_argument, NULL, 'c' },
		{ "bind", required_argument, NULL, 'b' },
		{ "seconds", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *listen_s = NULL, *connect_s = NULL, *bind_s = NULL;
	struct end client = { .who = "client" }, server = { .who = "server" };
	struct sigaction sa;
	double seconds = 0, start;
	pthread_t th;
	int opt, err;
	char *end;

	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (opt) {
		case 'l':
			listen_s = optarg;
			break;
		case 'c':
			connect_s = optarg;
			break;
		case 'b':
			bind_s = optarg;
			break;
		case 's':
			seconds = strtod(optarg, &end);
			if (*end || !(seconds > 0 && seconds <= 86400))
				ts_die_msg("invalid --seconds value");
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 1;
		}
	}
	if (optind != argc || !listen_s || !connect_s || !bind_s || seconds <= 0) {
		usage(stderr);
		return 1;
	}

	/* A stuck connection must not hang the test suite. */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_alarm;
	sigaction(SIGALRM, &sa, NULL);
	alarm((unsigned)seconds + 60);

	ts_tcp_pair(listen_s, connect_s, bind_s, &client.fd, &server.fd);
	if (fcntl(client.fd, F_SETFL, O_NONBLOCK) < 0 || fcntl(server.fd, F_SETFL, O_NONBLOCK) < 0)
		ts_die("fcntl");

	start = ts_now();
	deadline = start + seconds;
	err = pthread_create(&th, NULL, pump, &server);
	if (err) {
		errno = err;
		ts_die("pthread_create");
	}
	pump(&client);
	pthread_join(th, NULL);
	close(client.fd);
	close(server.fd);

	if (client.sent != server.received || server.sent != client.received) {
		fprintf(stderr, "ts-stream: byte counts disagree: client sent %llu, server got %llu; "
			"server sent %llu, client got %llu\n", client.sent, server.received,
			server.sent, client.received);
		return 1;
	}
	printf("c2s=%llu s2c=%llu seconds=%.3f\n", client.sent, server.sent, ts_now() - start);
	return 0;
}
