/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * san-control MODE: commits one memory error on purpose, so tests/sanitizers.sh and
 * tests/valgrind.sh can show that their tools catch it in this build and on this
 * machine (a sanitizer runtime that cannot work, e.g. LeakSanitizer under a ptrace
 * restriction, would otherwise pass everything silently). MODE: ok, leak, overflow,
 * ubsan, uninit. Exits 0 when the error went unnoticed.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void *volatile sink;

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "ok";
	/* Sizes and values from the command line, so the compiler cannot see the error. */
	volatile int n = argc + 6;

	if (strcmp(mode, "leak") == 0) {
		char *p = malloc((size_t)n * 1000);

		if (p != NULL)
			memset(p, 1, (size_t)n * 1000);
		sink = p;
		sink = NULL; /* the only pointer is gone: definitely lost */
	} else if (strcmp(mode, "overflow") == 0) {
		char *p = malloc((size_t)n);

		if (p == NULL)
			return 1;
		memset(p, 0, (size_t)n);
		printf("%d\n", p[n]); /* one past the end */
		free(p);
	} else if (strcmp(mode, "ubsan") == 0) {
		volatile int big = INT_MAX - 1 + (argc - 2);

		printf("%d\n", big + n); /* signed overflow */
	} else if (strcmp(mode, "uninit") == 0) {
		int *p = malloc(sizeof(*p) * (size_t)n);
		int *volatile q = p; /* hides the read from the compiler's own warning */

		if (p == NULL)
			return 1;
		if (q[argc] > 0) /* never written */
			puts("positive");
		free(p);
	}
	return 0;
}
