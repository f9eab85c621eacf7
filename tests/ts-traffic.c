/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * ts-traffic - ground-truth TCP traffic generator for the tests.
 *
 * Opens one TCP connection between a server socket and a client socket in
 * the current network namespace and moves payload in both directions
 * (client -> server, then server -> client) using every send and receive
 * syscall the plugin hooks: write, send, sendto, sendmsg, writev, sendfile
 * and read, recv, recvfrom, recvmsg, readv (plus MSG_PEEK receives, which
 * must not be counted, MSG_WAITALL receives, and non-blocking sends that
 * fail with EAGAIN).  Byte totals are taken only from successful syscall
 * return values and printed on one line, so the plugin's counters can be
 * compared with them.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define TIMEOUT_SECONDS 30
#define BIG_CHUNK (256 * 1024)		/* size of non-blocking sends */
#define FILE_SIZE BIG_CHUNK		/* sendfile source size */
#define RECV_BUF_SIZE (256 * 1024)
#define EAGAIN_WANTED 3
/*
 * Client send buffer and server receive buffer (c2s direction only), kept
 * small so that filling them in the EAGAIN phase adds little to c2s.
 */
#define C2S_SOCKBUF (64 * 1024)

static const size_t send_sizes[] = { 1, 7, 1000, 65536, 100000 };
#define N_SEND_SIZES (sizeof(send_sizes) / sizeof(send_sizes[0]))
#define N_SEND_CALLS 6	/* write send sendto sendmsg writev sendfile */

static const size_t recv_sizes[] = { 1, 13, 512, 1500, 16384, 65536, 200000 };
#define N_RECV_SIZES (sizeof(recv_sizes) / sizeof(recv_sizes[0]))
#define N_RECV_CALLS 5	/* read recv recvfrom recvmsg readv */

static unsigned char pattern[BIG_CHUNK];
static int file_fd = -1;

/* Control pipes between client (main thread) and server thread. */
static int ctl_pipe[2];	/* client -> server: 'P' pause, 'R' resume */
static int ack_pipe[2];	/* server -> client: 'A' paused */

struct server_ctx {
	int listen_fd;
	unsigned long long c2s_received;
	unsigned long long s2c_sent;
	unsigned long long bytes;
	struct sockaddr_storage local, peer;
	struct tcp_info info;
	unsigned segs_in;
};

static void die(const char *what)
{
	int e = errno;

	fprintf(stderr, "ts-traffic: %s: %s\n", what, strerror(e));
	exit(1);
}

/*
 * TCP_INFO once everything this socket sent (FIN included) is acknowledged: from then
 * on it retransmits nothing, so tcpi_total_retrans is final. Gives up after 10 s.
 * Nothing in flight is not enough: right after shutdown() the FIN can still wait in the
 * write queue (TCP small queues defer it on a busy loopback), and a retransmission of it
 * would be counted by the plugin but not here (seen under qemu TCG: "want 0 got 1").
 * The FIN is acknowledged once the state is FIN_WAIT2, TIME_WAIT or CLOSE.
 * glibc's struct tcp_info stops at tcpi_total_retrans; tcpi_segs_in (4.2+) follows the
 * rate and byte fields of the kernel's (0 when the kernel is older).
 */
struct full_tcp_info {
	struct tcp_info ti;
	uint64_t pacing_rate, max_pacing_rate, bytes_acked, bytes_received;
	uint32_t segs_out, segs_in;
};

static void settled_info(int fd, struct tcp_info *ti, unsigned *segs_in)
{
	for (int i = 0; i < 10000; i++) {
		struct full_tcp_info full;
		socklen_t len = sizeof(full);

		memset(&full, 0, sizeof(full));
		if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &full, &len) < 0)
			die("getsockopt(TCP_INFO)");
		*ti = full.ti;
		*segs_in = full.segs_in;
		if (ti->tcpi_unacked == 0 &&
		    (ti->tcpi_state == TCP_FIN_WAIT2 || ti->tcpi_state == TCP_TIME_WAIT ||
		     ti->tcpi_state == TCP_CLOSE))
			return;
		usleep(1000);
	}
	fprintf(stderr, "ts-traffic: data still unacknowledged after 10 s\n");
	exit(1);
}

static void die_msg(const char *msg);

