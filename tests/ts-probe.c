/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * ts-probe: the plugin's kernel side without collectd, for tests. Loads the BPF object
 * with a configuration written in collectd syntax (the lines inside <Plugin tcpsubnet>),
 * runs a command, then prints every value the plugin would dispatch after it, one per
 * line: "instance type[-type_instance] value [value]" (if_octets: "instance if_octets rx
 * tx"). RTT figures cover the whole run as one interval.
 *
 *   ts-probe CONFIG-FILE [--read-every MS] [-- COMMAND ARGS...]
 *
 * --read-every runs a read cycle every MS milliseconds while the command runs, as
 * collectd's read interval would: the counters (ts_bpf_read), the health values with
 * kprobe mode's stash sweep and the one warning ("[warning] tcpsubnet plugin: ..."); their
 * figures are dropped, the final read is printed, and the number of cycles goes to
 * stderr ("[info] ts-probe: N read cycles").
 *
 * Environment (tests only): TS_PROBE_MAXACTIVE=N, TS_PROBE_STASH=N: kprobe mode with N
 * return-probe instances per kretprobe and a stash of N threads instead of the real
 * limits (ts_bpf_test_limits), to provoke missed returns and a full stash with a few
 * threads (tests/qemu-guest.sh, stash). TS_PROBE_HELPER_CAST=1: the build whose RTT
 * programs use the bpf_skc_to_tcp_sock() helper even where the kfunc cast is possible
 * (ts_bpf_test_helper_cast).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <time.h>

#include "cfgtext.h"
#include "tsbpf.h"
#include "tsconf.h"
#include "tsvalues.h"

static void print_value(void *ctx, const struct ts_value *v)
{
	(void)ctx;
	/* "-" for the empty plugin_instance of the health values: one field per column. */
	printf("%s %s%s%s", v->plugin_instance[0] ? v->plugin_instance : "-", v->type, v->type_instance[0] ? "-" : "",
	       v->type_instance);
	for (int i = 0; i < v->n; i++) {
		if (v->derive)
			printf(" %llu", (unsigned long long)v->d[i]);
		else
			printf(" %.9g", v->g);
	}
	printf("\n");
}

static unsigned env_uint(const char *name)
{
	const char *v = getenv(name);

	return v ? (unsigned)strtoul(v, NULL, 10) : 0;
}

/* The health values with kprobe mode's stash sweep, and the one warning, as the plugin. */
static void health_check(struct ts_bpf *bpf, struct ts_health *health, int *warned)
{
	char warning[400];

	ts_bpf_health(bpf, health);
	if (ts_values_health_warning(health, ts_bpf_choice(bpf), warned, warning,
				     sizeof(warning)))
		fprintf(stderr, "[warning] tcpsubnet plugin: %s\n", warning);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void print_line(void *ctx, const char *line)
{
	(void)ctx;
	fprintf(stderr, "tcpsubnet plugin: %s\n", line);
}

static void print_log(enum ts_log_level level, const char *line)
{
	static const char *const names[] = { "error", "warning", "info", "debug" };

	if (level == TS_LOG_DEBUG && getenv("TS_DEBUG") == NULL)
		return;
	fprintf(stderr, "[%s] tcpsubnet plugin: %s\n", names[level], line);
}

int main(int argc, char **argv)
{
	struct ts_config conf;
	struct ts_counters *totals;
	struct ts_hist *rtt_now, *rtt_prev;
	double t0;
	size_t n;
	struct ts_citem *root;
	struct ts_bpf *bpf;
	struct ts_health health;
	char err[1024], *text;
	int status = 0, every_ms = 0, cmd = 3, warned = 0;
	unsigned long cycles = 0;

	if (argc > 3 && strcmp(argv[2], "--read-every") == 0) {
		every_ms = atoi(argv[3]);
		cmd += 2;
	}
	if (argc < 2 || (argc > cmd - 1 && strcmp(argv[cmd - 1], "--") != 0) || every_ms < 0) {
		fprintf(stderr, "usage: ts-probe CONFIG-FILE [--read-every MS] [-- COMMAND ARGS...]\n");
		return 2;
	}
	text = cfgtext_read_file(argv[1]);
	if (text == NULL) {
		fprintf(stderr, "ts-probe: cannot read %s: %s\n", argv[1], strerror(errno));
		return 2;
	}
	root = cfgtext_parse(text, err, sizeof(err));
	free(text);
	if (root == NULL) {
		fprintf(stderr, "ts-probe: %s: %s\n", argv[1], err);
		return 2;
	}
	ts_config_init(&conf);
	if (ts_config_parse(&conf, root, print_line, NULL) != 0)
		return 2;
	cfgtext_free(root);

	ts_bpf_set_log(print_log);
	ts_bpf_test_limits(env_uint("TS_PROBE_MAXACTIVE"), env_uint("TS_PROBE_STASH"));
	ts_bpf_test_helper_cast(env_uint("TS_PROBE_HELPER_CAST") != 0);
	if (ts_bpf_open(&conf, &bpf, err, sizeof(err)) != 0) {
		fprintf(stderr, "tcpsubnet plugin: %s\n", err);
		return 3;
	}
	fprintf(stderr, "[info] tcpsubnet plugin: attach mode %s\n", ts_bpf_choice(bpf));
	t0 = now_s();

	n = ts_config_index_count(&conf);
	totals = calloc(n, sizeof(*totals));
	rtt_now = calloc(n, sizeof(*rtt_now));
	rtt_prev = calloc(n, sizeof(*rtt_prev));
	if (!totals || !rtt_now || !rtt_prev) {
		fprintf(stderr, "ts-probe: no memory\n");
		return 4;
	}
	if (argc > cmd) {
		pid_t pid = fork(), w;

		if (pid == 0) {
			execvp(argv[cmd], &argv[cmd]);
			fprintf(stderr, "ts-probe: cannot run %s: %s\n", argv[cmd], strerror(errno));
			_exit(127);
		}
		while (pid > 0 && (w = waitpid(pid, &status, every_ms ? WNOHANG : 0)) == 0) {
			usleep((useconds_t)every_ms * 1000);
			if (ts_bpf_read(bpf, totals, rtt_now, err, sizeof(err)) != 0) {
				fprintf(stderr, "ts-probe: read cycle: %s\n", err);
				return 4;
			}
			health_check(bpf, &health, &warned);
			cycles++;
		}
		if (pid < 0 || w < 0) {
			fprintf(stderr, "ts-probe: cannot run %s: %s\n", argv[cmd], strerror(errno));
			return 4;
		}
	}
	if (every_ms)
		fprintf(stderr, "[info] ts-probe: %lu read cycles\n", cycles);
	if (ts_bpf_read(bpf, totals, rtt_now, err, sizeof(err)) != 0) {
		fprintf(stderr, "ts-probe: %s\n", err);
		return 4;
	}
	ts_values_emit_cg(&conf, ts_bpf_cgview(bpf), totals, rtt_now, rtt_prev, now_s() - t0,
			  print_value, NULL);
	health_check(bpf, &health, &warned);
	ts_values_emit_health(&health, print_value, NULL);
	free(rtt_now);
	free(rtt_prev);
	free(totals);
	ts_bpf_close(bpf);
	ts_config_free(&conf);
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	fprintf(stderr, "ts-probe: command failed (status %d)\n", status);
	return 4;
}
