/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Cgroup paths and patterns -> cgroup id -> slot, once per read cycle (see tscgroup.h).
 *
 * The kernel records in every socket the cgroup v2 of the process that created it; the
 * BPF programs look that id up in a hash this file's mapping fills. Rather than walking
 * a socket's ancestors in BPF (per event, in every mode), user space maps every cgroup
 * under a configured path to its block once per cycle: the walk costs a readdir per
 * cgroup directory below configured paths, and the kernel does one hash lookup per
 * socket (typed modes, with the memo) or per event (kprobe mode).
 */
#include "tscgroup.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define TS_WARNED_MAX 256

/* A directory a configured path or pattern matched this walk. */
struct match {
	char *path;	 /* relative to the root, "" for the root itself */
	size_t cgpath;	 /* index into c->cgpaths */
	uint32_t slot;	 /* 0: no slot of its own (its subtree keeps its ancestors' owner) */
};

/* A CgroupEach slot: which cgroup holds it. */
struct pslot {
	char *path;	 /* NULL: free */
	char name[TS_NAME_MAX + 1];
	unsigned freed_at; /* the walk that freed it; reused two walks later */
	bool seen;
};

struct entry {
	uint64_t id;
	uint32_t slot;
	uint32_t seq;
};

struct ts_cgstate {
	const struct ts_config *c;
	char root[TS_CGROUP_PATH_MAX + 256];
	unsigned walk;
	size_t n_slots, first_each;
	const char **names;
	bool *fresh;
	struct ts_cgview view;
	struct pslot *ps;
	struct match *m;
	size_t n_m, cap_m;
	struct entry *work;
	size_t n_work, cap_work;
	struct ts_cgid *cur, *prev;
	size_t n_cur, n_prev, cap_cur, cap_prev;
	bool *matched_once; /* per cgpath: matched something on some walk */
	char *warned[TS_WARNED_MAX];
	size_t n_warned;
	bool too_many_warned;
	ts_msg_fn warn;
	void *ctx;
};