/*
 * tcpi_rtt polled while the client sends (at most every 2 ms): the srtt over the whole
 * flow, which the plugin's samples see, not only its last value, which a burst of load
 * on the machine at the end of the flow moves (seen: p50 18 % under the final tcpi_rtt
 * of a 0.5 ms relay while other jobs kept both CPUs busy).
 */
#define RTT_POLLS_MAX 16384
static unsigned rtt_polls[RTT_POLLS_MAX], n_rtt_polls;
static uint64_t rtt_polled_ns;

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static void poll_rtt(int fd)
{
	struct tcp_info ti;
	socklen_t len = sizeof(ti);
	uint64_t now = mono_ns();

	if (n_rtt_polls >= RTT_POLLS_MAX || now - rtt_polled_ns < 2000000)
		return;
	rtt_polled_ns = now;
	if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) == 0 && ti.tcpi_rtt > 0)
		rtt_polls[n_rtt_polls++] = ti.tcpi_rtt;
}

static int cmp_unsigned(const void *a, const void *b)
{
	unsigned x = *(const unsigned *)a, y = *(const unsigned *)b;

	return x < y ? -1 : x > y;
}

/* The median of the polls, or fallback when there were none. */
static unsigned rtt_poll_median(unsigned fallback)
{
	if (n_rtt_polls == 0)
		return fallback;
	qsort(rtt_polls, n_rtt_polls, sizeof(rtt_polls[0]), cmp_unsigned);
	return rtt_polls[n_rtt_polls / 2];
}

/*
 * Sockets belong to the namespace of the thread that creates them: switching before
 * each socket() puts the two ends in different namespaces (e.g. either side of a
 * delaying relay) while one process still sees both byte counts.
 */
static void enter_netns(const char *name)
{
	char path[256];
	int fd;

	snprintf(path, sizeof(path), "%s%s", strchr(name, '/') ? "" : "/run/netns/", name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || setns(fd, CLONE_NEWNET) < 0)
		die(path);
	close(fd);
}

static void die_msg(const char *msg)
{
	fprintf(stderr, "ts-traffic: %s\n", msg);
	exit(1);
}

/*
 * The kernel records in a socket the cgroup of the process creating it (an accepted
 * socket: its listener's): moving this process (all its threads) into a cgroup
 * directory before a socket() decides where that socket counts.
 */
static void join_cgroup(const char *dir)
{
	char path[4096], pid[32];
	int fd, n;

	snprintf(path, sizeof(path), "%s/cgroup.procs", dir);
	n = snprintf(pid, sizeof(pid), "%d\n", (int)getpid());
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0 || write(fd, pid, (size_t)n) != n)
		die(path);
	close(fd);
}

static void on_alarm(int sig)
{
	static const char msg[] =
		"ts-traffic: timeout: no completion within 30 seconds\n";
	ssize_t r;

	(void)sig;
	r = write(STDERR_FILENO, msg, sizeof(msg) - 1);
	(void)r;
	_exit(1);
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: ts-traffic --listen ADDR --connect ADDR [--bind ADDR]\n"
		"                  [--bytes N] [--reply-bytes M] [--port P]\n"
		"  --listen ADDR   server address: IPv4 literal, IPv6 literal\n"
		"                  (IPV6_V6ONLY=1) or 'dual' (:: with IPV6_V6ONLY=0)\n"
		"  --connect ADDR  address the client connects to (IPv4, IPv6 or\n"
		"                  IPv4-mapped IPv6 such as ::ffff:10.1.2.3)\n"
		"  --bind ADDR     client source address (same family as --connect;\n"
		"                  IPv4 is converted to mapped form for a mapped\n"
		"                  --connect address)\n"
		"  --bytes N       approximate payload per direction (default 1000000)\n"
		"  --reply-bytes M payload server to client (default: N)\n"
		"  --server-netns NS, --client-netns NS\n"
		"                  create that end's socket in network namespace NS\n"
		"  --port P        listening port (default 0: kernel picks)\n"
		"  --server-cgroup DIR, --client-cgroup DIR\n"
		"                  move this process into cgroup directory DIR before\n"
		"                  creating that end's socket\n"
		"  --move-cgroup DIR\n"
		"                  move into DIR once connected, before any payload\n"
		"Prints: c2s=N s2c=N client=ADDR server=ADDR peer_seen_by_server=ADDR\n"
		"        rtt_client_us=N rtt_server_us=N retrans_client=N retrans_server=N\n"
		"        segs_in_client=N segs_in_server=N rtt_client_median_us=N\n"
		"        (TCP_INFO tcpi_rtt, tcpi_total_retrans and tcpi_segs_in once all data\n"
		"        is acked; the median of the client's tcpi_rtt polled every 2 ms while\n"
		"        it sends)\n");
}

