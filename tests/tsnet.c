/* SPDX-License-Identifier: GPL-2.0-only */
#define _GNU_SOURCE
#include "tsnet.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

void ts_die(const char *what)
{
	fprintf(stderr, "%s: %s: %s\n", program_invocation_short_name, what, strerror(errno));
	exit(1);
}

void ts_die_msg(const char *msg)
{
	fprintf(stderr, "%s: %s\n", program_invocation_short_name, msg);
	exit(1);
}

double ts_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int ts_parse_addr(const char *s, struct sockaddr_storage *ss, socklen_t *len)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, s, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		*len = sizeof(*sin);
		return 0;
	}
	if (inet_pton(AF_INET6, s, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		*len = sizeof(*sin6);
		return 0;
	}
	return -1;
}

void ts_tcp_pair(const char *listen_s, const char *connect_s, const char *bind_s, int *client,
		 int *server)
{
	struct sockaddr_storage la, ca, ba;
	socklen_t llen, clen, blen;
	int one = 1, dual = !strcmp(listen_s, "dual"), lfd;
	in_port_t port;

	if (dual) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&la;

		memset(&la, 0, sizeof(la));
		a->sin6_family = AF_INET6;
		a->sin6_addr = in6addr_any;
		llen = sizeof(*a);
	} else if (ts_parse_addr(listen_s, &la, &llen)) {
		ts_die_msg("--listen: an IPv4 or IPv6 literal or 'dual'");
	}
	if (ts_parse_addr(connect_s, &ca, &clen) || ts_parse_addr(bind_s, &ba, &blen))
		ts_die_msg("--connect/--bind: IPv4 or IPv6 literals");
	lfd = socket(la.ss_family, SOCK_STREAM, 0);
	if (lfd < 0)
		ts_die("socket");
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (la.ss_family == AF_INET6) {
		int v6only = !dual && !IN6_IS_ADDR_V4MAPPED(&((struct sockaddr_in6 *)&la)->sin6_addr);

		if (setsockopt(lfd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof(v6only)) < 0)
			ts_die("setsockopt(IPV6_V6ONLY)");
	}
	if (bind(lfd, (struct sockaddr *)&la, llen) < 0)
		ts_die("bind(listen)");
	if (listen(lfd, 1) < 0 || getsockname(lfd, (struct sockaddr *)&la, &llen) < 0)
		ts_die("listen");
	port = la.ss_family == AF_INET ? ((struct sockaddr_in *)&la)->sin_port :
		((struct sockaddr_in6 *)&la)->sin6_port;
	if (ca.ss_family == AF_INET)
		((struct sockaddr_in *)&ca)->sin_port = port;
	else
		((struct sockaddr_in6 *)&ca)->sin6_port = port;
	*client = socket(ca.ss_family, SOCK_STREAM, 0);
	if (*client < 0)
		ts_die("socket");
	if (bind(*client, (struct sockaddr *)&ba, blen) < 0)
		ts_die("bind(client)");
	if (connect(*client, (struct sockaddr *)&ca, clen) < 0)
		ts_die("connect");
	*server = accept(lfd, NULL, NULL);
	if (*server < 0)
		ts_die("accept");
	close(lfd);
}
