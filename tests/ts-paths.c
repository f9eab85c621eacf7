/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * ts-paths - moves a known number of TCP payload bytes through one kernel path, for the
 * byte tests of both accountings (tests/bpf-socket-paths.sh, the qemu guest).
 *
 * One connection between a client socket and a server socket of this process. The
 * client sends --bytes to the server, shuts down its sending side, the server drains
 * to EOF; then the server sends --reply-bytes back the same way. A "send" path uses
 * its method for both sends and read() to receive; a "receive" path uses write() to
 * send and its method for both receives:
 *
 *   write sendto send sendmsg writev sendfile splice-out uring-send   (send side)
 *   recv recvfrom recvmsg readv splice-in uring-recv                  (receive side)
 *
 * splice-out moves pipe -> socket, splice-in socket -> pipe. Counts come from the
 * return values of successful calls (io_uring: the completions' res) and the tool
 * checks that what one end sent is what the other received before printing
 *
 *   path=NAME c2s=N s2c=M
 *
 * Two paths are about a connection's life rather than a syscall:
 *   reset    the client fills the window of a server that stopped reading, and aborts
 *            with data still unsent (SO_LINGER 0, close: RST). Printed: c2s = the bytes
 *            the server's kernel received (what it read before the abort plus SIOCINQ,
 *            equal to what the client wrote minus its SIOCOUTQ once nothing is in
 *            flight: the tool waits for that), written= what the client's write()s
 *            returned, read= what the server's read()s returned in all, also after
 *            the RST.
 *   preopen  moves --bytes each way, waits until --go-file exists (a test starts the
 *            plugin meanwhile; "ready" on stdout says the first part is acknowledged),
 *            then moves them again and closes; c2s/s2c are the second part only,
 *            pre_c2s/pre_s2c the first.
 *
 *   ts-paths --list      the path names, one a line ("uring-send not-built" without
 *                        liburing at build time)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <linux/sockios.h>
#include <unistd.h>

#ifdef TS_HAVE_LIBURING
#include <liburing.h>
#endif

#include "tsnet.h"

#define CHUNK (128 * 1024)
#define TIMEOUT_SECONDS 60

enum method {
	M_WRITE, M_SEND, M_SENDTO, M_SENDMSG, M_WRITEV, M_SENDFILE, M_SPLICE_OUT, M_URING_SEND,
	M_READ, M_RECV, M_RECVFROM, M_RECVMSG, M_READV, M_SPLICE_IN, M_URING_RECV,
};

struct path {
	const char *name;
	enum method send, recv;
	int uring;
};

static const struct path paths[] = {
	{ "write", M_WRITE, M_READ, 0 },
	{ "send", M_SEND, M_READ, 0 },
	{ "sendto", M_SENDTO, M_READ, 0 },
	{ "sendmsg", M_SENDMSG, M_READ, 0 },
	{ "writev", M_WRITEV, M_READ, 0 },
	{ "sendfile", M_SENDFILE, M_READ, 0 },
	{ "splice-out", M_SPLICE_OUT, M_READ, 0 },
	{ "uring-send", M_URING_SEND, M_READ, 1 },
	{ "recv", M_WRITE, M_RECV, 0 },
	{ "recvfrom", M_WRITE, M_RECVFROM, 0 },
	{ "recvmsg", M_WRITE, M_RECVMSG, 0 },
	{ "readv", M_WRITE, M_READV, 0 },
	{ "splice-in", M_WRITE, M_SPLICE_IN, 0 },
	{ "uring-recv", M_WRITE, M_URING_RECV, 1 },
	{ "reset", M_WRITE, M_READ, 0 },
	{ "preopen", M_WRITE, M_READ, 0 },
};
#define N_PATHS (sizeof(paths) / sizeof(paths[0]))

/* Send sizes cycle through these: tiny, odd, around a segment, larger than a chunk. */
static const size_t sizes[] = { 1, 7, 1000, 1448, 65536, 100000, CHUNK };
#define N_SIZES (sizeof(sizes) / sizeof(sizes[0]))

static unsigned char pattern[CHUNK];
static int file_fd = -1; /* sendfile's source: CHUNK bytes of pattern */

struct end {
	int fd;
	const struct path *p;
	unsigned long long sent, received;
};

