/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Helpers the traffic tools of the tests share (ts-stream, ts-stress, ts-paths): fatal
 * errors named after the running program, a monotonic clock, address literals, a
 * connected pair of sockets.
 */
#ifndef TSNET_H
#define TSNET_H

#include <sys/socket.h>

/* Print "PROGRAM: WHAT: strerror(errno)" and exit(1). */
void ts_die(const char *what) __attribute__((noreturn));
/* Print "PROGRAM: MSG" and exit(1). */
void ts_die_msg(const char *msg) __attribute__((noreturn));
/* CLOCK_MONOTONIC in seconds. */
double ts_now(void);
/* An IPv4 or IPv6 literal into *ss (port 0) and its length; -1 if it is neither. */
int ts_parse_addr(const char *s, struct sockaddr_storage *ss, socklen_t *len);
/*
 * One TCP connection inside this process: a listener on listen_s (an IPv4 or IPv6
 * literal, IPV6_V6ONLY unless IPv4-mapped, or "dual": :: with IPV6_V6ONLY=0), a client
 * bound to bind_s connecting to connect_s on the listener's port, the accepted end.
 * Exits with a message on any failure.
 */
void ts_tcp_pair(const char *listen_s, const char *connect_s, const char *bind_s, int *client,
		 int *server);

#endif
