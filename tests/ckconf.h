/* SPDX-License-Identifier: GPL-2.0-only */
/* Helpers of the Check tests that parse configuration text (tests/check_ts*.c). */
#ifndef CKCONF_H
#define CKCONF_H

#include "tsconf.h"

/* The error lines of one parse, each checked to be one line. */
struct errs {
	int n;
	char text[8192];
};

/* A ts_msg_fn collecting into a struct errs. */
void collect(void *ctx, const char *line);

/* Parses config text; returns the number of errors, collected in e. */
int parse(const char *text, struct ts_config *c, struct errs *e);

/* Expects exactly one error containing every given fragment (frag2 may be NULL). */
void expect_error(const char *text, const char *frag1, const char *frag2);

#endif /* CKCONF_H */