static void on_alarm(int sig)
{
	static const char msg[] = "ts-paths: timeout: the connection did not finish\n";
	ssize_t r;

	(void)sig;
	r = write(STDERR_FILENO, msg, sizeof(msg) - 1);
	(void)r;
	_exit(1);
}

#ifdef TS_HAVE_LIBURING
/* One submission, waited for: the byte count is the completion's res. */
static ssize_t uring_io(int fd, void *buf, size_t len, int is_send)
{
	static __thread struct io_uring ring;
	static __thread int ready;
	struct io_uring_sqe *sqe;
	struct io_uring_cqe *cqe;
	int r;

	if (!ready) {
		r = io_uring_queue_init(4, &ring, 0);
		if (r < 0) {
			errno = -r;
			ts_die("io_uring_queue_init");
		}
		ready = 1;
	}
	sqe = io_uring_get_sqe(&ring);
	if (!sqe)
		ts_die_msg("io_uring: no submission entry");
	if (is_send)
		io_uring_prep_send(sqe, fd, buf, len, MSG_NOSIGNAL);
	else
		io_uring_prep_recv(sqe, fd, buf, len, 0);
	r = io_uring_submit_and_wait(&ring, 1);
	if (r < 0) {
		errno = -r;
		ts_die("io_uring_submit_and_wait");
	}
	r = io_uring_wait_cqe(&ring, &cqe);
	if (r < 0) {
		errno = -r;
		ts_die("io_uring_wait_cqe");
	}
	r = cqe->res;
	io_uring_cqe_seen(&ring, cqe);
	if (r < 0) {
		errno = -r;
		return -1;
	}
	return r;
}
#endif

/* A message of two iovecs that split buf[0..len) in halves (sendmsg, recvmsg). */
static void halves(struct msghdr *msg, struct iovec *iov, unsigned char *buf, size_t len)
{
	iov[0].iov_base = buf;
	iov[0].iov_len = len / 2;
	iov[1].iov_base = buf + len / 2;
	iov[1].iov_len = len - len / 2;
	memset(msg, 0, sizeof(*msg));
	msg->msg_iov = iov;
	msg->msg_iovlen = 2;
}

/* One send call of at most len bytes with the path's method. */
static ssize_t send_once(int fd, enum method m, size_t len)
{
	static __thread int pipefd[2] = { -1, -1 };
	struct iovec iov[3];
	struct msghdr msg;
	off_t off = 0;
	ssize_t r;

	switch (m) {
	case M_WRITE:
		return write(fd, pattern, len);
	case M_SEND:
		return send(fd, pattern, len, MSG_NOSIGNAL);
	case M_SENDTO:
		return sendto(fd, pattern, len, MSG_NOSIGNAL, NULL, 0);
	case M_SENDMSG:
		halves(&msg, iov, pattern, len);
		return sendmsg(fd, &msg, MSG_NOSIGNAL);
	case M_WRITEV:
		iov[0].iov_base = pattern;
		iov[0].iov_len = len / 3;
		iov[1].iov_base = pattern + len / 3;
		iov[1].iov_len = len / 3;
		iov[2].iov_base = pattern + 2 * (len / 3);
		iov[2].iov_len = len - 2 * (len / 3);
		return writev(fd, iov, 3);
	case M_SENDFILE:
		return sendfile(fd, file_fd, &off, len);
	case M_SPLICE_OUT:
		/*
		 * Fill the pipe with len bytes, splice them into the socket; what the
		 * socket did not take stays in the pipe and is spliced before returning,
		 * so every byte written to the pipe is counted once.
		 */
		if (pipefd[0] < 0 && pipe(pipefd) < 0)
			ts_die("pipe");
		if (len > 65536)
			len = 65536; /* the default pipe capacity */
		r = write(pipefd[1], pattern, len);
		if (r < 0)
			ts_die("write(pipe)");
		{
			size_t left = (size_t)r;

			while (left > 0) {
				ssize_t s = splice(pipefd[0], NULL, fd, NULL, left, SPLICE_F_MOVE);

				if (s < 0 && errno == EINTR)
					continue;
				if (s <= 0)
					ts_die("splice(pipe -> socket)");
				left -= (size_t)s;
			}
		}
		return r;
	case M_URING_SEND:
#ifdef TS_HAVE_LIBURING
		return uring_io(fd, pattern, len, 1);
#endif
	default:
		ts_die_msg("not a send method");
	}
}

