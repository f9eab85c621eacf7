/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * ts-bench: the measuring half of bench/run (which drives it and writes the report).
 *
 *   ts-bench attach --impl plugin|floor|naive [--stats] --out FILE CONFIG [-- CMD ARGS...]
 *       Loads one implementation with CONFIG (the lines inside <Plugin tcpsubnet>), runs
 *       CMD while it is attached, and writes one JSON object to FILE: the load time, the
 *       kernel's memory figure of every map, and with --stats each program's run count
 *       and run time over CMD (BPF_ENABLE_STATS: the statistics are on only while this
 *       process holds the file descriptor, so nothing needs restoring afterwards, even
 *       when it is killed).
 *   ts-bench read --out FILE [--cycles K] CONFIG
 *       Loads the plugin and times K read cycles as the collectd glue runs them: all maps
 *       read and summed (ts_bpf_read), every value built with percentiles computed
 *       (ts_values_emit) and handed to a stand-in for plugin_dispatch_values that copies
 *       it into a value_list_t-sized record. Before each cycle, outside the timing, the
 *       counters and histograms of every slot are advanced from user space, so every
 *       subnet has RTT samples and its percentiles are computed each cycle (the worst
 *       case). Also reports the process RSS before loading and after the first cycle.
 *
 * The floor and naive implementations exist only for the bench: bench/floor.bpf.c and
 * bench/naive.bpf.c.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "cfgtext.h"
#include "tsbpf.h"
#include "tsconf.h"
#include "tsvalues.h"

#include "floor.skel.h"
#include "naive.h"
#include "naive.skel.h"

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void die(const char *what, const char *detail)
{
	fprintf(stderr, "ts-bench: %s%s%s\n", what, detail ? ": " : "", detail ? detail : "");
	exit(2);
}

static void print_line(void *ctx, const char *line)
{
	(void)ctx;
	fprintf(stderr, "tcpsubnet plugin: %s\n", line);
}

static void print_log(enum ts_log_level level, const char *line)
{
	if (level == TS_LOG_DEBUG)
		return;
	fprintf(stderr, "tcpsubnet plugin: %s\n", line);
}

static int libbpf_quiet(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (level == LIBBPF_DEBUG)
		return 0;
	return vfprintf(stderr, fmt, ap);
}

static void load_config(const char *path, struct ts_config *c)
{
	struct ts_citem *root;
	char err[1024], *text = cfgtext_read_file(path);

	if (text == NULL)
		die("cannot read", path);
	root = cfgtext_parse(text, err, sizeof(err));
	free(text);
	if (root == NULL)
		die(path, err);
	ts_config_init(c);
	if (ts_config_parse(c, root, print_line, NULL) != 0)
		die("bad configuration", path);
	cfgtext_free(root);
}

/* "VmRSS:" of this process in KiB. */
static long rss_kb(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long kb = -1;

	if (f == NULL)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %ld", &kb) == 1)
			break;
	fclose(f);
	return kb;
}

/* The kernel's own memory figure for a map ("memlock:" in its fdinfo, as bpftool shows). */
static long long map_memlock(int fd)
{
	char path[64], line[256];
	long long v = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	f = fopen(path, "r");
	if (f == NULL)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "memlock: %lld", &v) == 1)
			break;
	fclose(f);
	return v;
}

struct prog_stat {
	char name[32];
	__u32 id;
	__u64 cnt0, ns0, cnt1, ns1;
	int fd;
};

static void prog_snap(struct prog_stat *p, int after)
{
	struct bpf_prog_info info;
	__u32 len = sizeof(info);

	memset(&info, 0, sizeof(info));
	if (bpf_obj_get_info_by_fd(p->fd, &info, &len) != 0)
		return;
	p->id = info.id;
	if (after) {
		p->cnt1 = info.run_cnt;
		p->ns1 = info.run_time_ns;
	} else {
		p->cnt0 = info.run_cnt;
		p->ns0 = info.run_time_ns;
	}
}

static size_t collect_progs(struct bpf_object *obj, struct prog_stat *out, size_t max)
{
	struct bpf_program *prog;
	size_t n = 0;

	bpf_object__for_each_program(prog, obj) {
		int fd = bpf_program__fd(prog);

		if (fd < 0 || n == max)
			continue;
		memset(&out[n], 0, sizeof(out[n]));
		snprintf(out[n].name, sizeof(out[n].name), "%s", bpf_program__name(prog));
		out[n].fd = fd;
		n++;
	}
	return n;
}

