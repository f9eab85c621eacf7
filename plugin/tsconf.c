/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Configuration parsing and CIDR handling for the tcpsubnet plugin (pure C, libc only).
 */
#include "tsconf.h"
#include "tshist.h"

#include <linux/types.h>
#include <unistd.h>

#include "../bpf/tcpsubnet.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const uint8_t v4mapped_prefix[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

/* One of the two subnet lists (Subnet = remote, LocalSubnet = local) being built. */
struct side {
	const char *opt;
	struct ts_subnet **subnets;
	size_t *n_subnets;
	struct ts_prefix **prefixes;
	size_t *n_prefixes;
	/* The text each prefix was written as, for duplicate messages (parallel array). */
	const char **text;
	size_t text_cap;
	size_t subnet_cap;
};

struct parse_state {
	struct ts_config *c;
	ts_msg_fn err;
	void *ctx;
	int errors;
	struct side remote, local;
	bool seen_attach, seen_acct, seen_unmatched, seen_max, seen_btf, seen_rtt, seen_pct;
	bool seen_conn, seen_retrans, seen_maxcg, seen_cgother;
	bool seen_buckets, seen_width, seen_max_values;
};

static void side_init(struct side *sd, const char *opt, struct ts_subnet **subnets,
		      size_t *n_subnets, struct ts_prefix **prefixes, size_t *n_prefixes)
{
	memset(sd, 0, sizeof(*sd));
	sd->opt = opt;
	sd->subnets = subnets;
	sd->n_subnets = n_subnets;
	sd->prefixes = prefixes;
	sd->n_prefixes = n_prefixes;
	sd->subnet_cap = *n_subnets; /* what is there is full: the next add grows it */
}

static void report(struct parse_state *st, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

void ts_escape_controls(char *line, size_t len)
{
	char out[1024];
	size_t o = 0;

	for (const unsigned char *p = (const unsigned char *)line; *p && o + 5 < sizeof(out); p++) {
		if (*p == '\n') {
			out[o++] = '\\';
			out[o++] = 'n';
		} else if (*p == '\t') {
			out[o++] = '\\';
			out[o++] = 't';
		} else if (*p < 0x20 || *p == 0x7f) {
			o += (size_t)snprintf(out + o, sizeof(out) - o, "\\x%02x", *p);
		} else {
			out[o++] = (char)*p;
		}
	}
	out[o] = '\0';
	snprintf(line, len, "%s", out);
}

/*
 * Every message is one log line: collectd accepts control bytes (even newlines) inside
 * quoted strings, and user text is echoed in messages, so those bytes are escaped.
 */
void ts_vreport(ts_msg_fn fn, void *ctx, const char *fmt, va_list ap)
{
	char line[512];

	vsnprintf(line, sizeof(line), fmt, ap);
	ts_escape_controls(line, sizeof(line));
	if (fn)
		fn(ctx, line);
}

static void report(struct parse_state *st, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	st->errors++;
	ts_vreport(st->err, st->ctx, fmt, ap);
	va_end(ap);
}

/* A number as written: whole numbers in full, fractions with all their digits. */
static const char *num(double v, char *buf, size_t len)
{
	if (v == floor(v) && fabs(v) < 1e15)
		snprintf(buf, len, "%.0f", v);
	else
		snprintf(buf, len, "%.10g", v);
	return buf;
}

void ts_config_init(struct ts_config *c)
{
	memset(c, 0, sizeof(*c));
	c->report_unmatched = true;
	c->attach_mode = TS_ATTACH_AUTO;
	c->accounting = TS_ACCT_SYSCALL;
	c->max_prefixes = TS_DEFAULT_MAX_PREFIXES;
	c->rtt = true;
	c->percentiles[0] = 50;
	c->percentiles[1] = 90;
	c->percentiles[2] = 99;
	c->n_percentiles = 3;
	c->connections = true;
	c->retransmits = true;
	c->max_cgroups = TS_DEFAULT_MAX_CGROUPS;
	c->report_other_cgroup = true;
	c->rtt_buckets = true;
	c->rtt_bucket_width = 1;
	c->max_values = TS_DEFAULT_MAX_VALUES;
}

void ts_config_free(struct ts_config *c)
{
	free(c->subnets);
	free(c->prefixes);
	free(c->lsubnets);
	free(c->lprefixes);
	free(c->btf_path);
	for (size_t i = 0; i < c->n_cgpaths; i++)
		free(c->cgpaths[i].path);
	free(c->cgpaths);
	free(c->cgroups);
	ts_config_init(c);
}

void ts_addr_map4(const uint8_t v4[4], uint8_t out[16])
{
	memcpy(out, v4mapped_prefix, sizeof(v4mapped_prefix));
	memcpy(out + 12, v4, 4);
}

static bool is_v4mapped(const uint8_t a[16])
{
	return memcmp(a, v4mapped_prefix, sizeof(v4mapped_prefix)) == 0;
}

/* True when the first len bits of a and b are equal. */
static bool prefix_match(const uint8_t a[16], const uint8_t b[16], unsigned len)
{
	unsigned full = len / 8, rest = len % 8;

	if (memcmp(a, b, full) != 0)
		return false;
	if (rest == 0)
		return true;
	return ((a[full] ^ b[full]) & (uint8_t)(0xff << (8 - rest))) == 0;
}

static void clear_host_bits(uint8_t a[16], unsigned len)
{
	for (unsigned i = 0; i < 16; i++) {
		if (len >= 8 * (i + 1))
			continue;
		if (len <= 8 * i)
			a[i] = 0;
		else
			a[i] &= (uint8_t)(0xff << (8 - (len - 8 * i)));
	}
}

void ts_cidr_format(const struct ts_prefix *p, char *buf, size_t len)
{
	char addr[INET6_ADDRSTRLEN];

	if (is_v4mapped(p->addr) && p->len >= 96) {
		inet_ntop(AF_INET, p->addr + 12, addr, sizeof(addr));
		snprintf(buf, len, "%s/%u", addr, p->len - 96);
	} else {
		inet_ntop(AF_INET6, p->addr, addr, sizeof(addr));
		snprintf(buf, len, "%s/%u", addr, p->len);
	}
}

static int cidr_parse(const char *text, struct ts_prefix *out, char *why, size_t why_len)
{
	char addr[64];
	const char *slash, *lenstr;
	unsigned long plen;
	uint8_t buf[16];
	bool v4;

	memset(out, 0, sizeof(*out));
	if (text == NULL || text[0] == '\0') {
		snprintf(why, why_len, "empty prefix; write a CIDR prefix such as "
			 "\"10.0.0.0/8\" or \"2001:db8::/32\"");
		return -1;
	}
	slash = strchr(text, '/');
	if (slash == NULL) {
		if (inet_pton(AF_INET, text, buf) == 1 || inet_pton(AF_INET6, text, buf) == 1) {
			snprintf(why, why_len, "no prefix length; write \"%s/%d\" for one host, "
				 "or add the network's length", text,
				 strchr(text, ':') ? 128 : 32);
			return -1;
		}
		snprintf(why, why_len, "not an IPv4 or IPv6 prefix; write a CIDR prefix such "
			 "as \"10.0.0.0/8\" or \"2001:db8::/32\"");
		return -1;
	}
	if ((size_t)(slash - text) >= sizeof(addr)) {
		snprintf(why, why_len, "address part is too long; write a CIDR prefix such as "
			 "\"10.0.0.0/8\" or \"2001:db8::/32\"");
		return -1;
	}
	memcpy(addr, text, (size_t)(slash - text));
	addr[slash - text] = '\0';

	if (inet_pton(AF_INET, addr, buf) == 1) {
		v4 = true;
	} else if (inet_pton(AF_INET6, addr, buf) == 1) {
		v4 = false;
	} else {
		snprintf(why, why_len, "\"%.64s\" is not an IPv4 or IPv6 address; write a CIDR "
			 "prefix such as \"10.0.0.0/8\" or \"2001:db8::/32\"", addr);
		return -1;
	}

	lenstr = slash + 1;
	if (lenstr[0] == '\0' || strlen(lenstr) > 3 ||
	    strspn(lenstr, "0123456789") != strlen(lenstr)) {
		snprintf(why, why_len, "prefix length \"%.16s\" is not a number; IPv4 allows "
			 "/0 to /32, IPv6 /0 to /128", lenstr);
		return -1;
	}
	plen = strtoul(lenstr, NULL, 10);
	if (plen > (v4 ? 32UL : 128UL)) {
		snprintf(why, why_len, "prefix length /%lu is out of range; %s", plen,
			 v4 ? "IPv4 allows /0 to /32" : "IPv6 allows /0 to /128");
		return -1;
	}

	if (v4) {
		ts_addr_map4(buf, out->addr);
		out->len = 96 + (unsigned)plen;
	} else {
		memcpy(out->addr, buf, 16);
		out->len = (unsigned)plen;
	}

	memcpy(buf, out->addr, 16);
	clear_host_bits(buf, out->len);
	if (memcmp(buf, out->addr, 16) != 0) {
		struct ts_prefix net = *out;
		char fixed[64];

		memcpy(net.addr, buf, 16);
		ts_cidr_format(&net, fixed, sizeof(fixed));
		snprintf(why, why_len, "host bits are set; write the network address \"%s\"",
			 fixed);
		return -1;
	}
	return 0;
}

/* The explanation quotes the text, which may hold any byte: keep it one line. */
int ts_cidr_parse(const char *text, struct ts_prefix *out, char *why, size_t why_len)
{
	int rc = cidr_parse(text, out, why, why_len);

	if (rc != 0)
		ts_escape_controls(why, why_len);
	return rc;
}

void ts_lpm_key_build(const struct ts_prefix *p, void *key20)
{
	uint32_t prefixlen = p->len;
	uint8_t *k = key20;

	memcpy(k, &prefixlen, sizeof(prefixlen));
	memcpy(k + 4, p->addr, 16);
}

uint32_t ts_config_classify(const struct ts_config *c, const uint8_t addr[16])
{
	uint32_t id = 0;
	int best = -1;

	for (size_t i = 0; i < c->n_prefixes; i++) {
		const struct ts_prefix *p = &c->prefixes[i];

		if ((int)p->len > best && prefix_match(p->addr, addr, p->len)) {
			best = (int)p->len;
			id = p->subnet_id;
		}
	}
	return id;
}

int ts_name_check(const char *name, char *why, size_t why_len)
{
	size_t n = strlen(name);

	if (n == 0) {
		snprintf(why, why_len, "the name is empty; give the subnet a name such as "
			 "\"dc-east\"");
		return -1;
	}
	if (n > TS_NAME_MAX) {
		snprintf(why, why_len, "the name is %zu characters long; use at most %d", n,
			 TS_NAME_MAX);
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)name[i];

		if (isascii(ch) && (isalnum(ch) || ch == '.' || ch == '_' || ch == '-'))
			continue;
		if (isascii(ch) && isprint(ch))
			snprintf(why, why_len, "character '%c' is not allowed; names may use "
				 "only ASCII letters, digits, '.', '_' and '-'", ch);
		else
			snprintf(why, why_len, "byte 0x%02x is not allowed; names may use only "
				 "ASCII letters, digits, '.', '_' and '-'", ch);
		return -1;
	}
	if (strcmp(name, TS_UNMATCHED_NAME) == 0) {
		snprintf(why, why_len, "the name \"%s\" is reserved for unmatched traffic; "
			 "choose another name", TS_UNMATCHED_NAME);
		return -1;
	}
	return 0;
}

