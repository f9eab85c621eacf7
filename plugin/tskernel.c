/* SPDX-License-Identifier: GPL-2.0-only */
/* Kernel facts from text (see tskernel.h). */
#include "tskernel.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int ts_cmdline_arg(const char *cmdline, const char *name, char *out, size_t len)
{
	size_t nl = strlen(name);
	const char *p = cmdline;

	while (p && *p) {
		const char *end;

		while (*p && isspace((unsigned char)*p))
			p++;
		end = p;
		while (*end && !isspace((unsigned char)*end))
			end++;
		if (end - p == 2 && p[0] == '-' && p[1] == '-')
			return -1;
		if ((size_t)(end - p) > nl && strncmp(p, name, nl) == 0 && p[nl] == '=') {
			size_t vl = (size_t)(end - p) - nl - 1;

			if (len == 0)
				return 0;
			if (vl >= len)
				vl = len - 1;
			memcpy(out, p + nl + 1, vl);
			out[vl] = '\0';
			return 0;
		}
		p = end;
	}
	return -1;
}

/* The bracketed or parenthesised word of "none (voluntary) full" / "[none] integrity". */
static int selected_word(const char *text, char open, char close, char *out, size_t len)
{
	const char *a = text ? strchr(text, open) : NULL, *b;

	if (a == NULL || (b = strchr(a + 1, close)) == NULL || (size_t)(b - a - 1) >= len)
		return -1;
	memcpy(out, a + 1, (size_t)(b - a - 1));
	out[b - a - 1] = '\0';
	return 0;
}

static enum ts_preempt model_word(const char *w)
{
	if (strcmp(w, "none") == 0)
		return TS_PREEMPT_NONE;
	if (strcmp(w, "voluntary") == 0)
		return TS_PREEMPT_VOLUNTARY;
	if (strcmp(w, "full") == 0 || strcmp(w, "lazy") == 0)
		return TS_PREEMPT_FULL;
	return TS_PREEMPT_UNKNOWN;
}

/* Whole-word search: "PREEMPT" must not match "PREEMPT_DYNAMIC". */
static int has_word(const char *text, const char *w)
{
	size_t wl = strlen(w);

	for (const char *p = text; p && (p = strstr(p, w)) != NULL; p += wl) {
		int before = p == text || isspace((unsigned char)p[-1]);
		int after = p[wl] == '\0' || isspace((unsigned char)p[wl]);

		if (before && after)
			return 1;
	}
	return 0;
}

static int config_set(const char *config, const char *opt)
{
	char line[128];

	snprintf(line, sizeof(line), "\n%s=y\n", opt);
	return config && (strstr(config, line) != NULL ||
			  strncmp(config, line + 1, strlen(line + 1)) == 0);
}

enum ts_preempt ts_preempt_parse(const struct ts_preempt_src *src, char *how, size_t len)
{
	char w[32];
	enum ts_preempt p;

	if (src->realtime && atoi(src->realtime) == 1) {
		snprintf(how, len, "/sys/kernel/realtime");
		return TS_PREEMPT_RT;
	}
	if (src->uname_version && has_word(src->uname_version, "PREEMPT_RT")) {
		snprintf(how, len, "uname -v");
		return TS_PREEMPT_RT;
	}
	/* PREEMPT_DYNAMIC: the model in force can differ from the build's default. */
	if (src->debugfs && selected_word(src->debugfs, '(', ')', w, sizeof(w)) == 0 &&
	    (p = model_word(w)) != TS_PREEMPT_UNKNOWN) {
		snprintf(how, len, "debugfs sched/preempt");
		return p;
	}
	if (src->cmdline && ts_cmdline_arg(src->cmdline, "preempt", w, sizeof(w)) == 0 &&
	    (p = model_word(w)) != TS_PREEMPT_UNKNOWN) {
		snprintf(how, len, "boot argument preempt=%s", w);
		return p;
	}
	if (src->uname_version && has_word(src->uname_version, "PREEMPT")) {
		snprintf(how, len, "uname -v (CONFIG_PREEMPT)");
		return TS_PREEMPT_FULL;
	}
	if (src->config) {
		snprintf(how, len, "kernel config");
		if (config_set(src->config, "CONFIG_PREEMPT_RT"))
			return TS_PREEMPT_RT;
		if (config_set(src->config, "CONFIG_PREEMPT"))
			return TS_PREEMPT_FULL;
		if (config_set(src->config, "CONFIG_PREEMPT_VOLUNTARY"))
			return TS_PREEMPT_VOLUNTARY;
		if (config_set(src->config, "CONFIG_PREEMPT_NONE"))
			return TS_PREEMPT_NONE;
	}
	if (src->uname_version && !has_word(src->uname_version, "PREEMPT_DYNAMIC")) {
		/* Neither PREEMPT nor PREEMPT_DYNAMIC in the version: a non-preemptible build. */
		snprintf(how, len, "uname -v (no PREEMPT)");
		return TS_PREEMPT_VOLUNTARY;
	}
	snprintf(how, len, "PREEMPT_DYNAMIC kernel without readable debugfs, preempt= or "
		 "config");
	return TS_PREEMPT_UNKNOWN;
}

const char *ts_preempt_name(enum ts_preempt p)
{
	static const char *const names[] = {
		[TS_PREEMPT_UNKNOWN] = "unknown",
		[TS_PREEMPT_NONE] = "none",
		[TS_PREEMPT_VOLUNTARY] = "voluntary",
		[TS_PREEMPT_FULL] = "full",
		[TS_PREEMPT_RT] = "PREEMPT_RT",
	};

	return p <= TS_PREEMPT_RT ? names[p] : "unknown";
}

int ts_preempt_trampolines_lossy(enum ts_preempt p)
{
	return p != TS_PREEMPT_NONE && p != TS_PREEMPT_VOLUNTARY;
}

enum ts_lockdown ts_lockdown_parse(const char *securityfs, const char *cmdline)
{
	char w[32];

	/* Without securityfs, no lockdown= argument does not mean none (secure boot). */
	if (!(securityfs && selected_word(securityfs, '[', ']', w, sizeof(w)) == 0) &&
	    !(cmdline && ts_cmdline_arg(cmdline, "lockdown", w, sizeof(w)) == 0))
		return TS_LOCKDOWN_UNKNOWN;
	if (strcmp(w, "integrity") == 0)
		return TS_LOCKDOWN_INTEGRITY;
	if (strcmp(w, "confidentiality") == 0)
		return TS_LOCKDOWN_CONFIDENTIALITY;
	return TS_LOCKDOWN_NONE;
}

const char *ts_lockdown_name(enum ts_lockdown l)
{
	switch (l) {
	case TS_LOCKDOWN_NONE:
		return "none";
	case TS_LOCKDOWN_INTEGRITY:
		return "integrity";
	case TS_LOCKDOWN_CONFIDENTIALITY:
		return "confidentiality";
	default:
		return "unknown";
	}
}

int ts_kprobe_profile_misses(const char *profile, const char *prefix, uint64_t *misses)
{
	size_t pl = strlen(prefix);
	int n = 0;

	*misses = 0;
	for (const char *line = profile; line && *line;) {
		const char *nl = strchr(line, '\n');
		char name[256];
		uint64_t hits, miss;

		if (sscanf(line, "%255s %" SCNu64 " %" SCNu64, name, &hits, &miss) == 3 &&
		    strncmp(name, prefix, pl) == 0) {
			*misses += miss;
			n++;
		}
		line = nl ? nl + 1 : NULL;
	}
	return n;
}