/* One receive call with the path's method: bytes received, 0 at EOF. */
static ssize_t recv_once(int fd, enum method m, unsigned char *buf, size_t len)
{
	static __thread int pipefd[2] = { -1, -1 };
	struct iovec iov[3];
	struct msghdr msg;
	ssize_t r;

	switch (m) {
	case M_READ:
		return read(fd, buf, len);
	case M_RECV:
		return recv(fd, buf, len, 0);
	case M_RECVFROM:
		return recvfrom(fd, buf, len, 0, NULL, NULL);
	case M_RECVMSG:
		halves(&msg, iov, buf, len);
		return recvmsg(fd, &msg, 0);
	case M_READV:
		iov[0].iov_base = buf;
		iov[0].iov_len = 13;
		iov[1].iov_base = buf + 13;
		iov[1].iov_len = 1000;
		iov[2].iov_base = buf + 1013;
		iov[2].iov_len = len - 1013;
		return readv(fd, iov, 3);
	case M_SPLICE_IN:
		/* Socket -> pipe, then empty the pipe: the count is splice's return value. */
		if (pipefd[0] < 0 && pipe(pipefd) < 0)
			ts_die("pipe");
		r = splice(fd, NULL, pipefd[1], NULL, len > 65536 ? 65536 : len, SPLICE_F_MOVE);
		if (r > 0) {
			ssize_t left = r;

			while (left > 0) {
				ssize_t d = read(pipefd[0], buf, (size_t)left);

				if (d <= 0)
					ts_die("read(pipe)");
				left -= d;
			}
		}
		return r;
	case M_URING_RECV:
#ifdef TS_HAVE_LIBURING
		return uring_io(fd, buf, len, 0);
#endif
	default:
		ts_die_msg("not a receive method");
	}
}

static unsigned long long send_all(int fd, enum method m, unsigned long long n)
{
	unsigned long long done = 0;
	unsigned i = 0;

	while (done < n) {
		size_t len = sizes[i++ % N_SIZES];
		ssize_t r;

		if (len > n - done)
			len = (size_t)(n - done);
		r = send_once(fd, m, len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			ts_die("send");
		done += (unsigned long long)r;
	}
	return done;
}

static unsigned long long recv_all(int fd, enum method m)
{
	static __thread unsigned char buf[CHUNK];
	unsigned long long got = 0;

	for (;;) {
		ssize_t r = recv_once(fd, m, buf, sizeof(buf));

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			ts_die("receive");
		if (r == 0)
			return got;
		got += (unsigned long long)r;
	}
}

static unsigned long long n_bytes = 1000003, n_reply = 300007;

/* The server: drains the client's bytes to EOF, then answers and shuts down. */
static void *server_main(void *arg)
{
	struct end *e = arg;

	e->received = recv_all(e->fd, e->p->recv);
	e->sent = send_all(e->fd, e->p->send, n_reply);
	if (shutdown(e->fd, SHUT_WR) < 0)
		ts_die("shutdown(server)");
	return NULL;
}

/* Both directions with the path's methods; the caller joins and checks. */
static void exchange(struct end *client, struct end *server)
{
	pthread_t th;
	int err = pthread_create(&th, NULL, server_main, server);

	if (err) {
		errno = err;
		ts_die("pthread_create");
	}
	client->sent = send_all(client->fd, client->p->send, n_bytes);
	if (shutdown(client->fd, SHUT_WR) < 0)
		ts_die("shutdown(client)");
	client->received = recv_all(client->fd, client->p->recv);
	pthread_join(th, NULL);
	if (client->sent != server->received || server->sent != client->received) {
		fprintf(stderr, "ts-paths: %s: byte counts disagree: client sent %llu, server got "
			"%llu; server sent %llu, client got %llu\n", client->p->name, client->sent,
			server->received, server->sent, client->received);
		exit(1);
	}
}

/* TCP_INFO's tcpi_unacked reaches 0: nothing this socket sent is in flight. */
static void settle(int fd)
{
	for (int i = 0; i < 10000; i++) {
		struct tcp_info ti;
		socklen_t len = sizeof(ti);

		if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) < 0)
			ts_die("getsockopt(TCP_INFO)");
		if (ti.tcpi_unacked == 0)
			return;
		usleep(1000);
	}
	ts_die_msg("data still unacknowledged after 10 s");
}

