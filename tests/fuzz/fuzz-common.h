/* SPDX-License-Identifier: GPL-2.0-only */
/* What both fuzz targets assert about the plugin's output. */
#ifndef TS_FUZZ_COMMON_H
#define TS_FUZZ_COMMON_H

#include <stdio.h>
#include <stdlib.h>

/* abort() so libFuzzer keeps the input as a reproducer. */
#define require(cond)                                                                    \
	do {                                                                             \
		if (!(cond)) {                                                           \
			fprintf(stderr, "invariant broken: %s (%s:%d)\n", #cond, __FILE__, \
				__LINE__);                                               \
			abort();                                                         \
		}                                                                        \
	} while (0)

/*
 * One log line: not empty, and no control byte whatever the input holds (tsconf.c
 * escapes them; collectd allows a newline inside a quoted string, finding F1 in
 * docs/RELIABILITY.md).
 */
static inline int line_ok(const char *line)
{
	if (line[0] == '\0')
		return 0;
	for (const unsigned char *p = (const unsigned char *)line; *p; p++)
		if (*p < 0x20 || *p == 0x7f)
			return 0;
	return 1;
}

#endif
