/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * A small reader of collectd's config syntax into struct ts_citem, so tests and tools
 * can write configurations as text instead of building trees by hand.
 */
#ifndef CFGTEXT_H
#define CFGTEXT_H

#include "tsconf.h"

/*
 * Parses text (the lines inside <Plugin tcpsubnet>) into a root item whose children are
 * those lines. Returns NULL on a syntax error, with a message in err.
 */
struct ts_citem *cfgtext_parse(const char *text, char *err, size_t err_len);
void cfgtext_free(struct ts_citem *root);

/* A whole file as a NUL-terminated string (free() it); NULL with errno set on failure. */
char *cfgtext_read_file(const char *path);

#endif