const char *ts_config_instance(const struct ts_config *c, uint32_t id)
{
	if (id == 0 || id > c->n_subnets)
		return TS_UNMATCHED_NAME;
	return c->subnets[id - 1].name;
}

static const char *const mode_names[] = {
	[TS_ATTACH_AUTO] = "auto",
	[TS_ATTACH_FENTRY] = "fentry",
	[TS_ATTACH_TRACEPOINT] = "tracepoint",
	[TS_ATTACH_KPROBE] = "kprobe",
};

#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

static const char *name_at(const char *const *names, size_t n, size_t i)
{
	return i < n ? names[i] : "?";
}

/* The index of s in names (case-insensitive), or -1. */
static int name_index(const char *const *names, size_t n, const char *s)
{
	for (size_t i = 0; i < n; i++)
		if (strcasecmp(s, names[i]) == 0)
			return (int)i;
	return -1;
}

const char *ts_attach_mode_name(enum ts_attach_mode m)
{
	return name_at(mode_names, N_OF(mode_names), (size_t)m);
}

int ts_attach_mode_parse(const char *s, enum ts_attach_mode *out)
{
	int i = name_index(mode_names, N_OF(mode_names), s);

	if (i >= 0)
		*out = (enum ts_attach_mode)i;
	return i >= 0 ? 0 : -1;
}

static const char *const acct_names[] = {
	[TS_ACCT_SYSCALL] = "syscall",
	[TS_ACCT_SOCKET] = "socket",
};

const char *ts_accounting_name(enum ts_accounting a)
{
	return name_at(acct_names, N_OF(acct_names), (size_t)a);
}

int ts_accounting_parse(const char *s, enum ts_accounting *out)
{
	int i = name_index(acct_names, N_OF(acct_names), s);

	if (i >= 0)
		*out = (enum ts_accounting)i;
	return i >= 0 ? 0 : -1;
}

/* ---- building the config ---- */

static int add_subnet(struct side *sd, const char *name, uint32_t *id)
{
	struct ts_subnet *s = *sd->subnets;

	/* Geometric growth: one realloc per subnet is quadratic where realloc copies. */
	if (*sd->n_subnets >= sd->subnet_cap) {
		size_t cap = sd->subnet_cap ? 2 * sd->subnet_cap : 16;

		s = realloc(*sd->subnets, cap * sizeof(*s));
		if (s == NULL)
			return -1;
		*sd->subnets = s;
		sd->subnet_cap = cap;
	}
	memset(&s[*sd->n_subnets], 0, sizeof(*s));
	snprintf(s[*sd->n_subnets].name, sizeof(s->name), "%s", name);
	(*sd->n_subnets)++;
	*id = (uint32_t)*sd->n_subnets;
	return 0;
}

static int add_prefix(struct side *sd, const struct ts_prefix *p, const char *text)
{
	size_t n = *sd->n_prefixes;

	if (n == sd->text_cap) {
		size_t cap = sd->text_cap ? 2 * sd->text_cap : 16;
		struct ts_prefix *np = realloc(*sd->prefixes, cap * sizeof(*np));
		const char **nt;

		if (np == NULL)
			return -1;
		*sd->prefixes = np;
		nt = realloc(sd->text, cap * sizeof(*nt));
		if (nt == NULL)
			return -1;
		sd->text = nt;
		sd->text_cap = cap;
	}
	sd->text[n] = text;
	(*sd->prefixes)[n] = *p;
	(*sd->n_prefixes)++;
	return 0;
}

static const char *one_string(const struct ts_citem *ci)
{
	if (ci->values_num != 1 || ci->values[0].type != TS_CV_STRING)
		return NULL;
	return ci->values[0].string;
}