/* ---- addresses --------------------------------------------------------- */

static int parse_addr(const char *s, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	struct sockaddr_in *sin = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

	if (inet_pton(AF_INET, s, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		return 0;
	}
	if (inet_pton(AF_INET6, s, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		return 0;
	}
	return -1;
}

static int is_mapped(const struct sockaddr_storage *ss)
{
	return ss->ss_family == AF_INET6 &&
	       IN6_IS_ADDR_V4MAPPED(&((const struct sockaddr_in6 *)ss)->sin6_addr);
}

static void to_mapped(struct sockaddr_storage *ss)
{
	struct sockaddr_in sin = *(struct sockaddr_in *)ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	sin6->sin6_family = AF_INET6;
	sin6->sin6_port = sin.sin_port;
	sin6->sin6_addr.s6_addr[10] = 0xff;
	sin6->sin6_addr.s6_addr[11] = 0xff;
	memcpy(&sin6->sin6_addr.s6_addr[12], &sin.sin_addr, 4);
}

static void from_mapped(struct sockaddr_storage *ss)
{
	struct sockaddr_in6 sin6 = *(struct sockaddr_in6 *)ss;
	struct sockaddr_in *sin = (struct sockaddr_in *)ss;

	memset(ss, 0, sizeof(*ss));
	sin->sin_family = AF_INET;
	sin->sin_port = sin6.sin6_port;
	memcpy(&sin->sin_addr, &sin6.sin6_addr.s6_addr[12], 4);
}

static socklen_t addr_len(const struct sockaddr_storage *ss)
{
	return ss->ss_family == AF_INET ? sizeof(struct sockaddr_in)
					: sizeof(struct sockaddr_in6);
}

static void set_port(struct sockaddr_storage *ss, uint16_t port)
{
	if (ss->ss_family == AF_INET)
		((struct sockaddr_in *)ss)->sin_port = htons(port);
	else
		((struct sockaddr_in6 *)ss)->sin6_port = htons(port);
}

static uint16_t get_port(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)ss)->sin_port);
	return ntohs(((const struct sockaddr_in6 *)ss)->sin6_port);
}

static const char *addr_str(const struct sockaddr_storage *ss, char *buf,
			    size_t len)
{
	const void *a;

	if (ss->ss_family == AF_INET)
		a = &((const struct sockaddr_in *)ss)->sin_addr;
	else if (ss->ss_family == AF_INET6)
		a = &((const struct sockaddr_in6 *)ss)->sin6_addr;
	else
		return "?";
	if (!inet_ntop(ss->ss_family, a, buf, (socklen_t)len))
		die("inet_ntop");
	return buf;
}

static int make_socket(int family, int v6only)
{
	int one = 1;
	int fd = socket(family, SOCK_STREAM, 0);

	if (fd < 0)
		die("socket");
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0)
		die("setsockopt(SO_REUSEADDR)");
	if (family == AF_INET6 &&
	    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only,
		       sizeof(v6only)) < 0)
		die("setsockopt(IPV6_V6ONLY)");
	return fd;
}

static void set_nonblock(int fd, int on)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0)
		die("fcntl(F_GETFL)");
	fl = on ? (fl | O_NONBLOCK) : (fl & ~O_NONBLOCK);
	if (fcntl(fd, F_SETFL, fl) < 0)
		die("fcntl(F_SETFL)");
}

/* ---- send / receive cycles --------------------------------------------- */

static const char *const send_names[N_SEND_CALLS] = {
	"write", "send", "sendto", "sendmsg", "writev", "sendfile"
};