static int ioctl_int(int fd, unsigned long req)
{
	int v;

	if (ioctl(fd, req, &v) < 0)
		ts_die("ioctl(SIOCINQ/SIOCOUTQ)");
	return v;
}

/*
 * The reset path. The server answers first (s2c, plain write/read), then reads only
 * part of the client's bytes: the client writes until its send buffer is full behind
 * the server's closed window, waits until nothing is in flight, and aborts.
 */
static void reset_path(struct end *client, struct end *server)
{
	static unsigned char buf[CHUNK];
	unsigned long long wanted = n_bytes, written = 0, got = 0, delivered, acked;
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };
	int idle = 0, small = 16384;

	/* s2c: the server's reply, read in full by the client. */
	server->sent = send_all(server->fd, M_WRITE, n_reply);
	while (client->received < server->sent) {
		ssize_t r = read(client->fd, buf, sizeof(buf));

		if (r <= 0)
			ts_die("read(client)");
		client->received += (unsigned long long)r;
	}
	/* c2s: small buffers, so the window closes after little data. */
	setsockopt(server->fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
	setsockopt(client->fd, SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
	if (fcntl(client->fd, F_SETFL, O_NONBLOCK) < 0 || fcntl(server->fd, F_SETFL, O_NONBLOCK) < 0)
		ts_die("fcntl");
	/*
	 * The server reads --bytes, the client writes until nothing more fits (nothing moved
	 * for 200 ms once the server has them; a slow guest may stall longer before that).
	 */
	while (got < wanted || idle < 40) {
		ssize_t w = write(client->fd, pattern, sizeof(pattern));
		ssize_t r = got < wanted ? read(server->fd, buf,
			wanted - got < sizeof(buf) ? (size_t)(wanted - got) : sizeof(buf)) : -1;

		if (w > 0)
			written += (unsigned long long)w;
		else if (w < 0 && errno != EAGAIN)
			ts_die("write(client)");
		if (r > 0)
			got += (unsigned long long)r;
		else if (r == 0)
			ts_die_msg("reset: EOF before the abort");
		else if (got < wanted && errno != EAGAIN)
			ts_die("read(server)");
		if (w > 0 || r > 0) {
			idle = 0;
		} else {
			idle++;
			usleep(5000);
		}
	}
	/* Nothing in flight: what the server's kernel holds is what the client's acked. */
	for (int i = 0;; i++) {
		settle(client->fd);
		delivered = got + (unsigned long long)ioctl_int(server->fd, SIOCINQ);
		acked = written - (unsigned long long)ioctl_int(client->fd, SIOCOUTQ);
		if ((delivered == acked && acked < written) || i == 200)
			break;
		usleep(10000);
	}
	if (delivered != acked || acked == written) {
		fprintf(stderr, "ts-paths: reset: server kernel holds %llu, client's acked %llu of "
			"%llu written (want equal, and unsent data left)\n", delivered, acked, written);
		exit(1);
	}
	if (setsockopt(client->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)) < 0)
		ts_die("setsockopt(SO_LINGER)");
	close(client->fd);
	client->fd = -1;
	/* What the server's application still gets after the RST, until the error. */
	for (;;) {
		struct pollfd p = { .fd = server->fd, .events = POLLIN };
		ssize_t r;

		if (poll(&p, 1, 5000) <= 0)
			ts_die_msg("reset: the server saw neither data nor the RST");
		r = read(server->fd, buf, sizeof(buf));
		if (r > 0)
			got += (unsigned long long)r;
		else if (r == 0 || errno == ECONNRESET)
			break;
		else if (errno != EAGAIN)
			ts_die("read(server after RST)");
	}
	printf("path=reset c2s=%llu s2c=%llu written=%llu read=%llu\n", delivered, server->sent,
	       written, got);
}

static void wait_file(const char *file)
{
	struct stat st;

	while (stat(file, &st) < 0) {
		if (errno != ENOENT)
			ts_die(file);
		usleep(10000);
	}
}