static void parse_subnet(struct parse_state *st, struct side *sd, const struct ts_citem *ci)
{
	const char *name = one_string(ci);
	char why[256];
	struct ts_prefix p;
	uint32_t id;
	int good = 0;

	if (name == NULL) {
		report(st, "%s needs one quoted string: <%s \"name\"> with Prefix lines, or %s "
		       "\"a.b.c.d/n\"", sd->opt, sd->opt, sd->opt);
		return;
	}

	if (ci->children_num == 0) {
		/* One-line form: the name is the prefix text. */
		if (ts_cidr_parse(name, &p, why, sizeof(why)) == 0) {
			if (add_subnet(sd, name, &id) != 0 ||
			    (p.subnet_id = id, add_prefix(sd, &p, name)) != 0)
				report(st, "out of memory while reading %s \"%s\"", sd->opt, name);
			return;
		}
		if (strchr(name, '/') || inet_pton(AF_INET, name, p.addr) == 1 ||
		    inet_pton(AF_INET6, name, p.addr) == 1)
			report(st, "%s \"%.64s\": %s", sd->opt, name, why);
		else
			report(st, "%s \"%.64s\" has no Prefix; put Prefix \"a.b.c.d/n\" lines "
			       "inside <%s \"%.64s\"> ... </%s> (the one-line form takes a "
			       "CIDR prefix such as %s \"10.170.0.0/16\")", sd->opt, name, sd->opt,
			       name, sd->opt, sd->opt);
		return;
	}

	if (ts_name_check(name, why, sizeof(why)) != 0) {
		report(st, "%s \"%.64s\": %s", sd->opt, name, why);
		return;
	}
	if (add_subnet(sd, name, &id) != 0) {
		report(st, "out of memory while reading %s \"%s\"", sd->opt, name);
		return;
	}
	for (int i = 0; i < ci->children_num; i++) {
		const struct ts_citem *child = &ci->children[i];
		const char *text;

		if (strcasecmp(child->key, "Prefix") != 0) {
			report(st, "unknown option \"%.64s\" in <%s \"%s\">; only Prefix "
			       "\"a.b.c.d/n\" lines belong there", child->key, sd->opt, name);
			good = -1;
			continue;
		}
		text = one_string(child);
		if (text == NULL) {
			report(st, "Prefix in %s \"%s\" needs one quoted string such as "
			       "Prefix \"10.0.0.0/8\"", sd->opt, name);
			good = -1;
			continue;
		}
		if (ts_cidr_parse(text, &p, why, sizeof(why)) != 0) {
			report(st, "Prefix \"%.64s\" in %s \"%s\": %s", text, sd->opt, name, why);
			good = -1;
			continue;
		}
		p.subnet_id = id;
		if (add_prefix(sd, &p, text) != 0) {
			report(st, "out of memory while reading %s \"%s\"", sd->opt, name);
			return;
		}
		if (good >= 0)
			good++;
	}
	if (good == 0)
		report(st, "%s \"%s\" has no Prefix; add at least one Prefix \"a.b.c.d/n\" "
		       "line to the block, or remove it", sd->opt, name);
}

static int get_bool(const struct ts_citem *ci, bool *out)
{
	static const char *const yes[] = { "true", "yes", "on" };
	static const char *const no[] = { "false", "no", "off" };

	if (ci->values_num != 1)
		return -1;
	if (ci->values[0].type == TS_CV_BOOLEAN) {
		*out = ci->values[0].boolean;
		return 0;
	}
	if (ci->values[0].type != TS_CV_STRING)
		return -1;
	for (size_t i = 0; i < 3; i++) {
		if (strcasecmp(ci->values[0].string, yes[i]) == 0) {
			*out = true;
			return 0;
		}
		if (strcasecmp(ci->values[0].string, no[i]) == 0) {
			*out = false;
			return 0;
		}
	}
	return -1;
}

static bool once(struct parse_state *st, bool *seen, const char *key)
{
	if (*seen) {
		report(st, "%s is set more than once; keep one %s line", key, key);
		return false;
	}
	*seen = true;
	return true;
}

static void parse_percentiles(struct parse_state *st, const struct ts_citem *ci)
{
	struct ts_config *c = st->c;

	if (ci->values_num < 1 || ci->values_num > TS_MAX_PERCENTILES) {
		report(st, "RTTPercentile expects 1 to %d numbers, e.g. RTTPercentile 50 90 99",
		       TS_MAX_PERCENTILES);
		return;
	}
	c->n_percentiles = 0;
	for (int i = 0; i < ci->values_num; i++) {
		double v = ci->values[i].number;
		char name[64], other[64], nb[32], ob[32];

		if (ci->values[i].type != TS_CV_NUMBER) {
			report(st, "RTTPercentile expects numbers, e.g. RTTPercentile 50 90 99");
			return;
		}
		if (!(v > 0 && v <= 100)) {
			report(st, "RTTPercentile %s is out of range; use numbers above 0 and at "
			       "most 100", num(v, nb, sizeof(nb)));
			return;
		}
		/* Equal names would dispatch two values under one identifier. */
		ts_hist_percentile_name(v, name, sizeof(name));
		for (size_t j = 0; j < c->n_percentiles; j++) {
			ts_hist_percentile_name(c->percentiles[j], other, sizeof(other));
			if (c->percentiles[j] == v) {
				report(st, "RTTPercentile %s is listed twice; remove one",
				       num(v, nb, sizeof(nb)));
				return;
			}
			if (strcmp(name, other) == 0) {
				report(st, "RTTPercentile %s and %s would both be named %s; remove one",
				       num(c->percentiles[j], ob, sizeof(ob)), num(v, nb, sizeof(nb)),
				       name);
				return;
			}
		}
		c->percentiles[c->n_percentiles++] = v;
	}
}

/* Parses "p" or "lo-hi" (1..65535); returns 0 or -1. */
static int parse_port_range(const char *text, unsigned *lo, unsigned *hi)
{
	char *end;
	unsigned long a, b;

	if (!isdigit((unsigned char)text[0]))
		return -1;
	a = strtoul(text, &end, 10);
	b = a;
	if (*end == '-') {
		if (!isdigit((unsigned char)end[1]))
			return -1;
		b = strtoul(end + 1, &end, 10);
	}
	if (*end != '\0' || a < 1 || b > 65535 || a > b)
		return -1;
	*lo = (unsigned)a;
	*hi = (unsigned)b;
	return 0;
}

static void parse_ports(struct parse_state *st, const struct ts_citem *ci, uint64_t *bits,
			bool *enabled)
{
	if (ci->values_num < 1) {
		report(st, "%s expects ports or ranges, e.g. %s 443 \"8000-8099\"", ci->key,
		       ci->key);
		return;
	}
	for (int i = 0; i < ci->values_num; i++) {
		const struct ts_cval *v = &ci->values[i];
		char text[32];
		unsigned lo, hi;

		if (v->type == TS_CV_NUMBER)
			snprintf(text, sizeof(text), "%.0f", v->number == floor(v->number) ?
				 v->number : -1.0);
		else if (v->type == TS_CV_STRING)
			snprintf(text, sizeof(text), "%s", v->string);
		else
			text[0] = '\0';
		if (v->type == TS_CV_BOOLEAN || parse_port_range(text, &lo, &hi) != 0) {
			if (v->type == TS_CV_STRING)
				report(st, "%s \"%.32s\" is not a port or range; use 1 to 65535 or "
				       "\"low-high\" such as \"8000-8099\"", ci->key, v->string);
			else if (v->type == TS_CV_NUMBER)
				report(st, "%s %s is not a port; use 1 to 65535 or \"low-high\" such "
				       "as \"8000-8099\"", ci->key, num(v->number, text, sizeof(text)));
			else
				report(st, "%s expects ports or ranges, e.g. %s 443 \"8000-8099\"",
				       ci->key, ci->key);
			continue;
		}
		for (unsigned p = lo; p <= hi; p++)
			bits[p / 64] |= 1ULL << (p % 64);
		*enabled = true;
	}
}