/* One send syscall, chosen by idx.  Returns the syscall's return value. */
static ssize_t do_send(int fd, unsigned idx, size_t len)
{
	struct iovec iov[3];
	struct msghdr msg;
	off_t off = 0;
	size_t a, b;

	if (len > BIG_CHUNK)
		len = BIG_CHUNK;
	switch (idx % N_SEND_CALLS) {
	case 0:
		return write(fd, pattern, len);
	case 1:
		return send(fd, pattern, len, 0);
	case 2:
		return sendto(fd, pattern, len, 0, NULL, 0);
	case 3:
		a = len / 2;
		iov[0].iov_base = pattern;
		iov[0].iov_len = a;
		iov[1].iov_base = pattern + a;
		iov[1].iov_len = len - a;
		memset(&msg, 0, sizeof(msg));
		msg.msg_iov = iov;
		msg.msg_iovlen = 2;
		return sendmsg(fd, &msg, 0);
	case 4:
		a = len / 3;
		b = (len - a) / 2;
		iov[0].iov_base = pattern;
		iov[0].iov_len = a;
		iov[1].iov_base = pattern + a;
		iov[1].iov_len = b;
		iov[2].iov_base = pattern + a + b;
		iov[2].iov_len = len - a - b;
		return writev(fd, iov, 3);
	default:
		/* explicit offset: the shared file position is never used */
		return sendfile(fd, file_fd, &off, len);
	}
}

static const char *const recv_names[N_RECV_CALLS] = {
	"read", "recv", "recvfrom", "recvmsg", "readv"
};

/*
 * One receive syscall, chosen by idx; every 4th is preceded by a MSG_PEEK
 * recv whose result is not counted.  Returns the (counted) return value.
 */
static ssize_t do_recv(int fd, unsigned idx, unsigned char *buf)
{
	size_t len = recv_sizes[idx % N_RECV_SIZES];
	int waitall = (idx / N_RECV_CALLS) % 2 ? MSG_WAITALL : 0;
	struct sockaddr_storage from;
	socklen_t fromlen = sizeof(from);
	struct iovec iov[2];
	struct msghdr msg;
	ssize_t r;

	if (idx % 4 == 3) {
		r = recv(fd, buf, len, MSG_PEEK);
		if (r < 0)
			die("recv(MSG_PEEK)");
	}
	iov[0].iov_base = buf;
	iov[0].iov_len = len / 2;
	iov[1].iov_base = buf + len / 2;
	iov[1].iov_len = len - len / 2;

	switch (idx % N_RECV_CALLS) {
	case 0:
		return read(fd, buf, len);
	case 1:
		return recv(fd, buf, len, waitall);
	case 2:
		return recvfrom(fd, buf, len, 0, (struct sockaddr *)&from,
				&fromlen);
	case 3:
		memset(&msg, 0, sizeof(msg));
		msg.msg_iov = iov;
		msg.msg_iovlen = 2;
		return recvmsg(fd, &msg, waitall);
	default:
		return readv(fd, iov, 2);
	}
}

static void xwrite_byte(int fd, char c)
{
	ssize_t r;

	do
		r = write(fd, &c, 1);
	while (r < 0 && errno == EINTR);
	if (r != 1)
		die("write(pipe)");
}

static char xread_byte(int fd)
{
	ssize_t r;
	char c;

	do
		r = read(fd, &c, 1);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		die("read(pipe)");
	if (r == 0)
		die_msg("read(pipe): unexpected EOF");
	return c;
}

/* ---- server thread ----------------------------------------------------- */

static void *server_main(void *arg)
{
	struct server_ctx *sc = arg;
	static unsigned char buf[RECV_BUF_SIZE];
	socklen_t len;
	unsigned idx;
	ssize_t r;
	int fd;

	do
		fd = accept(sc->listen_fd, NULL, NULL);
	while (fd < 0 && errno == EINTR);
	if (fd < 0)
		die("accept");
	close(sc->listen_fd);

	len = sizeof(sc->local);
	if (getsockname(fd, (struct sockaddr *)&sc->local, &len) < 0)
		die("getsockname(server)");
	len = sizeof(sc->peer);
	if (getpeername(fd, (struct sockaddr *)&sc->peer, &len) < 0)
		die("getpeername(server)");

	/* Phase 1: receive until EOF, obeying pause requests. */
	for (idx = 0;; ) {
		struct pollfd p[2] = {
			{ .fd = ctl_pipe[0], .events = POLLIN },
			{ .fd = fd, .events = POLLIN },
		};

		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			die("poll(server)");
		}
		if (p[0].revents) {
			if (xread_byte(ctl_pipe[0]) != 'P')
				die_msg("server: unexpected control byte");
			xwrite_byte(ack_pipe[1], 'A');
			if (xread_byte(ctl_pipe[0]) != 'R')
				die_msg("server: unexpected control byte");
			continue;
		}
		if (!p[1].revents)
			continue;
		r = do_recv(fd, idx, buf);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			die(recv_names[idx % N_RECV_CALLS]);
		}
		idx++;
		if (r == 0)
			break;
		sc->c2s_received += (unsigned long long)r;
	}

	/* Phase 2: send ~bytes to the client, then close. */
	for (idx = 0; sc->s2c_sent < sc->bytes; idx++) {
		size_t n = send_sizes[idx % N_SEND_SIZES];

		if (n > sc->bytes - sc->s2c_sent)
			n = (size_t)(sc->bytes - sc->s2c_sent);
		r = do_send(fd, idx, n);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			die(send_names[idx % N_SEND_CALLS]);
		}
		sc->s2c_sent += (unsigned long long)r;
	}
	if (shutdown(fd, SHUT_WR) < 0)
		die("shutdown(server)");
	settled_info(fd, &sc->info, &sc->segs_in);
	if (close(fd) < 0)
		die("close(server)");
	return NULL;
}