static void usage(FILE *f)
{
	fprintf(f, "usage: ts-paths --path NAME --listen ADDR|dual --connect ADDR --bind ADDR\n"
		   "                [--bytes N] [--reply-bytes M] [--go-file FILE]\n"
		   "       ts-paths --list\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "path", required_argument, NULL, 'p' },
		{ "listen", required_argument, NULL, 'l' },
		{ "connect", required_argument, NULL, 'c' },
		{ "bind", required_argument, NULL, 'b' },
		{ "bytes", required_argument, NULL, 'n' },
		{ "reply-bytes", required_argument, NULL, 'r' },
		{ "go-file", required_argument, NULL, 'g' },
		{ "list", no_argument, NULL, 'L' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *listen_s = NULL, *connect_s = NULL, *bind_s = NULL, *go_file = NULL;
	const struct path *p = NULL;
	struct end client = { 0 }, server = { 0 };
	struct sigaction sa;
	int opt;
	char *end;

	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (opt) {
		case 'p':
			for (size_t i = 0; i < N_PATHS; i++)
				if (!strcmp(optarg, paths[i].name))
					p = &paths[i];
			if (!p)
				ts_die_msg("unknown --path (see --list)");
			break;
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
		case 'r':
			errno = 0;
			(opt == 'n' ? &n_bytes : &n_reply)[0] = strtoull(optarg, &end, 10);
			if (errno || *end || end == optarg)
				ts_die_msg("--bytes/--reply-bytes: a number");
			break;
		case 'g':
			go_file = optarg;
			break;
		case 'L':
			for (size_t i = 0; i < N_PATHS; i++) {
#ifdef TS_HAVE_LIBURING
				printf("%s\n", paths[i].name);
#else
				printf("%s%s\n", paths[i].name, paths[i].uring ? " not-built" : "");
#endif
			}
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 1;
		}
	}
	if (optind != argc || !p || !listen_s || !connect_s || !bind_s ||
	    (!strcmp(p->name, "preopen") && !go_file)) {
		usage(stderr);
		return 1;
	}
#ifndef TS_HAVE_LIBURING
	if (p->uring)
		ts_die_msg("built without liburing: install liburing-dev and configure again");
#endif

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_alarm;
	sigaction(SIGALRM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	alarm(TIMEOUT_SECONDS);

	memset(pattern, 'p', sizeof(pattern));
	if (p->send == M_SENDFILE) {
		file_fd = memfd_create("ts-paths", 0);
		if (file_fd < 0 || write(file_fd, pattern, sizeof(pattern)) != (ssize_t)sizeof(pattern))
			ts_die("memfd");
	}

	ts_tcp_pair(listen_s, connect_s, bind_s, &client.fd, &server.fd);
	client.p = server.p = p;

	if (!strcmp(p->name, "reset")) {
		reset_path(&client, &server);
		close(server.fd);
		return 0;
	}
	if (!strcmp(p->name, "preopen")) {
		/* Half-closing would end the connection: the first part moves fixed counts. */
		static unsigned char buf[CHUNK];
		unsigned long long pre_c2s = 0, pre_s2c = 0;

		pre_c2s = send_all(client.fd, M_WRITE, n_bytes < CHUNK ? n_bytes : CHUNK);
		for (unsigned long long got = 0; got < pre_c2s;) {
			ssize_t r = read(server.fd, buf, sizeof(buf));

			if (r <= 0)
				ts_die("read(preopen)");
			got += (unsigned long long)r;
		}
		pre_s2c = send_all(server.fd, M_WRITE, n_reply < CHUNK ? n_reply : CHUNK);
		for (unsigned long long got = 0; got < pre_s2c;) {
			ssize_t r = read(client.fd, buf, sizeof(buf));

			if (r <= 0)
				ts_die("read(preopen)");
			got += (unsigned long long)r;
		}
		settle(client.fd);
		settle(server.fd);
		printf("ready\n");
		fflush(stdout);
		alarm(0);
		wait_file(go_file);
		alarm(TIMEOUT_SECONDS);
		exchange(&client, &server);
		printf("path=preopen c2s=%llu s2c=%llu pre_c2s=%llu pre_s2c=%llu\n", client.sent,
		       server.sent, pre_c2s, pre_s2c);
	} else {
		exchange(&client, &server);
		printf("path=%s c2s=%llu s2c=%llu\n", p->name, client.sent, server.sent);
	}
	close(client.fd);
	close(server.fd);
	return 0;
}