int ts_cgroup_path_check(const char *path, char *why, size_t why_len)
{
	const char *p = path;
	int depth = 0;

	if (path[0] != '/') {
		snprintf(why, why_len, "a Path starts with '/' and is relative to the cgroup2 "
			 "root, e.g. \"/system.slice/nginx.service\"");
		return -1;
	}
	if (strlen(path) > TS_CGROUP_PATH_MAX) {
		snprintf(why, why_len, "the path is %zu characters long; use at most %d",
			 strlen(path), TS_CGROUP_PATH_MAX);
		return -1;
	}
	if (strcmp(path, "/") == 0)
		return 0;
	while (*p == '/') {
		const char *start = ++p;
		size_t n;

		while (*p && *p != '/')
			p++;
		n = (size_t)(p - start);
		if (n == 0) {
			snprintf(why, why_len, "empty path component (\"//\" or a trailing '/'); "
				 "write components separated by single '/'");
			return -1;
		}
		if ((n == 1 && start[0] == '.') || (n == 2 && start[0] == '.' && start[1] == '.')) {
			snprintf(why, why_len, "'.' and '..' are not allowed; write the path from the "
				 "cgroup2 root down");
			return -1;
		}
		for (size_t i = 0; i < n; i++)
			if ((unsigned char)start[i] < 0x20 || start[i] == 0x7f) {
				snprintf(why, why_len, "control byte 0x%02x in the path; cgroup names "
					 "have none", (unsigned char)start[i]);
				return -1;
			}
		depth++;
	}
	return depth;
}

static int add_cgpath(struct parse_state *st, const char *path, uint32_t cgroup, int depth)
{
	struct ts_config *c = st->c;
	struct ts_cgpath *np = realloc(c->cgpaths, (c->n_cgpaths + 1) * sizeof(*np));

	if (np == NULL)
		return -1;
	c->cgpaths = np;
	np[c->n_cgpaths].path = strdup(path);
	if (np[c->n_cgpaths].path == NULL)
		return -1;
	np[c->n_cgpaths].cgroup = cgroup;
	np[c->n_cgpaths].depth = (unsigned)depth;
	c->n_cgpaths++;
	return 0;
}

static int add_cgroup(struct parse_state *st, const char *name, uint32_t *id)
{
	struct ts_config *c = st->c;
	struct ts_subnet *nc = realloc(c->cgroups, (c->n_cgroups + 1) * sizeof(*nc));

	if (nc == NULL)
		return -1;
	c->cgroups = nc;
	snprintf(nc[c->n_cgroups].name, sizeof(nc[0].name), "%s", name);
	*id = (uint32_t)++c->n_cgroups;
	return 0;
}

/* <Cgroup "name"> Path ... </Cgroup>, or Cgroup "/path" named after its last component. */
static void parse_cgroup(struct parse_state *st, const struct ts_citem *ci)
{
	const char *arg = one_string(ci), *last;
	char why[256];
	uint32_t id;
	int depth, good = 0;

	if (arg == NULL) {
		report(st, "Cgroup needs one quoted string: <Cgroup \"name\"> with Path lines, or "
		       "Cgroup \"/path/of/the/cgroup\"");
		return;
	}
	if (ci->children_num == 0) {
		if (arg[0] != '/') {
			report(st, "Cgroup \"%.64s\" has no Path; put Path \"/...\" lines inside "
			       "<Cgroup \"%.64s\"> ... </Cgroup> (the one-line form takes a path "
			       "such as Cgroup \"/system.slice/sshd.service\")", arg, arg);
			return;
		}
		if ((depth = ts_cgroup_path_check(arg, why, sizeof(why))) < 0) {
			report(st, "Cgroup \"%.64s\": %s", arg, why);
			return;
		}
		last = strrchr(arg, '/') + 1;
		if (depth == 0 || strchr(last, '*') || ts_name_check(last, why, sizeof(why)) != 0) {
			report(st, "Cgroup \"%.64s\": the one-line form names the cgroup after the "
			       "path's last component, which %s; write <Cgroup \"name\"> Path "
			       "\"%.64s\" </Cgroup>", arg, depth == 0 ? "\"/\" does not have" :
			       strchr(last, '*') ? "is a pattern here" : "is not a valid name", arg);
			return;
		}
		if (add_cgroup(st, last, &id) != 0 || add_cgpath(st, arg, id, depth) != 0)
			report(st, "out of memory while reading Cgroup \"%s\"", arg);
		return;
	}
	if (arg[0] == '\0' || ts_name_check(arg, why, sizeof(why)) != 0) {
		report(st, "Cgroup \"%.64s\": %s", arg, arg[0] ? why : "the name is empty; give "
		       "the cgroup a name such as \"web\"");
		return;
	}
	if (add_cgroup(st, arg, &id) != 0) {
		report(st, "out of memory while reading Cgroup \"%s\"", arg);
		return;
	}
	for (int i = 0; i < ci->children_num; i++) {
		const struct ts_citem *child = &ci->children[i];
		const char *path = one_string(child);

		if (strcasecmp(child->key, "Path") != 0) {
			report(st, "unknown option \"%.64s\" in <Cgroup \"%s\">; only Path "
			       "\"/...\" lines belong there", child->key, arg);
			good = -1;
			continue;
		}
		if (path == NULL) {
			report(st, "Path in Cgroup \"%s\" needs one quoted string such as Path "
			       "\"/system.slice/nginx.service\"", arg);
			good = -1;
			continue;
		}
		if ((depth = ts_cgroup_path_check(path, why, sizeof(why))) < 0) {
			report(st, "Path \"%.64s\" in Cgroup \"%s\": %s", path, arg, why);
			good = -1;
			continue;
		}
		if (add_cgpath(st, path, id, depth) != 0) {
			report(st, "out of memory while reading Cgroup \"%s\"", arg);
			return;
		}
		if (good >= 0)
			good++;
	}
	if (good == 0)
		report(st, "Cgroup \"%s\" has no Path; add at least one Path \"/...\" line to "
		       "the block, or remove it", arg);
}

/* CgroupEach "/pattern": every matching cgroup is an instance of its own. */
static void parse_cgroup_each(struct parse_state *st, const struct ts_citem *ci)
{
	const char *path = one_string(ci);
	char why[256];
	int depth;

	if (path == NULL) {
		report(st, "CgroupEach needs one quoted path pattern such as CgroupEach "
		       "\"/system.slice/*.service\"");
		return;
	}
	if ((depth = ts_cgroup_path_check(path, why, sizeof(why))) < 0) {
		report(st, "CgroupEach \"%.64s\": %s", path, why);
		return;
	}
	if (depth == 0) {
		report(st, "CgroupEach \"/\" would make the root one instance; use Cgroup for "
		       "it, or a pattern such as CgroupEach \"/system.slice/*.service\"");
		return;
	}
	if (add_cgpath(st, path, 0, depth) != 0)
		report(st, "out of memory while reading CgroupEach \"%s\"", path);
	st->c->cgroup_each = true;
}

/* ---- cardinality: RTTBuckets, RTTBucketWidth, MaxValues ---- */

