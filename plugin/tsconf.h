/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Configuration of the tcpsubnet plugin: parsing, CIDR normalisation, LPM keys and
 * value names. Pure C (libc only), so the Check tests link it directly; the collectd
 * glue converts collectd's oconfig tree into struct ts_citem and calls ts_config_parse.
 */
#ifndef TSCONF_H
#define TSCONF_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Longest subnet name; keeps Graphite paths and CSV file names readable. */
#define TS_NAME_MAX 63
/* Reserved plugin_instance of traffic that matches no prefix. */
#define TS_UNMATCHED_NAME "other"
#define TS_DEFAULT_MAX_PREFIXES 65536
#define TS_LIMIT_MAX_PREFIXES (1 << 20)
#define TS_DEFAULT_BTF_PATH "/sys/kernel/btf/vmlinux"
/*
 * Bound on counter slots, (local subnets + 1) x (remote subnets + 1), and on their
 * memory (slots x CPUs x slot size, kernel side; collectd holds as much again).
 */
#define TS_LIMIT_INDEXES (1 << 18)
#define TS_LIMIT_SLOT_MIB 1024
#define TS_MAX_PERCENTILES 16
#define TS_PORT_WORDS_U (65536 / 64)
/*
 * Default bound on values per read cycle (MaxValues). Each value costs collectd about
 * 1.6 KiB of RSS in its value cache (docs/PERFORMANCE.md), so the default stops at
 * about 1.5 GiB; it admits 27,000 subnets with the default options, and 65,536
 * one-prefix subnets (MaxPrefixes' default) with RTTBuckets false.
 */
#define TS_DEFAULT_MAX_VALUES 1000000
/* Above any count a configuration can reach (262,144 slots x 50 values). */
#define TS_LIMIT_MAX_VALUES (1 << 24)
/* The plugin's own values each cycle, in the empty instance (ts_values_emit_health). */
#define TS_HEALTH_VALUES 4
/* collectd's DATA_MAX_NAME_LEN minus the terminating NUL. */
#define TS_INSTANCE_MAX 127

enum ts_attach_mode {
	TS_ATTACH_AUTO,
	TS_ATTACH_FENTRY,
	TS_ATTACH_TRACEPOINT,
	TS_ATTACH_KPROBE,
};

/* Accounting: where bytes come from (docs/DESIGN.md, "Socket accounting"). */
enum ts_accounting {
	TS_ACCT_SYSCALL,	/* per send/receive call and received segment */
	TS_ACCT_SOCKET,		/* the kernel's per-socket totals, per connection event */
};

/* A configuration tree node, shaped like collectd's oconfig_item_t. */
enum ts_cval_type { TS_CV_STRING, TS_CV_NUMBER, TS_CV_BOOLEAN };

struct ts_cval {
	enum ts_cval_type type;
	const char *string;
	double number;
	bool boolean;
};

struct ts_citem {
	const char *key;
	const struct ts_cval *values;
	int values_num;
	const struct ts_citem *children;
	int children_num;
};

/* One normalised prefix: IPv4 as IPv4-mapped IPv6, len in that 128-bit space. */
struct ts_prefix {
	uint8_t addr[16];
	unsigned len;
	uint32_t subnet_id; /* 1..n_subnets */
};

struct ts_subnet {
	char name[TS_NAME_MAX + 1];
};

/*
 * Cgroups (Cgroup, CgroupEach): cgroup slot 0 is "other", slot i in 1..n_cgroups is
 * the block cgroups[i - 1], the max_cgroups slots after them hold the cgroups that
 * CgroupEach patterns find, one each, assigned at run time (plugin/tscgroup.c).
 */
#define TS_CGROUP_SEP '~' /* "<cgroup>~<subnet instance>": in no name, kept by writers */
#define TS_DEFAULT_MAX_CGROUPS 64
#define TS_LIMIT_MAX_CGROUPS 4096
#define TS_CGROUP_PATH_MAX 1024

struct ts_cgpath {
	char *path;	 /* relative to the cgroup2 root, "/a/b", '*' globs in one component */
	uint32_t cgroup; /* 1..n_cgroups, or 0: a CgroupEach pattern */
	unsigned depth;	 /* components; the deepest matching path wins */
};

struct ts_config {
	/* Remote subnets (Subnet): subnet id i is subnets[i - 1], 0 is "other". */
	struct ts_subnet *subnets;
	size_t n_subnets;
	struct ts_prefix *prefixes;
	size_t n_prefixes;
	/* Local subnets (LocalSubnet), same scheme; none configured: no pairs. */
	struct ts_subnet *lsubnets;
	size_t n_lsubnets;
	struct ts_prefix *lprefixes;
	size_t n_lprefixes;

	bool report_unmatched;
	enum ts_attach_mode attach_mode;
	enum ts_accounting accounting;
	size_t max_prefixes;
	char *btf_path; /* NULL: TS_DEFAULT_BTF_PATH */
	bool builtin_defaults; /* no Subnet was configured: the built-in set is in use */

	bool rtt;
	double percentiles[TS_MAX_PERCENTILES];
	size_t n_percentiles;
	bool connections;
	bool retransmits;