static void json_maps(FILE *f, struct bpf_object *obj)
{
	struct bpf_map *map;
	long long total = 0;
	int first = 1;

	fprintf(f, "\"maps\":[");
	bpf_object__for_each_map(map, obj) {
		int fd = bpf_map__fd(map);
		long long m;

		/* .rodata/.bss of the object count too: they are maps as well. */
		if (fd < 0)
			continue;
		m = map_memlock(fd);
		if (m > 0)
			total += m;
		fprintf(f, "%s{\"name\":\"%s\",\"memlock\":%lld,\"max_entries\":%u}",
			first ? "" : ",", bpf_map__name(map), m, bpf_map__max_entries(map));
		first = 0;
	}
	fprintf(f, "],\"map_memlock\":%lld", total);
}

/* ---- the two reference implementations ---- */

static struct floor_bpf *floor_open(void)
{
	struct floor_bpf *s = floor_bpf__open_and_load();

	if (s == NULL || floor_bpf__attach(s) != 0)
		die("floor: load/attach failed", strerror(errno));
	return s;
}

static void mask_of(unsigned len, __u32 mask[4])
{
	unsigned char m[16];

	for (unsigned i = 0; i < 16; i++) {
		unsigned bits = len > i * 8 ? len - i * 8 : 0;

		m[i] = bits >= 8 ? 0xff : (unsigned char)(0xff << (8 - bits));
	}
	memcpy(mask, m, 16);
}

static struct naive_bpf *naive_open(const struct ts_config *c)
{
	struct naive_bpf *s = naive_bpf__open();
	__u32 n = (__u32)c->n_prefixes;
	int fd;

	if (s == NULL)
		die("naive: open failed", strerror(errno));
	s->rodata->n_subnets = n;
	bpf_map__set_max_entries(s->maps.naive_subnets, n ? n : 1);
	bpf_map__set_max_entries(s->maps.naive_counts, n + 1);
	if (naive_bpf__load(s) != 0)
		die("naive: load failed", strerror(errno));
	fd = bpf_map__fd(s->maps.naive_subnets);
	for (__u32 i = 0; i < n; i++) {
		const struct ts_prefix *p = &c->prefixes[i];
		struct naive_subnet v;

		memset(&v, 0, sizeof(v));
		memcpy(v.addr, p->addr, 16);
		mask_of(p->len, v.mask);
		v.plen = p->len;
		snprintf(v.name, sizeof(v.name), "%s", ts_config_instance(c, p->subnet_id));
		if (bpf_map_update_elem(fd, &i, &v, BPF_ANY) != 0)
			die("naive: filling the subnet array failed", strerror(errno));
	}
	if (naive_bpf__attach(s) != 0)
		die("naive: attach failed", strerror(errno));
	return s;
}

/* ---- attach: load, run a command, report ---- */