/* A whole number lo..hi as the only value of ci; reports and returns -1 otherwise. */
static int whole_number(struct parse_state *st, const struct ts_citem *ci, double lo,
			double hi, const char *example, double *out)
{
	char nb[32];
	double v;

	if (ci->values_num != 1 || ci->values[0].type != TS_CV_NUMBER) {
		report(st, "%s expects one number, e.g. %s %s", ci->key, ci->key, example);
		return -1;
	}
	v = ci->values[0].number;
	if (!(v >= lo && v <= hi) || v != floor(v)) {
		report(st, "%s %s is out of range; use a whole number from %.0f to %.0f", ci->key,
		       num(v, nb, sizeof(nb)), lo, hi);
		return -1;
	}
	*out = v;
	return 0;
}

/* Returns false when ci is none of these options. */
static bool parse_values_option(struct parse_state *st, const struct ts_citem *ci)
{
	struct ts_config *c = st->c;
	double v;

	if (strcasecmp(ci->key, "RTTBuckets") == 0) {
		if (once(st, &st->seen_buckets, "RTTBuckets") && get_bool(ci, &c->rtt_buckets) != 0)
			report(st, "RTTBuckets expects true or false");
	} else if (strcasecmp(ci->key, "RTTBucketWidth") == 0) {
		if (once(st, &st->seen_width, "RTTBucketWidth") &&
		    whole_number(st, ci, 1, TS_HIST_SLOTS, "3", &v) == 0)
			c->rtt_bucket_width = (unsigned)v;
	} else if (strcasecmp(ci->key, "MaxValues") == 0) {
		if (once(st, &st->seen_max_values, "MaxValues") &&
		    whole_number(st, ci, 1, TS_LIMIT_MAX_VALUES, "1000000", &v) == 0)
			c->max_values = (size_t)v;
	} else {
		return false;
	}
	return true;
}

unsigned ts_config_bucket_values(const struct ts_config *c)
{
	return c->rtt && c->rtt_buckets ? ts_hist_bucket_count(c->rtt_bucket_width) : 0;
}

size_t ts_config_values_per_instance(const struct ts_config *c)
{
	size_t n = 1; /* if_octets */

	if (c->connections)
		n += 3;
	if (c->retransmits)
		n += 1;
	if (c->rtt) /* rtt-samples, rtt-average, the percentiles */
		n += 2 + c->n_percentiles;
	return n + ts_config_bucket_values(c);
}

size_t ts_config_instance_count(const struct ts_config *c)
{
	size_t per = ts_config_subnet_index_count(c), slots = ts_config_cgroup_slots(c);

	if (!c->report_unmatched)
		per -= c->n_lsubnets + 1;
	/* CgroupEach slots count in full: the most a cycle can dispatch. */
	if (ts_config_has_cgroups(c) && !c->report_other_cgroup)
		slots--;
	return slots * per;
}

size_t ts_config_values_per_cycle(const struct ts_config *c)
{
	return ts_config_instance_count(c) * ts_config_values_per_instance(c) + TS_HEALTH_VALUES;
}

/* MaxValues: the count, and what would bring it down, in one line. */
static void check_values(struct parse_state *st)
{
	const struct ts_config *c = st->c;
	size_t per = ts_config_values_per_instance(c), total = ts_config_values_per_cycle(c);
	size_t buckets = ts_config_bucket_values(c);
	char alt[160] = "";
	size_t o = 0;

	if (total <= c->max_values)
		return;
	if (buckets > 0)
		o += (size_t)snprintf(alt + o, sizeof(alt) - o, "RTTBuckets false: %zu, ",
				      per - buckets);
	if (buckets > ts_hist_bucket_count(3))
		o += (size_t)snprintf(alt + o, sizeof(alt) - o, "RTTBucketWidth 3: %zu, ",
				      per - buckets + ts_hist_bucket_count(3));
	if (c->rtt)
		o += (size_t)snprintf(alt + o, sizeof(alt) - o, "RTT false: %zu, ",
				      per - buckets - 2 - c->n_percentiles);
	if (o > 2)
		alt[o - 2] = '\0';
	report(st, "MaxValues %zu is exceeded: %zu %s x %zu values + %d health values = %zu "
	       "values per read cycle; raise MaxValues to %zu%s%s%s or configure fewer subnets",
	       c->max_values, ts_config_instance_count(c),
	       ts_config_has_cgroups(c) ? "cgroup x subnet instances" :
	       c->n_lsubnets ? "subnet pairs" : "subnets", per, TS_HEALTH_VALUES, total, total,
	       o ? ", send fewer values per subnet (" : "", alt, o ? ")" : "");
}

static void parse_option(struct parse_state *st, const struct ts_citem *ci)
{
	struct ts_config *c = st->c;
	const char *s;

	if (ci->children_num > 0 && strcasecmp(ci->key, "Subnet") != 0 &&
	    strcasecmp(ci->key, "LocalSubnet") != 0 && strcasecmp(ci->key, "Cgroup") != 0) {
		report(st, "%.64s is not a block; write it as one line such as %.64s \"value\"",
		       ci->key, ci->key);
		return;
	}
	if (strcasecmp(ci->key, "Subnet") == 0) {
		parse_subnet(st, &st->remote, ci);
	} else if (strcasecmp(ci->key, "LocalSubnet") == 0) {
		parse_subnet(st, &st->local, ci);
	} else if (strcasecmp(ci->key, "Cgroup") == 0) {
		parse_cgroup(st, ci);
	} else if (strcasecmp(ci->key, "CgroupEach") == 0) {
		parse_cgroup_each(st, ci);
	} else if (strcasecmp(ci->key, "ReportUnmatchedCgroup") == 0) {
		if (once(st, &st->seen_cgother, "ReportUnmatchedCgroup") &&
		    get_bool(ci, &c->report_other_cgroup) != 0)
			report(st, "ReportUnmatchedCgroup expects true or false");
	} else if (strcasecmp(ci->key, "MaxCgroups") == 0) {
		double v;

		if (once(st, &st->seen_maxcg, "MaxCgroups") &&
		    whole_number(st, ci, 1, TS_LIMIT_MAX_CGROUPS, "64", &v) == 0)
			c->max_cgroups = (size_t)v;
	} else if (strcasecmp(ci->key, "RTT") == 0) {
		if (once(st, &st->seen_rtt, "RTT") && get_bool(ci, &c->rtt) != 0)
			report(st, "RTT expects true or false");
	} else if (strcasecmp(ci->key, "Connections") == 0) {
		if (once(st, &st->seen_conn, "Connections") && get_bool(ci, &c->connections) != 0)
			report(st, "Connections expects true or false");
	} else if (strcasecmp(ci->key, "Retransmits") == 0) {
		if (once(st, &st->seen_retrans, "Retransmits") &&
		    get_bool(ci, &c->retransmits) != 0)
			report(st, "Retransmits expects true or false");
	} else if (strcasecmp(ci->key, "RTTPercentile") == 0) {
		if (once(st, &st->seen_pct, "RTTPercentile"))
			parse_percentiles(st, ci);
	} else if (strcasecmp(ci->key, "LocalPort") == 0) {
		parse_ports(st, ci, c->lport_bits, &c->lport_filter);
	} else if (strcasecmp(ci->key, "RemotePort") == 0) {
		parse_ports(st, ci, c->rport_bits, &c->rport_filter);
	} else if (strcasecmp(ci->key, "ReportUnmatched") == 0) {
		if (!once(st, &st->seen_unmatched, "ReportUnmatched"))
			return;
		if (get_bool(ci, &c->report_unmatched) != 0)
			report(st, "ReportUnmatched expects true or false");
	} else if (strcasecmp(ci->key, "AttachMode") == 0) {
		if (!once(st, &st->seen_attach, "AttachMode"))
			return;
		s = one_string(ci);
		if (s == NULL)
			report(st, "AttachMode expects one quoted string: \"auto\", \"fentry\", "
			       "\"tracepoint\" or \"kprobe\"");
		else if (ts_attach_mode_parse(s, &c->attach_mode) != 0)
			report(st, "AttachMode \"%.64s\" is not a known mode; use \"auto\", "
			       "\"fentry\", \"tracepoint\" or \"kprobe\"", s);
	} else if (strcasecmp(ci->key, "Accounting") == 0) {
		if (!once(st, &st->seen_acct, "Accounting"))
			return;
		s = one_string(ci);
		if (s == NULL)
			report(st, "Accounting expects one quoted string: \"syscall\" or \"socket\"");
		else if (ts_accounting_parse(s, &c->accounting) != 0)
			report(st, "Accounting \"%.64s\" is not a known accounting; use \"syscall\" "
			       "(per send and receive call) or \"socket\" (the kernel's per-socket "
			       "totals)", s);
	} else if (strcasecmp(ci->key, "MaxPrefixes") == 0) {
		double v;

		if (!once(st, &st->seen_max, "MaxPrefixes"))
			return;
		if (ci->values_num != 1 || ci->values[0].type != TS_CV_NUMBER) {
			report(st, "MaxPrefixes expects one number, e.g. MaxPrefixes %d",
			       TS_DEFAULT_MAX_PREFIXES);
			return;
		}
		v = ci->values[0].number;
		if (!(v >= 1 && v <= TS_LIMIT_MAX_PREFIXES) || v != floor(v)) {
			char nb[32];

			report(st, "MaxPrefixes %s is out of range; use a whole number from 1 to %d",
			       num(v, nb, sizeof(nb)), TS_LIMIT_MAX_PREFIXES);
			return;
		}
		c->max_prefixes = (size_t)v;
	} else if (strcasecmp(ci->key, "KernelBTF") == 0) {
		if (!once(st, &st->seen_btf, "KernelBTF"))
			return;
		s = one_string(ci);
		if (s == NULL || s[0] != '/') {
			report(st, "KernelBTF expects one absolute file path, e.g. KernelBTF "
			       "\"%s\"", TS_DEFAULT_BTF_PATH);
			return;
		}
		free(c->btf_path);
		c->btf_path = strdup(s);
		if (c->btf_path == NULL)
			report(st, "out of memory while reading KernelBTF");
	} else if (!parse_values_option(st, ci)) {
		report(st, "unknown option \"%.64s\" in <Plugin tcpsubnet>; valid options are "
		       "Subnet, LocalSubnet, ReportUnmatched, AttachMode, Accounting, MaxPrefixes, "
		       "KernelBTF, RTT, RTTPercentile, RTTBuckets, RTTBucketWidth, Connections, "
		       "Retransmits, LocalPort, RemotePort, MaxValues, Cgroup, CgroupEach, MaxCgroups and "
		       "ReportUnmatchedCgroup", ci->key);
	}
}

