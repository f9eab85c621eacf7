/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * ts-delay: a known network delay without netem. Creates two tun devices and copies
 * every IP packet from one to the other after a fixed delay, both directions; the test
 * moves each device into its own network namespace, so TCP between the namespaces sees
 * an RTT of about twice the delay. Optionally drops some TCP data segments (A to B) to
 * force retransmissions.
 *
 *   ts-delay --tun NAME_A --tun NAME_B --delay-ms D [--drop-every N --drop-max K]
 *
 * Runs until SIGTERM/SIGINT; prints "ready" once both devices exist.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#define SLOT_BYTES 2048
#define QUEUE_SLOTS 8192 /* per direction: far above what a TCP window holds here */

struct packet {
	uint64_t due_ns;
	uint16_t len;
	unsigned char data[SLOT_BYTES];
};

struct queue {
	struct packet *p;
	unsigned head, count;
};

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static void die(const char *what)
{
	fprintf(stderr, "ts-delay: %s: %s\n", what, strerror(errno));
	exit(1);
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static int open_tun(const char *name)
{
	struct ifreq ifr;
	int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);

	if (fd < 0)
		die("/dev/net/tun");
	memset(&ifr, 0, sizeof(ifr));
	ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	if (ioctl(fd, TUNSETIFF, &ifr) < 0)
		die("TUNSETIFF");
	if (fcntl(fd, F_SETFL, O_NONBLOCK) < 0)
		die("fcntl");
	return fd;
}

/* TCP payload length of an IPv4/IPv6 packet, 0 for anything else. */
static unsigned tcp_payload(const unsigned char *d, unsigned len)
{
	unsigned ip_hl, total, doff;

	if (len >= 20 && (d[0] >> 4) == 4 && d[9] == 6) {
		ip_hl = (d[0] & 15) * 4u;
		total = (unsigned)d[2] << 8 | d[3];
		if (ip_hl + 20 > len || total > len)
			return 0;
		doff = (d[ip_hl + 12] >> 4) * 4u;
		return total > ip_hl + doff ? total - ip_hl - doff : 0;
	}
	if (len >= 60 && (d[0] >> 4) == 6 && d[6] == 6) {
		total = (unsigned)d[4] << 8 | d[5];
		doff = (d[40 + 12] >> 4) * 4u;
		return total > doff ? total - doff : 0;
	}
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "tun", required_argument, NULL, 't' },
		{ "delay-ms", required_argument, NULL, 'd' },
		{ "drop-every", required_argument, NULL, 'e' },
		{ "drop-max", required_argument, NULL, 'm' },
		{ NULL, 0, NULL, 0 },
	};
	const char *names[2] = { NULL, NULL };
	double delay_ms = -1;
	unsigned long drop_every = 0, drop_max = 0, data_seen = 0, dropped = 0;
	struct queue q[2];
	int fds[2], n = 0, opt;
	struct sigaction sa;

	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (opt) {
		case 't':
			if (n < 2)
				names[n++] = optarg;
			break;
		case 'd':
			delay_ms = atof(optarg);
			break;
		case 'e':
			drop_every = strtoul(optarg, NULL, 10);
			break;
		case 'm':
			drop_max = strtoul(optarg, NULL, 10);
			break;
		default:
			fprintf(stderr, "usage: ts-delay --tun A --tun B --delay-ms D "
				"[--drop-every N --drop-max K]\n");
			return 2;
		}
	}
	if (n != 2 || delay_ms < 0) {
		fprintf(stderr, "ts-delay: need --tun A --tun B --delay-ms D\n");
		return 2;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);

	for (int i = 0; i < 2; i++) {
		fds[i] = open_tun(names[i]);
		q[i].p = calloc(QUEUE_SLOTS, sizeof(struct packet));
		q[i].head = q[i].count = 0;
		if (q[i].p == NULL)
			die("calloc");
	}
	printf("ready\n");
	fflush(stdout);

	while (!stop) {
		struct pollfd pfd[2] = { { fds[0], POLLIN, 0 }, { fds[1], POLLIN, 0 } };
		uint64_t now = now_ns(), wait_ns = 100000000ULL;
		struct timespec ts;

		/* Release what is due; FIFO order holds since the delay is constant. */
		for (int i = 0; i < 2; i++) {
			while (q[i].count) {
				struct packet *p = &q[i].p[q[i].head];

				if (p->due_ns > now) {
					if (p->due_ns - now < wait_ns)
						wait_ns = p->due_ns - now;
					break;
				}
				/* A full device queue drops the packet, as a real link would. */
				if (write(fds[!i], p->data, p->len) < 0 && errno != EAGAIN &&
				    errno != EIO)
					die("write");
				q[i].head = (q[i].head + 1) % QUEUE_SLOTS;
				q[i].count--;
			}
		}
		ts.tv_sec = (time_t)(wait_ns / 1000000000ULL);
		ts.tv_nsec = (long)(wait_ns % 1000000000ULL);
		if (ppoll(pfd, 2, &ts, NULL) < 0) {
			if (errno == EINTR)
				continue;
			die("ppoll");
		}
		for (int i = 0; i < 2; i++) {
			for (;;) {
				struct packet *p;
				ssize_t r;

				if (q[i].count == QUEUE_SLOTS) {
					unsigned char sink[SLOT_BYTES];

					if (read(fds[i], sink, sizeof(sink)) < 0)
						break;
					continue; /* queue full: tail drop */
				}
				p = &q[i].p[(q[i].head + q[i].count) % QUEUE_SLOTS];
				r = read(fds[i], p->data, sizeof(p->data));
				if (r <= 0)
					break;
				if (i == 0 && drop_every && tcp_payload(p->data, (unsigned)r) &&
				    ++data_seen % drop_every == 0 && dropped < drop_max) {
					dropped++;
					continue;
				}
				p->len = (uint16_t)r;
				p->due_ns = now_ns() + (uint64_t)(delay_ms * 1e6);
				q[i].count++;
			}
		}
	}
	fprintf(stderr, "ts-delay: dropped %lu of %lu data segments A->B\n", dropped, data_seen);
	return 0;
}