static int run_cmd(char **argv)
{
	int status = 0;
	pid_t pid;

	if (argv == NULL || argv[0] == NULL)
		return 0;
	pid = fork();
	if (pid == 0) {
		execvp(argv[0], argv);
		fprintf(stderr, "ts-bench: cannot run %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	if (pid < 0 || waitpid(pid, &status, 0) < 0)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

/*
 * Samples in all RTT histograms of the plugin (every slot, CPUs summed), or -1: with
 * run_cnt of the RTT program, how many of its events updated a histogram.
 */
static long long rtt_samples(struct ts_bpf *b, const struct ts_config *c)
{
	size_t n = ts_config_index_count(c);
	struct ts_counters *totals = calloc(n, sizeof(*totals));
	struct ts_hist *rtt = calloc(n, sizeof(*rtt));
	long long sum = -1;
	char err[256];

	if (totals && rtt && c->rtt && ts_bpf_read(b, totals, rtt, err, sizeof(err)) == 0) {
		sum = 0;
		for (size_t i = 0; i < n; i++)
			sum += (long long)ts_hist_count(&rtt[i]);
	}
	free(totals);
	free(rtt);
	return sum;
}

static int cmd_attach(const char *impl, int stats, const char *out, const char *conf_path,
		      char **cmd)
{
	struct ts_config c;
	struct ts_bpf *plugin = NULL;
	struct floor_bpf *fl = NULL;
	struct naive_bpf *nv = NULL;
	struct bpf_object *obj;
	struct prog_stat progs[32];
	size_t n;
	double t0, t_parse, t_open, t_run0, t_run1;
	long rss0, rss1;
	long long samples0, samples1;
	int stats_fd = -1, status;
	char err[1024];
	FILE *f;

	t0 = now_s();
	load_config(conf_path, &c);
	t_parse = now_s() - t0;
	rss0 = rss_kb();
	t0 = now_s();
	if (strcmp(impl, "plugin") == 0) {
		ts_bpf_set_log(print_log);
		if (ts_bpf_open(&c, &plugin, err, sizeof(err)) != 0)
			die("plugin", err);
		obj = ts_bpf_object(plugin);
	} else if (strcmp(impl, "floor") == 0) {
		libbpf_set_print(libbpf_quiet);
		fl = floor_open();
		obj = fl->obj;
	} else if (strcmp(impl, "naive") == 0) {
		libbpf_set_print(libbpf_quiet);
		nv = naive_open(&c);
		obj = nv->obj;
	} else {
		die("unknown --impl", impl);
		return 2;
	}
	t_open = now_s() - t0;
	rss1 = rss_kb();

	n = collect_progs(obj, progs, sizeof(progs) / sizeof(progs[0]));
	if (stats) {
		stats_fd = bpf_enable_stats(BPF_STATS_RUN_TIME);
		if (stats_fd < 0)
			die("BPF_ENABLE_STATS failed", strerror(errno));
	}
	samples0 = plugin ? rtt_samples(plugin, &c) : -1;
	for (size_t i = 0; i < n; i++)
		prog_snap(&progs[i], 0);
	t_run0 = now_s();
	status = run_cmd(cmd);
	t_run1 = now_s();
	for (size_t i = 0; i < n; i++)
		prog_snap(&progs[i], 1);
	samples1 = plugin ? rtt_samples(plugin, &c) : -1;
	if (stats_fd >= 0)
		close(stats_fd);

	f = fopen(out, "w");
	if (f == NULL)
		die("cannot write", out);
	fprintf(f, "{\"impl\":\"%s\",\"prefixes\":%zu,\"subnets\":%zu,\"parse_ms\":%.3f,"
		"\"init_ms\":%.3f,\"run_s\":%.3f,\"status\":%d,\"rss_kb_before\":%ld,"
		"\"rss_kb_after\":%ld,\"mode\":\"%s\",", impl, c.n_prefixes, c.n_subnets,
		t_parse * 1e3, t_open * 1e3, t_run1 - t_run0, status, rss0, rss1,
		plugin ? ts_attach_mode_name(ts_bpf_mode(plugin)) : "tracepoint");
	fprintf(f, "\"rtt_samples\":%lld,",
		samples0 >= 0 && samples1 >= 0 ? samples1 - samples0 : -1LL);
	fprintf(f, "\"progs\":[");
	for (size_t i = 0; i < n; i++)
		fprintf(f, "%s{\"name\":\"%s\",\"id\":%u,\"run_cnt\":%llu,\"run_time_ns\":%llu}",
			i ? "," : "", progs[i].name, progs[i].id,
			(unsigned long long)(progs[i].cnt1 - progs[i].cnt0),
			(unsigned long long)(progs[i].ns1 - progs[i].ns0));
	fprintf(f, "],");
	json_maps(f, obj);
	fprintf(f, "}\n");
	fclose(f);

	ts_bpf_close(plugin);
	floor_bpf__destroy(fl);
	naive_bpf__destroy(nv);
	ts_config_free(&c);
	return status == 0 ? 0 : 4;
}

/* ---- read: time read cycles ---- */

/* What tcpsubnet_dispatch() builds for each value: a value_list_t-sized record. */
struct fake_vl {
	double values[2];
	char plugin[128], plugin_instance[128], type[128], type_instance[128];
};

struct sink {
	struct fake_vl vl;
	unsigned long long values;
	double check;
};

static void copy_name(char *dst, const char *src)
{
	/* sstrncpy(): bounded copy, always terminated. */
	strncpy(dst, src, 127);
	dst[127] = '\0';
}

static void fake_dispatch(void *ctx, const struct ts_value *v)
{
	struct sink *s = ctx;

	for (int i = 0; i < v->n; i++)
		s->vl.values[i] = v->derive ? (double)v->d[i] : v->g;
	copy_name(s->vl.plugin, "tcpsubnet");
	copy_name(s->vl.plugin_instance, v->plugin_instance);
	copy_name(s->vl.type, v->type);
	copy_name(s->vl.type_instance, v->type_instance);
	s->values++;
	s->check += s->vl.values[0] + (double)(unsigned char)s->vl.plugin_instance[0];
}

/* Advances every slot's counters and histogram on every CPU (outside the timing). */
static void advance(int cfd, int rfd, __u32 n_ids, int ncpu, unsigned cycle, void *cbuf,
		    void *rbuf, __u32 *keys)
{
	LIBBPF_OPTS(bpf_map_batch_opts, bo);
	struct ts_counters *cv = cbuf;
	struct ts_rtt *rv = rbuf;
	__u32 count = n_ids, rcount = n_ids * (__u32)ncpu;

	for (__u32 id = 0; id < n_ids; id++) {
		for (int cpu = 0; cpu < ncpu; cpu++) {
			struct ts_counters *k = &cv[(size_t)id * ncpu + cpu];
			/* The rtt map is keyed by CPU, then slot (bpf/tcpsubnet.bpf.c). */
			struct ts_rtt *h = &rv[(size_t)cpu * n_ids + id];

			k->rx_bytes += 1000 + id;
			k->tx_bytes += 2000 + id;
			k->opened_active += 1;
			k->closed += 1;
			/* Buckets of 256 us .. 2 s (log2 slots 8..19), as the old log2 slots. */
			for (unsigned s = 48; s < 160; s++)
				h->line[s / TS_RTT_LINE_BUCKETS].bucket[s % TS_RTT_LINE_BUCKETS] +=
					cycle + s + (id & 7);
			h->line[0].sum_us += 300000;
		}
	}
	for (__u32 i = 0; i < rcount; i++)
		keys[i] = i;
	if (bpf_map_update_batch(cfd, keys, cbuf, &count, &bo) != 0 ||
	    bpf_map_update_batch(rfd, keys, rbuf, &rcount, &bo) != 0)
		die("advancing the counters failed", strerror(errno));
}

static int cmd_read(const char *out, unsigned cycles, const char *conf_path)
{
	struct ts_config c;
	struct ts_bpf *b;
	struct ts_counters *totals;
	struct ts_hist *rtt_now, *rtt_prev;
	struct sink sink;
	double *t_all, *t_maps, *t_emit, t0, t_open;
	long rss0, rss1;
	size_t n_ids;
	void *cbuf, *rbuf;
	__u32 *keys;
	int ncpu, cfd, rfd;
	char err[1024];
	FILE *f;

	load_config(conf_path, &c);
	if (!c.rtt)
		die("read: the configuration must have RTT on", conf_path);
	rss0 = rss_kb();
	ts_bpf_set_log(print_log);
	t0 = now_s();
	if (ts_bpf_open(&c, &b, err, sizeof(err)) != 0)
		die("plugin", err);
	/* What tcpsubnet_init() allocates. */
	n_ids = ts_config_index_count(&c);
	totals = calloc(n_ids, sizeof(*totals));
	rtt_now = calloc(n_ids, sizeof(*rtt_now));
	rtt_prev = calloc(n_ids, sizeof(*rtt_prev));
	t_open = now_s() - t0;

	ncpu = libbpf_num_possible_cpus();
	cfd = bpf_object__find_map_fd_by_name(ts_bpf_object(b), "counters");
	rfd = bpf_object__find_map_fd_by_name(ts_bpf_object(b), "rtt");
	cbuf = calloc(n_ids * (size_t)ncpu, sizeof(struct ts_counters));
	rbuf = calloc(n_ids * (size_t)ncpu, sizeof(struct ts_rtt));
	keys = calloc(n_ids * (size_t)ncpu, sizeof(*keys));
	t_all = calloc(cycles + 1, sizeof(double));
	t_maps = calloc(cycles + 1, sizeof(double));
	t_emit = calloc(cycles + 1, sizeof(double));
	if (!totals || !rtt_now || !rtt_prev || !cbuf || !rbuf || !keys || !t_all || !t_maps ||
	    !t_emit || cfd < 0 || rfd < 0 || ncpu <= 0)
		die("read: setup failed", NULL);

	memset(&sink, 0, sizeof(sink));
	/* Cycle 0 primes rtt_prev, as the first read after init does; not reported. */
	for (unsigned i = 0; i <= cycles; i++) {
		double a, m, e;

		advance(cfd, rfd, (__u32)n_ids, ncpu, i, cbuf, rbuf, keys);
		a = now_s();
		if (ts_bpf_read(b, totals, rtt_now, err, sizeof(err)) != 0)
			die("read", err);
		m = now_s();
		ts_values_emit_cg(&c, ts_bpf_cgview(b), totals, rtt_now, rtt_prev, 10.0, fake_dispatch,
				  &sink);
		e = now_s();
		t_all[i] = (e - a) * 1e3;
		t_maps[i] = (m - a) * 1e3;
		t_emit[i] = (e - m) * 1e3;
	}
	rss1 = rss_kb();

	f = fopen(out, "w");
	if (f == NULL)
		die("cannot write", out);
	fprintf(f, "{\"prefixes\":%zu,\"subnets\":%zu,\"slots\":%zu,\"cpus\":%d,"
		"\"init_ms\":%.3f,\"values_per_cycle\":%llu,\"rss_kb_before\":%ld,"
		"\"rss_kb_after\":%ld,", c.n_prefixes, c.n_subnets, n_ids, ncpu, t_open * 1e3,
		sink.values / (cycles + 1), rss0, rss1);
	for (int k = 0; k < 3; k++) {
		double *t = k == 0 ? t_all + 1 : k == 1 ? t_maps + 1 : t_emit + 1;

		fprintf(f, "\"%s\":[", k == 0 ? "read_ms" : k == 1 ? "maps_ms" : "emit_ms");
		for (unsigned i = 0; i < cycles; i++)
			fprintf(f, "%s%.4f", i ? "," : "", t[i]);
		fprintf(f, "],");
	}
	json_maps(f, ts_bpf_object(b));
	fprintf(f, ",\"check\":%.0f}\n", sink.check);
	fclose(f);

	free(t_all);
	free(t_maps);
	free(t_emit);
	free(keys);
	free(cbuf);
	free(rbuf);
	free(totals);
	free(rtt_now);
	free(rtt_prev);
	ts_bpf_close(b);
	ts_config_free(&c);
	return 0;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: ts-bench attach --impl plugin|floor|naive [--stats] --out FILE CONFIG "
		"[-- CMD ARGS...]\n"
		"       ts-bench read --out FILE [--cycles K] CONFIG\n");
	exit(2);
}

int main(int argc, char **argv)
{
	const char *impl = "plugin", *out = NULL, *conf = NULL;
	unsigned cycles = 10;
	char **cmd = NULL;
	int stats = 0, i;

	if (argc < 2)
		usage();
	for (i = 2; i < argc; i++) {
		if (strcmp(argv[i], "--impl") == 0 && i + 1 < argc)
			impl = argv[++i];
		else if (strcmp(argv[i], "--out") == 0 && i + 1 < argc)
			out = argv[++i];
		else if (strcmp(argv[i], "--cycles") == 0 && i + 1 < argc)
			cycles = (unsigned)atoi(argv[++i]);
		else if (strcmp(argv[i], "--stats") == 0)
			stats = 1;
		else if (strcmp(argv[i], "--") == 0) {
			cmd = &argv[i + 1];
			break;
		} else if (argv[i][0] != '-' && conf == NULL)
			conf = argv[i];
		else
			usage();
	}
	if (out == NULL || conf == NULL || cycles == 0)
		usage();
	if (strcmp(argv[1], "attach") == 0)
		return cmd_attach(impl, stats, out, conf, cmd);
	if (strcmp(argv[1], "read") == 0)
		return cmd_read(out, cycles, conf);
	usage();
	return 2;
}