/* qsort helpers carry indexes so messages can name the subnets involved. */
static const struct side *sort_side;

static int cmp_name(const void *a, const void *b)
{
	size_t ia = *(const size_t *)a, ib = *(const size_t *)b;
	int r = strcmp((*sort_side->subnets)[ia].name, (*sort_side->subnets)[ib].name);

	return r ? r : (ia > ib) - (ia < ib);
}

static int cmp_prefix(const void *a, const void *b)
{
	size_t ia = *(const size_t *)a, ib = *(const size_t *)b;
	const struct ts_prefix *pa = &(*sort_side->prefixes)[ia];
	const struct ts_prefix *pb = &(*sort_side->prefixes)[ib];
	int r = memcmp(pa->addr, pb->addr, 16);

	if (r == 0)
		r = (pa->len > pb->len) - (pa->len < pb->len);
	return r ? r : (ia > ib) - (ia < ib);
}

static void check_duplicates(struct parse_state *st, struct side *sd)
{
	size_t ns = *sd->n_subnets, np = *sd->n_prefixes;
	const struct ts_subnet *sub = *sd->subnets;
	const struct ts_prefix *pre = *sd->prefixes;
	size_t *idx = malloc((ns > np ? ns : np) * sizeof(*idx) + 1);

	if (idx == NULL) {
		report(st, "out of memory while checking the configuration");
		return;
	}
	sort_side = sd;
	for (size_t i = 0; i < ns; i++)
		idx[i] = i;
	qsort(idx, ns, sizeof(*idx), cmp_name);
	for (size_t i = 1; i < ns; i++)
		if (strcmp(sub[idx[i]].name, sub[idx[i - 1]].name) == 0 &&
		    (i < 2 || strcmp(sub[idx[i]].name, sub[idx[i - 2]].name) != 0))
			report(st, "%s \"%s\" is configured more than once; subnet names must "
			       "be unique: rename one or merge their Prefix lines", sd->opt,
			       sub[idx[i]].name);

	for (size_t i = 0; i < np; i++)
		idx[i] = i;
	qsort(idx, np, sizeof(*idx), cmp_prefix);
	for (size_t i = 1; i < np; i++) {
		const struct ts_prefix *a = &pre[idx[i - 1]], *b = &pre[idx[i]];
		const char *ta = sd->text[idx[i - 1]], *tb = sd->text[idx[i]];
		const char *na = sub[a->subnet_id - 1].name, *nb = sub[b->subnet_id - 1].name;

		if (a->len != b->len || memcmp(a->addr, b->addr, 16) != 0)
			continue;
		if (a->subnet_id == b->subnet_id && strcmp(ta, tb) == 0)
			report(st, "Prefix \"%.64s\" is listed twice in %s \"%s\"; remove one", tb,
			       sd->opt, nb);
		else if (a->subnet_id == b->subnet_id)
			report(st, "Prefix \"%.64s\" is listed twice in %s \"%s\" (same as "
			       "\"%.64s\"); remove one", tb, sd->opt, nb, ta);
		else if (strcmp(ta, tb) == 0)
			report(st, "Prefix \"%.64s\" in %s \"%s\" is already in %s \"%s\"; a "
			       "prefix can belong to one subnet only: remove one", tb, sd->opt, nb,
			       sd->opt, na);
		else
			report(st, "Prefix \"%.64s\" in %s \"%s\" is already in %s \"%s\" (as "
			       "\"%.64s\"); a prefix can belong to one subnet only: remove one", tb,
			       sd->opt, nb, sd->opt, na, ta);
	}
	free(idx);
}

static size_t longest_name(const struct ts_subnet *s, size_t n, const char **which)
{
	size_t best = strlen(TS_UNMATCHED_NAME);

	*which = TS_UNMATCHED_NAME;
	for (size_t i = 0; i < n; i++) {
		if (strlen(s[i].name) > best) {
			best = strlen(s[i].name);
			*which = s[i].name;
		}
	}
	return best;
}

static void check_pair_names(struct parse_state *st);