	/* Cgroup blocks and CgroupEach patterns, in configuration order. */
	struct ts_subnet *cgroups;
	size_t n_cgroups;
	struct ts_cgpath *cgpaths;
	size_t n_cgpaths;
	bool cgroup_each;	    /* some CgroupEach: max_cgroups slots are reserved */
	size_t max_cgroups;	    /* MaxCgroups */
	bool report_other_cgroup;   /* ReportUnmatchedCgroup */
	/* Cardinality: bucket values on/off, log2 slots per bucket, values per cycle. */
	bool rtt_buckets;
	unsigned rtt_bucket_width;
	size_t max_values;

	/* LocalPort / RemotePort filters: bit p set = port p passes. */
	bool lport_filter, rport_filter;
	uint64_t lport_bits[TS_PORT_WORDS_U];
	uint64_t rport_bits[TS_PORT_WORDS_U];
};

/* Receives one complete, self-explanatory error line (without the plugin prefix). */
typedef void (*ts_msg_fn)(void *ctx, const char *line);

void ts_config_init(struct ts_config *c);
void ts_config_free(struct ts_config *c);

/*
 * Parses the children of <Plugin tcpsubnet> (block may be NULL: no block at all).
 * Reports every error through err and returns how many there were; on 0 the config is
 * complete (built-in subnets added when none were configured).
 */
int ts_config_parse(struct ts_config *c, const struct ts_citem *block, ts_msg_fn err,
		    void *ctx);

/* Adds the built-in subnets (loopback, private, link-local). Returns 0 or -1 (ENOMEM). */
int ts_config_add_builtin(struct ts_config *c);

/*
 * Parses "a.b.c.d/n" or an IPv6 prefix into mapped form. Returns 0, or -1 with a
 * one-line explanation and fix in why (which does not repeat the text).
 */
int ts_cidr_parse(const char *text, struct ts_prefix *out, char *why, size_t why_len);

/* Writes the canonical text of a normalised prefix ("10.0.0.0/8", "2001:db8::/32"). */
void ts_cidr_format(const struct ts_prefix *p, char *buf, size_t len);

/* Fills the 20-byte LPM trie key (struct ts_lpm_key layout) of a prefix. */
void ts_lpm_key_build(const struct ts_prefix *p, void *key20);

/*
 * Reference longest-prefix match in user space (linear; for tests and tools): the
 * subnet id of a 16-byte address (IPv4 given mapped), 0 when nothing matches.
 */
uint32_t ts_config_classify(const struct ts_config *c, const uint8_t addr[16]);

/* Maps an IPv4 address (network order bytes) to its IPv4-mapped IPv6 form. */
void ts_addr_map4(const uint8_t v4[4], uint8_t out[16]);

/* Checks a subnet name; returns 0 or -1 with the reason and fix in why. */
int ts_name_check(const char *name, char *why, size_t why_len);

/* The name of a (remote) subnet id (TS_UNMATCHED_NAME for 0). */
const char *ts_config_instance(const struct ts_config *c, uint32_t id);
const char *ts_config_local_instance(const struct ts_config *c, uint32_t id);

/*
 * Counter slots: index = local_id * (n_subnets + 1) + remote_id. ts_config_index_name
 * writes the plugin_instance of an index ("name", or "local-to-remote" with LocalSubnet
 * blocks) and returns false when the index is not reported (unmatched remote with
 * ReportUnmatched false).
 */
size_t ts_config_index_count(const struct ts_config *c);
bool ts_config_index_name(const struct ts_config *c, size_t index, char *buf, size_t len);

/*
 * With Cgroup options: index = cgroup slot x ts_config_subnet_index_count() + the
 * subnet index above, over ts_config_cgroup_slots() cgroup slots (1 without them), so
 * ts_config_index_count() = cgroup slots x subnet slots. ts_config_index_name takes a
 * subnet index (below ts_config_subnet_index_count()).
 */
bool ts_config_has_cgroups(const struct ts_config *c);
size_t ts_config_cgroup_slots(const struct ts_config *c);
size_t ts_config_subnet_index_count(const struct ts_config *c);

/*
 * Checks a cgroup Path; returns its number of components (0 for "/"), or -1 with the
 * reason and fix in why.
 */
int ts_cgroup_path_check(const char *path, char *why, size_t why_len);

/*
 * Values dispatched per reported instance and per read cycle (an if_octets value list
 * counts once; the cycle adds the TS_HEALTH_VALUES), at most: RTT averages and
 * percentiles are counted although an interval without samples leaves them out.
 * ts_config_parse refuses a configuration whose count exceeds MaxValues.
 */
size_t ts_config_values_per_instance(const struct ts_config *c);
size_t ts_config_instance_count(const struct ts_config *c);
size_t ts_config_values_per_cycle(const struct ts_config *c);
/* Bucket values per instance: 0 with RTT or RTTBuckets off. */
unsigned ts_config_bucket_values(const struct ts_config *c);

/* Whether a port passes the LocalPort / RemotePort filters. */
bool ts_config_port_passes(const struct ts_config *c, bool local, unsigned port);

/* Formats one message line (control bytes escaped) and hands it to fn (if any). */
void ts_vreport(ts_msg_fn fn, void *ctx, const char *fmt, va_list ap)
	__attribute__((format(printf, 3, 0)));

/* Rewrites control bytes of a log line as \n, \t, \xNN so it stays one line. */
void ts_escape_controls(char *line, size_t len);

const char *ts_attach_mode_name(enum ts_attach_mode m);
int ts_attach_mode_parse(const char *s, enum ts_attach_mode *out);
const char *ts_accounting_name(enum ts_accounting a);
int ts_accounting_parse(const char *s, enum ts_accounting *out);

#endif /* TSCONF_H */