static void say(struct ts_cgstate *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void say(struct ts_cgstate *s, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	ts_vreport(s->warn, s->ctx, fmt, ap);
	va_end(ap);
}

/* Warnings about one cgroup directory, once per directory (a bounded list). */
static bool first_warning(struct ts_cgstate *s, const char *path)
{
	for (size_t i = 0; i < s->n_warned; i++)
		if (strcmp(s->warned[i], path) == 0)
			return false;
	if (s->n_warned == TS_WARNED_MAX)
		return false;
	s->warned[s->n_warned] = strdup(path);
	if (s->warned[s->n_warned] == NULL)
		return false;
	if (++s->n_warned == TS_WARNED_MAX)
		say(s, "more cgroup warnings than %d; no further ones are logged", TS_WARNED_MAX);
	return true;
}

static int unoctal(const char *in, char *out, size_t len)
{
	size_t o = 0;

	for (const char *p = in; *p; p++) {
		char ch = *p;

		if (p[0] == '\\' && p[1] >= '0' && p[1] <= '3' && p[2] >= '0' && p[2] <= '7' &&
		    p[3] >= '0' && p[3] <= '7') {
			ch = (char)((p[1] - '0') * 64 + (p[2] - '0') * 8 + (p[3] - '0'));
			p += 3;
		}
		if (o + 1 >= len)
			return -1;
		out[o++] = ch;
	}
	out[o] = '\0';
	return 0;
}

int ts_cgroup_mount_parse(const char *mountinfo, char *out, size_t len)
{
	const char *line = mountinfo;

	while (line && *line) {
		const char *end = strchr(line, '\n');
		size_t n = end ? (size_t)(end - line) : strlen(line);
		char buf[2048], mnt[1024], type[64];
		const char *sep;

		if (n < sizeof(buf)) {
			memcpy(buf, line, n);
			buf[n] = '\0';
			/* "41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw" */
			sep = strstr(buf, " - ");
			if (sep && sscanf(buf, "%*s %*s %*s %*s %1023s", mnt) == 1 &&
			    sscanf(sep + 3, "%63s", type) == 1 && strcmp(type, "cgroup2") == 0)
				return unoctal(mnt, out, len);
		}
		line = end ? end + 1 : NULL;
	}
	return -1;
}

void ts_cgroup_instance_name(const char *component, char *out, size_t len)
{
	size_t i;

	for (i = 0; component[i] && i < TS_NAME_MAX && i + 1 < len; i++) {
		unsigned char ch = (unsigned char)component[i];

		out[i] = isascii(ch) && (isalnum(ch) || ch == '.' || ch == '_' || ch == '-') ?
				 (char)ch : '_';
	}
	out[i] = '\0';
	if (strcmp(out, TS_UNMATCHED_NAME) == 0 && len > sizeof(TS_UNMATCHED_NAME))
		snprintf(out, len, "%s_", TS_UNMATCHED_NAME);
}

struct ts_cgstate *ts_cgroup_new(const struct ts_config *c, const char *root)
{
	struct ts_cgstate *s = calloc(1, sizeof(*s));

	if (s == NULL)
		return NULL;
	s->c = c;
	snprintf(s->root, sizeof(s->root), "%s", root);
	s->n_slots = ts_config_cgroup_slots(c);
	s->first_each = 1 + c->n_cgroups;
	s->names = calloc(s->n_slots, sizeof(*s->names));
	s->fresh = calloc(s->n_slots, sizeof(*s->fresh));
	s->ps = calloc(c->cgroup_each ? c->max_cgroups : 1, sizeof(*s->ps));
	s->matched_once = calloc(c->n_cgpaths + 1, sizeof(*s->matched_once));
	if (!s->names || !s->fresh || !s->ps || !s->matched_once) {
		ts_cgroup_free(s);
		return NULL;
	}
	s->view.n_slots = s->n_slots;
	s->view.name = s->names;
	s->view.fresh = s->fresh;
	return s;
}

static void clear_matches(struct ts_cgstate *s)
{
	for (size_t i = 0; i < s->n_m; i++)
		free(s->m[i].path);
	s->n_m = 0;
}

void ts_cgroup_free(struct ts_cgstate *s)
{
	if (s == NULL)
		return;
	clear_matches(s);
	free(s->m);
	if (s->ps)
		for (size_t i = 0; i < (s->c->cgroup_each ? s->c->max_cgroups : 1); i++)
			free(s->ps[i].path);
	for (size_t i = 0; i < s->n_warned; i++)
		free(s->warned[i]);
	free(s->ps);
	free(s->names);
	free(s->fresh);
	free(s->work);
	free(s->cur);
	free(s->prev);
	free(s->matched_once);
	free(s);
}

/* Room for one more element in a growing array; 0 or -1 (the array stays). */
static int grow(void **arr, size_t *cap, size_t n, size_t elem)
{
	size_t ncap = *cap ? 2 * *cap : 64;
	void *na;

	if (n < *cap)
		return 0;
	na = realloc(*arr, ncap * elem);
	if (na == NULL)
		return -1;
	*arr = na;
	*cap = ncap;
	return 0;
}

static int add_match(struct ts_cgstate *s, const char *path, size_t cgpath)
{
	if (grow((void **)&s->m, &s->cap_m, s->n_m, sizeof(*s->m)) != 0)
		return -1;
	s->m[s->n_m].path = strdup(path);
	if (s->m[s->n_m].path == NULL)
		return -1;
	s->m[s->n_m].cgpath = cgpath;
	s->m[s->n_m].slot = 0;
	s->n_m++;
	return 0;
}

static bool is_dir(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* A directory entry that can be a child cgroup (cgroupfs fills d_type). */
static bool maybe_subdir(const struct dirent *d)
{
	if (d->d_name[0] == '.' &&
	    (d->d_name[1] == '\0' || (d->d_name[1] == '.' && d->d_name[2] == '\0')))
		return false;
	return d->d_type == DT_DIR || d->d_type == DT_UNKNOWN;
}

/* '*' is the only pattern character: the others of fnmatch() match themselves. */
static void glob_escape(const char *comp, size_t n, char *out, size_t len)
{
	size_t o = 0;

	for (size_t i = 0; i < n && o + 2 < len; i++) {
		if (comp[i] == '?' || comp[i] == '[' || comp[i] == '\\')
			out[o++] = '\\';
		out[o++] = comp[i];
	}
	out[o] = '\0';
}

/* Matches the components of pattern from rest on, below the directory rel. */
static int expand(struct ts_cgstate *s, const char *rel, const char *rest, size_t cgpath)
{
	char full[sizeof(s->root) + TS_CGROUP_PATH_MAX + 2], next[TS_CGROUP_PATH_MAX + 2];
	char pat[2 * TS_CGROUP_PATH_MAX + 2];
	const char *comp, *end;
	struct dirent *d;
	size_t n;
	DIR *dir;
	int rc = 0;

	if (*rest == '\0')
		return add_match(s, rel, cgpath);
	comp = rest + 1; /* past '/' */
	end = strchr(comp, '/');
	n = end ? (size_t)(end - comp) : strlen(comp);
	end = comp + n;
	if (memchr(comp, '*', n) == NULL) {
		snprintf(next, sizeof(next), "%s/%.*s", rel, (int)n, comp);
		snprintf(full, sizeof(full), "%s%s", s->root, next);
		return is_dir(full) ? expand(s, next, end, cgpath) : 0;
	}
	glob_escape(comp, n, pat, sizeof(pat));
	snprintf(full, sizeof(full), "%s%s", s->root, rel);
	dir = opendir(full);
	if (dir == NULL)
		return 0; /* gone meanwhile, or not a directory */
	while (rc == 0 && (d = readdir(dir)) != NULL) {
		if (!maybe_subdir(d))
			continue;
		if (fnmatch(pat, d->d_name, 0) != 0)
			continue;
		snprintf(next, sizeof(next), "%s/%s", rel, d->d_name);
		snprintf(full, sizeof(full), "%s%s", s->root, next);
		if (d->d_type == DT_UNKNOWN && !is_dir(full))
			continue;
		rc = expand(s, next, end, cgpath);
	}
	closedir(dir);
	return rc;
}

static int add_entry(struct ts_cgstate *s, uint64_t id, uint32_t slot)
{
	if (s->n_work >= TS_CGROUP_MAX_IDS) {
		if (!s->too_many_warned)
			say(s, "more than %d cgroups lie under the configured Cgroup paths; the "
			    "others count as their nearest mapped ancestor or \"other\": configure "
			    "narrower paths", TS_CGROUP_MAX_IDS);
		s->too_many_warned = true;
		return 0;
	}
	if (grow((void **)&s->work, &s->cap_work, s->n_work, sizeof(*s->work)) != 0)
		return -1;
	s->work[s->n_work].id = id;
	s->work[s->n_work].slot = slot;
	s->work[s->n_work].seq = (uint32_t)s->n_work;
	s->n_work++;
	return 0;
}

/* The directory rel and everything below it belong to slot (deeper matches come later). */
static int walk_subtree(struct ts_cgstate *s, const char *rel, uint32_t slot, unsigned depth)
{
	char full[sizeof(s->root) + TS_CGROUP_PATH_MAX + 2], next[TS_CGROUP_PATH_MAX + 2];
	struct dirent *d;
	struct stat st;
	DIR *dir;
	int rc = 0;

	snprintf(full, sizeof(full), "%s%s", s->root, rel);
	if (depth > 64 || stat(full, &st) != 0 || !S_ISDIR(st.st_mode))
		return 0;
	if (add_entry(s, (uint64_t)st.st_ino, slot) != 0)
		return -1;
	dir = opendir(full);
	if (dir == NULL)
		return 0;
	while (rc == 0 && (d = readdir(dir)) != NULL) {
		if (!maybe_subdir(d))
			continue;
		if ((size_t)snprintf(next, sizeof(next), "%s/%s", rel, d->d_name) >= sizeof(next))
			continue;
		rc = walk_subtree(s, next, slot, depth + 1);
	}
	closedir(dir);
	return rc;
}

static void written(const char *name, char *out, size_t len)
{
	size_t i;

	for (i = 0; name[i] && i + 1 < len; i++)
		out[i] = name[i] == '.' || name[i] == '/' ? '_' : name[i];
	out[i] = '\0';
}

/* Whether a CgroupEach name would be one series with a name already in use. */
static const char *name_taken(const struct ts_cgstate *s, const char *name)
{
	const struct ts_config *c = s->c;
	char w[TS_NAME_MAX + 1], o[TS_NAME_MAX + 1];

	written(name, w, sizeof(w));
	written(TS_UNMATCHED_NAME, o, sizeof(o));
	if (strcmp(w, o) == 0)
		return TS_UNMATCHED_NAME;
	for (size_t i = 0; i < c->n_cgroups; i++) {
		written(c->cgroups[i].name, o, sizeof(o));
		if (strcmp(w, o) == 0)
			return c->cgroups[i].name;
	}
	for (size_t i = 0; i < c->max_cgroups; i++) {
		if (s->ps[i].path == NULL)
			continue;
		written(s->ps[i].name, o, sizeof(o));
		if (strcmp(w, o) == 0)
			return s->ps[i].path;
	}
	return NULL;
}

/* The CgroupEach slot of a matched directory: kept by path, else a free one. */
static uint32_t each_slot(struct ts_cgstate *s, const struct match *m)
{
	const struct ts_config *c = s->c;
	const char *last = strrchr(m->path, '/') + 1, *taken;
	char name[TS_NAME_MAX + 1];
	size_t i, free_i = c->max_cgroups;

	for (i = 0; i < c->max_cgroups; i++) {
		if (s->ps[i].path && strcmp(s->ps[i].path, m->path) == 0) {
			s->ps[i].seen = true;
			return (uint32_t)(s->first_each + i);
		}
		if (s->ps[i].path == NULL && free_i == c->max_cgroups &&
		    (s->ps[i].freed_at == 0 || s->walk >= s->ps[i].freed_at + 2))
			free_i = i;
	}
	ts_cgroup_instance_name(last, name, sizeof(name));
	if ((taken = name_taken(s, name)) != NULL) {
		if (first_warning(s, m->path))
			say(s, "CgroupEach \"%.64s\": cgroup \"%.96s\" would be instance \"%s\", "
			    "which \"%.96s\" already is; it counts with its nearest configured "
			    "ancestor or \"other\": narrow the pattern",
			    c->cgpaths[m->cgpath].path, m->path, name, taken);
		return 0;
	}
	if (free_i == c->max_cgroups) {
		if (first_warning(s, m->path))
			say(s, "MaxCgroups %zu reached: cgroup \"%.96s\" (CgroupEach \"%.64s\") "
			    "counts with its nearest configured ancestor or \"other\"; raise "
			    "MaxCgroups", c->max_cgroups, m->path, c->cgpaths[m->cgpath].path);
		return 0;
	}
	s->ps[free_i].path = strdup(m->path);
	if (s->ps[free_i].path == NULL)
		return 0;
	snprintf(s->ps[free_i].name, sizeof(s->ps[free_i].name), "%s", name);
	s->ps[free_i].seen = true;
	s->fresh[s->first_each + free_i] = true;
	return (uint32_t)(s->first_each + free_i);
}

static const struct ts_cgstate *sort_state;

/* Shallow first; at equal depth the path listed first last, so it wins. */
static int cmp_match(const void *a, const void *b)
{
	const struct match *ma = a, *mb = b;
	const struct ts_cgpath *pa = &sort_state->c->cgpaths[ma->cgpath];
	const struct ts_cgpath *pb = &sort_state->c->cgpaths[mb->cgpath];

	if (pa->depth != pb->depth)
		return pa->depth < pb->depth ? -1 : 1;
	if (ma->cgpath != mb->cgpath)
		return ma->cgpath > mb->cgpath ? -1 : 1;
	return strcmp(ma->path, mb->path);
}

static int cmp_entry(const void *a, const void *b)
{
	const struct entry *ea = a, *eb = b;

	if (ea->id != eb->id)
		return ea->id < eb->id ? -1 : 1;
	return (ea->seq > eb->seq) - (ea->seq < eb->seq);
}

int ts_cgroup_scan(struct ts_cgstate *s, ts_msg_fn warn, void *ctx)
{
	const struct ts_config *c = s->c;
	struct ts_cgid *t;
	size_t n;

	s->warn = warn;
	s->ctx = ctx;
	s->walk++;
	clear_matches(s);
	memset(s->fresh, 0, s->n_slots * sizeof(*s->fresh));
	for (size_t i = 0; i < c->n_cgpaths; i++) {
		size_t before = s->n_m;

		if (expand(s, "", strcmp(c->cgpaths[i].path, "/") ? c->cgpaths[i].path : "",
			   i) != 0)
			return -1;
		if (s->n_m > before) {
			s->matched_once[i] = true;
		} else if (s->walk == 1) {
			char label[192];

			if (c->cgpaths[i].cgroup)
				snprintf(label, sizeof(label), "Path \"%.48s\" of Cgroup \"%s\"",
					 c->cgpaths[i].path, c->cgroups[c->cgpaths[i].cgroup - 1].name);
			else
				snprintf(label, sizeof(label), "CgroupEach \"%.48s\"",
					 c->cgpaths[i].path);
			say(s, "%s matches no cgroup under %s yet; its sockets are counted once "
			    "such a cgroup exists", label, s->root);
		}
	}
	for (size_t i = 0; c->cgroup_each && i < c->max_cgroups; i++)
		s->ps[i].seen = false;
	for (size_t i = 0; i < s->n_m; i++) {
		uint32_t owner = c->cgpaths[s->m[i].cgpath].cgroup;

		s->m[i].slot = owner ? owner : each_slot(s, &s->m[i]);
	}
	for (size_t i = 0; c->cgroup_each && i < c->max_cgroups; i++) {
		if (s->ps[i].path && !s->ps[i].seen) {
			free(s->ps[i].path);
			s->ps[i].path = NULL;
			s->ps[i].freed_at = s->walk;
		}
	}
	sort_state = s;
	qsort(s->m, s->n_m, sizeof(*s->m), cmp_match);
	s->n_work = 0;
	for (size_t i = 0; i < s->n_m; i++)
		if (s->m[i].slot && walk_subtree(s, s->m[i].path, s->m[i].slot, 0) != 0)
			return -1;
	qsort(s->work, s->n_work, sizeof(*s->work), cmp_entry);

	/* The previous mapping becomes prev; the last entry of each id (deepest) wins. */
	if (s->cap_prev < s->n_work + 1) {
		t = realloc(s->prev, (s->n_work + 1) * sizeof(*t));
		if (t == NULL)
			return -1;
		s->prev = t;
		s->cap_prev = s->n_work + 1;
	}
	t = s->prev;
	s->prev = s->cur;
	s->cur = t;
	n = s->cap_prev;
	s->cap_prev = s->cap_cur;
	s->cap_cur = n;
	s->n_prev = s->n_cur;
	s->n_cur = 0;
	for (size_t i = 0; i < s->n_work; i++) {
		if (i + 1 < s->n_work && s->work[i + 1].id == s->work[i].id)
			continue;
		s->cur[s->n_cur].id = s->work[i].id;
		s->cur[s->n_cur].slot = s->work[i].slot;
		s->n_cur++;
	}

	s->names[0] = c->report_other_cgroup ? TS_UNMATCHED_NAME : NULL;
	for (size_t i = 0; i < c->n_cgroups; i++)
		s->names[1 + i] = c->cgroups[i].name;
	for (size_t i = 0; c->cgroup_each && i < c->max_cgroups; i++)
		s->names[s->first_each + i] = s->ps[i].path ? s->ps[i].name : NULL;
	return 0;
}

size_t ts_cgroup_changes(const struct ts_cgstate *s, ts_cgid_fn fn, void *ctx)
{
	size_t i = 0, j = 0, calls = 0;

	while (i < s->n_cur || j < s->n_prev) {
		if (j == s->n_prev || (i < s->n_cur && s->cur[i].id < s->prev[j].id)) {
			fn(ctx, s->cur[i].id, s->cur[i].slot, false);
			i++;
		} else if (i == s->n_cur || s->prev[j].id < s->cur[i].id) {
			fn(ctx, s->prev[j].id, 0, true);
			j++;
		} else {
			if (s->cur[i].slot != s->prev[j].slot) {
				fn(ctx, s->cur[i].id, s->cur[i].slot, false);
				calls++;
			}
			i++;
			j++;
			continue;
		}
		calls++;
	}
	return calls;
}

const struct ts_cgid *ts_cgroup_ids(const struct ts_cgstate *s, size_t *n)
{
	*n = s->n_cur;
	return s->cur;
}

const struct ts_cgview *ts_cgroup_view(const struct ts_cgstate *s)
{
	return &s->view;
}