/* With LocalSubnet blocks instances are "<local>-to-<remote>": keep them unambiguous. */
static void check_pairs(struct parse_state *st)
{
	struct ts_config *c = st->c;
	const char *ln, *rn;
	size_t ll, rl;

	if (c->n_lsubnets == 0)
		return;
	for (size_t i = 0; i < c->n_subnets; i++)
		if (strstr(c->subnets[i].name, "-to-"))
			report(st, "Subnet \"%s\": names may not contain \"-to-\" when "
			       "LocalSubnet blocks are configured (instances are "
			       "\"<local>-to-<remote>\"); rename it", c->subnets[i].name);
	for (size_t i = 0; i < c->n_lsubnets; i++)
		if (strstr(c->lsubnets[i].name, "-to-"))
			report(st, "LocalSubnet \"%s\": names may not contain \"-to-\" "
			       "(instances are \"<local>-to-<remote>\"); rename it",
			       c->lsubnets[i].name);
	ll = longest_name(c->lsubnets, c->n_lsubnets, &ln);
	rl = longest_name(c->subnets, c->n_subnets, &rn);
	if (ll + 4 + rl > TS_INSTANCE_MAX)
		report(st, "instance \"%s-to-%s\" would be %zu characters, collectd allows %d; "
		       "shorten the LocalSubnet or Subnet name", ln, rn, ll + 4 + rl,
		       TS_INSTANCE_MAX);
	check_pair_names(st);
}

/*
 * Writers turn characters they cannot use into '_': CSV and RRD file names have no '/',
 * Graphite escapes '/' and '.' (its path separator). Names equal after that would merge
 * into one series, so they are compared in that form.
 */
static void written_form(const char *name, char *out, size_t len)
{
	size_t i;

	for (i = 0; name[i] && i + 1 < len; i++)
		out[i] = name[i] == '/' || name[i] == '.' ? '_' : name[i];
	out[i] = '\0';
}

struct wname {
	char w[TS_NAME_MAX + 1];
	const char *name;
};

static int cmp_wname(const void *a, const void *b)
{
	return strcmp(((const struct wname *)a)->w, ((const struct wname *)b)->w);
}

/* The subnet names of one side plus "other", in written form, sorted. */
static struct wname *written_names(const struct ts_subnet *s, size_t n)
{
	struct wname *w = malloc((n + 1) * sizeof(*w));

	if (w == NULL)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		written_form(s[i].name, w[i].w, sizeof(w[i].w));
		w[i].name = s[i].name;
	}
	written_form(TS_UNMATCHED_NAME, w[n].w, sizeof(w[n].w));
	w[n].name = TS_UNMATCHED_NAME;
	qsort(w, n + 1, sizeof(*w), cmp_wname);
	return w;
}

static const struct wname *find_wname(const struct wname *w, size_t n, const char *key)
{
	struct wname k;

	snprintf(k.w, sizeof(k.w), "%s", key);
	return bsearch(&k, w, n, sizeof(*w), cmp_wname);
}

/* Two subnets of a side whose names become one series in the writers. */
static void check_written_names(struct parse_state *st, const char *opt,
				const struct ts_subnet *s, size_t n)
{
	struct wname *w = written_names(s, n);

	if (w == NULL) {
		report(st, "out of memory while checking the configuration");
		return;
	}
	for (size_t i = 1; i <= n; i++)
		if (strcmp(w[i].w, w[i - 1].w) == 0 && strcmp(w[i].name, w[i - 1].name) != 0)
			report(st, "%s \"%s\" and %s \"%s\" would be one series \"%s\" once "
			       "writers replace '/' and '.' with '_' (CSV, RRD, Graphite); rename "
			       "one", opt, w[i - 1].name, opt, w[i].name, w[i].w);
	free(w);
}

/*
 * "<local>-to-<remote>" is ambiguous only when a local name is another local name plus
 * "-to" and a remote name is another remote name minus a leading "to-" (names contain
 * no "-to-"): LocalSubnet "a-to" with Subnet "b" and LocalSubnet "a" with Subnet
 * "to-b" are both "a-to-to-b". Any other equal pair of instances would need "-to-"
 * inside a name.
 */
static void check_pair_names(struct parse_state *st)
{
	struct ts_config *c = st->c;
	struct wname *lw = written_names(c->lsubnets, c->n_lsubnets);
	struct wname *rw = written_names(c->subnets, c->n_subnets);
	size_t nl = c->n_lsubnets + 1, nr = c->n_subnets + 1;

	if (lw == NULL || rw == NULL) {
		report(st, "out of memory while checking the configuration");
		goto out;
	}
	for (size_t i = 0; i < nl; i++) {
		size_t len = strlen(lw[i].w);
		const struct wname *x;
		char base[TS_NAME_MAX + 1];

		if (len < 4 || strcmp(lw[i].w + len - 3, "-to") != 0)
			continue;
		snprintf(base, sizeof(base), "%.*s", (int)(len - 3), lw[i].w);
		if ((x = find_wname(lw, nl, base)) == NULL)
			continue;
		for (size_t j = 0; j < nr; j++) {
			const struct wname *y;

			if (strncmp(rw[j].w, "to-", 3) != 0 ||
			    (y = find_wname(rw, nr, rw[j].w + 3)) == NULL)
				continue;
			report(st, "LocalSubnet \"%s\" with Subnet \"%s\" and LocalSubnet \"%s\" "
			       "with Subnet \"%s\" would both be the instance \"%s-to-%s\"; rename "
			       "one of them", lw[i].name, y->name, x->name, rw[j].name, lw[i].w,
			       y->w);
			goto out;
		}
	}
out:
	free(lw);
	free(rw);
}

static int cmp_cgpath(const void *a, const void *b)
{
	const struct ts_cgpath *pa = *(const struct ts_cgpath *const *)a;
	const struct ts_cgpath *pb = *(const struct ts_cgpath *const *)b;
	int r = strcmp(pa->path, pb->path);

	return r ? r : (pa > pb) - (pa < pb);
}

static const char *cgroup_label(const struct ts_config *c, const struct ts_cgpath *p,
				char *buf, size_t len)
{
	if (p->cgroup == 0)
		snprintf(buf, len, "CgroupEach");
	else
		snprintf(buf, len, "Cgroup \"%s\"", c->cgroups[p->cgroup - 1].name);
	return buf;
}

static size_t instance_len(const struct ts_config *c, char *buf, size_t len);

/*
 * Cgroup names and paths: unique, one series each once written, and short enough that
 * "<cgroup>~<subnet instance>" fits collectd's plugin_instance. '~' is in no name, so
 * the joined form is never ambiguous.
 */
static void check_cgroups(struct parse_state *st)
{
	struct ts_config *c = st->c;
	const struct ts_cgpath **order;
	const char *cgn;
	size_t sl, cl;
	char a[96], b[96], sub[2 * TS_NAME_MAX + 8];

	if (c->n_cgpaths == 0) {
		if (st->seen_maxcg)
			report(st, "MaxCgroups bounds the instances of CgroupEach; add a CgroupEach "
			       "line or remove MaxCgroups");
		return;
	}
	if (st->seen_maxcg && !c->cgroup_each)
		report(st, "MaxCgroups bounds the instances of CgroupEach, and there is none; add "
		       "a CgroupEach line or remove MaxCgroups");
	for (size_t i = 0; i < c->n_cgroups; i++)
		for (size_t j = 0; j < i; j++)
			if (strcmp(c->cgroups[i].name, c->cgroups[j].name) == 0) {
				report(st, "Cgroup \"%s\" is configured more than once; cgroup names "
				       "must be unique: rename one or merge their Path lines",
				       c->cgroups[i].name);
				break;
			}
	check_written_names(st, "Cgroup", c->cgroups, c->n_cgroups);
	order = malloc(c->n_cgpaths * sizeof(*order));
	if (order == NULL) {
		report(st, "out of memory while checking the configuration");
		return;
	}
	for (size_t i = 0; i < c->n_cgpaths; i++)
		order[i] = &c->cgpaths[i];
	qsort(order, c->n_cgpaths, sizeof(*order), cmp_cgpath);
	for (size_t i = 1; i < c->n_cgpaths; i++)
		if (strcmp(order[i]->path, order[i - 1]->path) == 0)
			report(st, "Path \"%.64s\" is configured twice (%s and %s); a cgroup path "
			       "can belong to one cgroup only: remove one", order[i]->path,
			       cgroup_label(c, order[i - 1], a, sizeof(a)),
			       cgroup_label(c, order[i], b, sizeof(b)));
	free(order);
	sl = instance_len(c, sub, sizeof(sub));
	cl = longest_name(c->cgroups, c->n_cgroups, &cgn);
	if (c->cgroup_each) {
		cl = TS_NAME_MAX;
		cgn = "<CgroupEach instance of 63 characters>";
	}
	if (cl + 1 + sl > TS_INSTANCE_MAX)
		report(st, "instance \"%s%c%s\" would be %zu characters, collectd allows %d; "
		       "shorten the Cgroup or Subnet names", cgn, TS_CGROUP_SEP, sub, cl + 1 + sl,
		       TS_INSTANCE_MAX);
}