/* ---- client side ------------------------------------------------------- */

/*
 * Pause the server, then send large chunks non-blockingly until the send
 * buffers are full and at least EAGAIN_WANTED sends failed with EAGAIN
 * after the server confirmed it stopped reading.  Then resume the server.
 */
static void eagain_phase(int fd, unsigned *idx, unsigned long long *sent)
{
	int acked = 0, eagains = 0;
	ssize_t r;

	xwrite_byte(ctl_pipe[1], 'P');
	set_nonblock(fd, 1);
	while (eagains < EAGAIN_WANTED) {
		if (!acked) {
			struct pollfd p = { .fd = ack_pipe[0], .events = POLLIN };

			if (poll(&p, 1, 0) < 0 && errno != EINTR)
				die("poll(ack)");
			if (p.revents) {
				if (xread_byte(ack_pipe[0]) != 'A')
					die_msg("client: unexpected ack byte");
				acked = 1;
			}
		}
		r = do_send(fd, *idx, BIG_CHUNK);
		if (r >= 0) {
			*sent += (unsigned long long)r;
			(*idx)++;
			continue;
		}
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			die(send_names[*idx % N_SEND_CALLS]);
		(*idx)++;	/* try the next syscall on the next failure */
		if (acked) {
			eagains++;
			continue;
		}
		/*
		 * Server not paused yet (it may be inside a blocking receive):
		 * wait until it drains data or acknowledges the pause.
		 */
		{
			struct pollfd p[2] = {
				{ .fd = fd, .events = POLLOUT },
				{ .fd = ack_pipe[0], .events = POLLIN },
			};

			if (poll(p, 2, -1) < 0 && errno != EINTR)
				die("poll(client)");
		}
	}
	set_nonblock(fd, 0);
	xwrite_byte(ctl_pipe[1], 'R');
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "listen", required_argument, NULL, 'l' },
		{ "connect", required_argument, NULL, 'c' },
		{ "bind", required_argument, NULL, 'b' },
		{ "bytes", required_argument, NULL, 'n' },
		{ "port", required_argument, NULL, 'p' },
		{ "reply-bytes", required_argument, NULL, 'r' },
		{ "server-netns", required_argument, NULL, 'S' },
		{ "client-netns", required_argument, NULL, 'C' },
		{ "server-cgroup", required_argument, NULL, 'G' },
		{ "client-cgroup", required_argument, NULL, 'g' },
		{ "move-cgroup", required_argument, NULL, 'm' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *listen_s = NULL, *connect_s = NULL, *bind_s = NULL;
	const char *server_ns = NULL, *client_ns = NULL;
	const char *server_cg = NULL, *client_cg = NULL, *move_cg = NULL;
	unsigned long long bytes = 1000000, sent = 0, received = 0, reply = ~0ULL;
	unsigned long port = 0;
	struct sockaddr_storage laddr, caddr, baddr, cl_local;
	struct tcp_info cl_info;
	unsigned cl_segs_in = 0;
	static struct server_ctx sc;
	static unsigned char buf[RECV_BUF_SIZE];
	char a1[INET6_ADDRSTRLEN], a2[INET6_ADDRSTRLEN], a3[INET6_ADDRSTRLEN];
	char path[4096];
	const char *tmpdir;
	struct sigaction sa;
	pthread_t th;
	socklen_t len;
	unsigned idx;
	int eagain_done = 0;
	int lfd, fd, opt, err;
	ssize_t r;
	size_t i;
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
		case 'n':
			errno = 0;
			bytes = strtoull(optarg, &end, 10);
			if (errno || end == optarg || *end || optarg[0] == '-')
				die_msg("invalid --bytes value");
			break;
		case 'S':
			server_ns = optarg;
			break;
		case 'C':
			client_ns = optarg;
			break;
		case 'G':
			server_cg = optarg;
			break;
		case 'g':
			client_cg = optarg;
			break;
		case 'm':
			move_cg = optarg;
			break;
		case 'r':
			errno = 0;
			reply = strtoull(optarg, &end, 10);
			if (errno || end == optarg || *end || optarg[0] == '-')
				die_msg("invalid --reply-bytes value");
			break;
		case 'p':
			errno = 0;
			port = strtoul(optarg, &end, 10);
			if (errno || end == optarg || *end || port > 65535 ||
			    optarg[0] == '-')
				die_msg("invalid --port value");
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 1;
		}
	}
	if (optind != argc || !listen_s || !connect_s) {
		usage(stderr);
		return 1;
	}

	/* Addresses. */
	if (!strcmp(listen_s, "dual")) {
		memset(&laddr, 0, sizeof(laddr));
		laddr.ss_family = AF_INET6;	/* :: */
	} else if (parse_addr(listen_s, &laddr) < 0) {
		die_msg("invalid --listen address");
	}
	if (parse_addr(connect_s, &caddr) < 0)
		die_msg("invalid --connect address");
	if (bind_s) {
		if (parse_addr(bind_s, &baddr) < 0)
			die_msg("invalid --bind address");
		if (caddr.ss_family == AF_INET6 && is_mapped(&caddr)) {
			if (baddr.ss_family == AF_INET)
				to_mapped(&baddr);
			else if (!is_mapped(&baddr))
				die_msg("--bind must be IPv4 or IPv4-mapped for a mapped --connect address");
		} else if (caddr.ss_family == AF_INET) {
			if (is_mapped(&baddr))
				from_mapped(&baddr);
			else if (baddr.ss_family != AF_INET)
				die_msg("--bind must be IPv4 for an IPv4 --connect address");
		} else if (baddr.ss_family != AF_INET6 || is_mapped(&baddr)) {
			die_msg("--bind must be IPv6 for an IPv6 --connect address");
		}
	}

	/* Signals and safety timeout. */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_IGN;
	if (sigaction(SIGPIPE, &sa, NULL) < 0)
		die("sigaction(SIGPIPE)");
	sa.sa_handler = on_alarm;
	sa.sa_flags = SA_RESTART;
	if (sigaction(SIGALRM, &sa, NULL) < 0)
		die("sigaction(SIGALRM)");
	alarm(TIMEOUT_SECONDS);

	/* Payload pattern and sendfile source. */
	for (i = 0; i < sizeof(pattern); i++)
		pattern[i] = (unsigned char)('A' + (i * 7 + i / 251) % 26);
	tmpdir = getenv("TMPDIR");
	if (!tmpdir || !*tmpdir)
		tmpdir = "/tmp";
	if ((size_t)snprintf(path, sizeof(path), "%s/ts-traffic.XXXXXX",
			     tmpdir) >= sizeof(path))
		die_msg("TMPDIR too long");
	file_fd = mkstemp(path);
	if (file_fd < 0)
		die("mkstemp");
	if (unlink(path) < 0)
		die("unlink");
	for (i = 0; i < FILE_SIZE; i += (size_t)r) {
		r = write(file_fd, pattern + i, FILE_SIZE - i);
		if (r < 0) {
			if (errno == EINTR) {
				r = 0;
				continue;
			}
			die("write(tmpfile)");
		}
	}

	if (pipe(ctl_pipe) < 0 || pipe(ack_pipe) < 0)
		die("pipe");

	/* Listener. */
	if (server_ns)
		enter_netns(server_ns);
	if (server_cg)
		join_cgroup(server_cg);
	lfd = make_socket(laddr.ss_family,
			  strcmp(listen_s, "dual") && !is_mapped(&laddr));
	set_port(&laddr, (uint16_t)port);
	opt = C2S_SOCKBUF;	/* inherited by the accepted socket */
	if (setsockopt(lfd, SOL_SOCKET, SO_RCVBUF, &opt, sizeof(opt)) < 0)
		die("setsockopt(SO_RCVBUF)");
	if (bind(lfd, (struct sockaddr *)&laddr, addr_len(&laddr)) < 0)
		die("bind(listener)");
	if (listen(lfd, 4) < 0)
		die("listen");
	len = sizeof(laddr);
	if (getsockname(lfd, (struct sockaddr *)&laddr, &len) < 0)
		die("getsockname(listener)");
	port = get_port(&laddr);

	sc.listen_fd = lfd;
	sc.bytes = reply == ~0ULL ? bytes : reply;
	err = pthread_create(&th, NULL, server_main, &sc);
	if (err) {
		errno = err;
		die("pthread_create");
	}

	/* Client. */
	if (client_ns)
		enter_netns(client_ns);
	if (client_cg)
		join_cgroup(client_cg);
	fd = make_socket(caddr.ss_family, !is_mapped(&caddr));
	opt = C2S_SOCKBUF;
	if (setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &opt, sizeof(opt)) < 0)
		die("setsockopt(SO_SNDBUF)");
	if (bind_s) {
		set_port(&baddr, 0);
		if (bind(fd, (struct sockaddr *)&baddr, addr_len(&baddr)) < 0)
			die("bind(client)");
	}
	set_port(&caddr, (uint16_t)port);
	while (connect(fd, (struct sockaddr *)&caddr, addr_len(&caddr)) < 0) {
		if (errno != EINTR)
			die("connect");
	}
	len = sizeof(cl_local);
	if (getsockname(fd, (struct sockaddr *)&cl_local, &len) < 0)
		die("getsockname(client)");
	if (move_cg)
		join_cgroup(move_cg);

	/* Phase 1: client -> server. */
	for (idx = 0;; ) {
		size_t n;

		if (!eagain_done && sent >= bytes / 2) {
			eagain_phase(fd, &idx, &sent);
			eagain_done = 1;
		}
		if (sent >= bytes)
			break;
		n = send_sizes[idx % N_SEND_SIZES];
		if (n > bytes - sent)
			n = (size_t)(bytes - sent);
		r = do_send(fd, idx, n);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			die(send_names[idx % N_SEND_CALLS]);
		}
		sent += (unsigned long long)r;
		idx++;
		poll_rtt(fd);
	}
	if (shutdown(fd, SHUT_WR) < 0)
		die("shutdown(client)");

	/* Phase 2: server -> client, until EOF. */
	for (idx = 0;; ) {
		r = do_recv(fd, idx, buf);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			die(recv_names[idx % N_RECV_CALLS]);
		}
		idx++;
		if (r == 0)
			break;
		received += (unsigned long long)r;
	}

	settled_info(fd, &cl_info, &cl_segs_in);
	err = pthread_join(th, NULL);
	if (err) {
		errno = err;
		die("pthread_join");
	}
	if (close(fd) < 0)
		die("close(client)");
	alarm(0);

	if (sc.c2s_received != sent) {
		fprintf(stderr,
			"ts-traffic: mismatch: client sent %llu, server received %llu\n",
			sent, sc.c2s_received);
		return 1;
	}
	if (received != sc.s2c_sent) {
		fprintf(stderr,
			"ts-traffic: mismatch: server sent %llu, client received %llu\n",
			sc.s2c_sent, received);
		return 1;
	}

	printf("c2s=%llu s2c=%llu client=%s server=%s peer_seen_by_server=%s "
	       "rtt_client_us=%u rtt_server_us=%u retrans_client=%u retrans_server=%u "
	       "segs_in_client=%u segs_in_server=%u rtt_client_median_us=%u\n",
	       sent, received, addr_str(&cl_local, a1, sizeof(a1)),
	       addr_str(&sc.local, a2, sizeof(a2)),
	       addr_str(&sc.peer, a3, sizeof(a3)), cl_info.tcpi_rtt, sc.info.tcpi_rtt,
	       cl_info.tcpi_total_retrans, sc.info.tcpi_total_retrans, cl_segs_in,
	       sc.segs_in, rtt_poll_median(cl_info.tcpi_rtt));
	if (fflush(stdout) == EOF)
		die("fflush(stdout)");
	return 0;
}
