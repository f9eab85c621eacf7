/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Helpers the traffic tools of the tests share (ts-stream, ts-stress): fatal errors
 * named after the running program, a monotonic clock, address literals.
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

#endif