/*
 * Counter slots live per CPU in the kernel (and the counters again in collectd), whatever
 * the configuration: bound them always, and say what they would cost.
 */
static void check_slots(struct parse_state *st)
{
	struct ts_config *c = st->c;
	size_t slots = ts_config_index_count(c);
	long ncpu = sysconf(_SC_NPROCESSORS_CONF);
	size_t per = sizeof(struct ts_counters) + (c->rtt ? sizeof(struct ts_rtt) : 0);
	double mib = (double)slots * (double)(ncpu > 0 ? ncpu : 1) * (double)per / 1048576.0;

	if (slots <= TS_LIMIT_INDEXES && mib <= TS_LIMIT_SLOT_MIB)
		return;
	report(st, "%zu counter slots (%s%zu subnets + other%s) exceed the limit of %d slots "
	       "and %d MiB: they would take %.0f MiB in the kernel (%zu bytes x %ld CPUs each); "
	       "group prefixes into fewer Subnet blocks%s%s", slots,
	       c->n_lsubnets ? "LocalSubnet pairs of " : "", c->n_subnets,
	       ts_config_has_cgroups(c) ? ", times cgroups + other" : "", TS_LIMIT_INDEXES,
	       TS_LIMIT_SLOT_MIB, mib, per, ncpu > 0 ? ncpu : 1L,
	       ts_config_has_cgroups(c) ? ", lower MaxCgroups" : "",
	       c->rtt ? " or set RTT false" : "");
}

int ts_config_parse(struct ts_config *c, const struct ts_citem *block, ts_msg_fn err,
		    void *ctx)
{
	struct parse_state st = { .c = c, .err = err, .ctx = ctx };
	size_t total;

	side_init(&st.remote, "Subnet", &c->subnets, &c->n_subnets, &c->prefixes,
		  &c->n_prefixes);
	side_init(&st.local, "LocalSubnet", &c->lsubnets, &c->n_lsubnets, &c->lprefixes,
		  &c->n_lprefixes);
	for (int i = 0; block != NULL && i < block->children_num; i++)
		parse_option(&st, &block->children[i]);

	if (st.errors == 0) {
		check_duplicates(&st, &st.remote);
		check_duplicates(&st, &st.local);
	}
	total = c->n_prefixes + c->n_lprefixes;
	if (total > c->max_prefixes)
		report(&st, "MaxPrefixes %zu is exceeded: %zu prefixes are configured; raise "
		       "MaxPrefixes or configure fewer prefixes", c->max_prefixes, total);
	free(st.remote.text);
	free(st.local.text);
	if (st.errors == 0 && c->n_subnets == 0 && ts_config_add_builtin(c) != 0)
		report(&st, "out of memory while adding the built-in subnets");
	if (st.errors == 0) {
		check_written_names(&st, "Subnet", c->subnets, c->n_subnets);
		check_written_names(&st, "LocalSubnet", c->lsubnets, c->n_lsubnets);
		check_pairs(&st);
		check_cgroups(&st);
		check_slots(&st);
	}
	if (st.errors == 0)
		check_values(&st);
	return st.errors;
}

static const struct {
	const char *name;
	const char *prefixes[5];
} builtin[] = {
	{ "loopback", { "127.0.0.0/8", "::1/128" } },
	{ "private", { "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7" } },
	{ "link-local", { "169.254.0.0/16", "fe80::/10" } },
};

int ts_config_add_builtin(struct ts_config *c)
{
	struct side sd;
	char why[256];

	side_init(&sd, "Subnet", &c->subnets, &c->n_subnets, &c->prefixes, &c->n_prefixes);
	sd.text_cap = c->n_prefixes;
	for (size_t i = 0; i < sizeof(builtin) / sizeof(builtin[0]); i++) {
		uint32_t id;

		if (add_subnet(&sd, builtin[i].name, &id) != 0)
			goto fail;
		for (size_t j = 0; j < 5 && builtin[i].prefixes[j]; j++) {
			struct ts_prefix p;

			if (ts_cidr_parse(builtin[i].prefixes[j], &p, why, sizeof(why)) != 0)
				goto fail;
			p.subnet_id = id;
			if (add_prefix(&sd, &p, builtin[i].prefixes[j]) != 0)
				goto fail;
		}
	}
	free(sd.text);
	c->builtin_defaults = true;
	return 0;
fail:
	free(sd.text);
	return -1;
}

const char *ts_config_local_instance(const struct ts_config *c, uint32_t id)
{
	if (id == 0 || id > c->n_lsubnets)
		return TS_UNMATCHED_NAME;
	return c->lsubnets[id - 1].name;
}

size_t ts_config_subnet_index_count(const struct ts_config *c)
{
	return (c->n_lsubnets + 1) * (c->n_subnets + 1);
}

bool ts_config_has_cgroups(const struct ts_config *c)
{
	return c->n_cgpaths > 0;
}

size_t ts_config_cgroup_slots(const struct ts_config *c)
{
	if (!ts_config_has_cgroups(c))
		return 1;
	return 1 + c->n_cgroups + (c->cgroup_each ? c->max_cgroups : 0);
}

size_t ts_config_index_count(const struct ts_config *c)
{
	return ts_config_cgroup_slots(c) * ts_config_subnet_index_count(c);
}

/* The longest subnet instance ("name" or "<local>-to-<remote>"). */
static size_t instance_len(const struct ts_config *c, char *buf, size_t len)
{
	const char *ln, *rn;
	size_t rl = longest_name(c->subnets, c->n_subnets, &rn), ll;

	if (c->n_lsubnets == 0) {
		snprintf(buf, len, "%s", rn);
		return rl;
	}
	ll = longest_name(c->lsubnets, c->n_lsubnets, &ln);
	snprintf(buf, len, "%s-to-%s", ln, rn);
	return ll + 4 + rl;
}

bool ts_config_index_name(const struct ts_config *c, size_t index, char *buf, size_t len)
{
	uint32_t remote = (uint32_t)(index % (c->n_subnets + 1));
	uint32_t local = (uint32_t)(index / (c->n_subnets + 1));

	if (remote == 0 && !c->report_unmatched)
		return false;
	if (c->n_lsubnets == 0)
		snprintf(buf, len, "%s", ts_config_instance(c, remote));
	else
		snprintf(buf, len, "%s-to-%s", ts_config_local_instance(c, local),
			 ts_config_instance(c, remote));
	return true;
}

bool ts_config_port_passes(const struct ts_config *c, bool local, unsigned port)
{
	const uint64_t *bits = local ? c->lport_bits : c->rport_bits;

	if (!(local ? c->lport_filter : c->rport_filter))
		return true;
	return port < 65536 && (bits[port / 64] >> (port % 64)) & 1;
}
