/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Cgroups at run time (pure C, libc only, so the Check tests drive it on a directory
 * tree of their own): find the cgroup2 mount, walk the configured Cgroup paths and
 * CgroupEach patterns under it each read cycle, and turn what exists into cgroup id ->
 * cgroup slot entries for the kernel's cgroup_slots hash, plus the names of the slots
 * to dispatch. A cgroup's id is the inode number of its directory (cgroup2 on 64-bit).
 */
#ifndef TSCGROUP_H
#define TSCGROUP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tsconf.h"

/* Bound on cgroup directories mapped (the kernel hash's max_entries). */
#define TS_CGROUP_MAX_IDS 65536

struct ts_cgid {
	uint64_t id;
	uint32_t slot;
};

/* What a read cycle dispatches per cgroup slot (ts_config_cgroup_slots() of them). */
struct ts_cgview {
	size_t n_slots;
	const char *const *name; /* NULL: the slot is not dispatched this cycle */
	const bool *fresh;	 /* given to another cgroup this cycle: new baseline */
};

struct ts_cgstate;

/*
 * The mount point of the first cgroup2 filesystem in mountinfo text (octal escapes of
 * the kernel undone). Returns 0, or -1 when there is none.
 */
int ts_cgroup_mount_parse(const char *mountinfo, char *out, size_t len);

/* The instance name CgroupEach gives a cgroup directory: bytes outside [A-Za-z0-9._-]
 * become '_', at most TS_NAME_MAX characters, "other" becomes "other_". */
void ts_cgroup_instance_name(const char *component, char *out, size_t len);

/* A state for configuration c (kept by reference) and cgroup2 root directory root. */
struct ts_cgstate *ts_cgroup_new(const struct ts_config *c, const char *root);
void ts_cgroup_free(struct ts_cgstate *s);

/*
 * Walks the hierarchy once. Warnings (a path that matches nothing on the first walk,
 * MaxCgroups reached, a name taken, too many cgroups) go to warn, each once. Returns 0,
 * or -1 when memory ran out (the previous mapping stays).
 */
int ts_cgroup_scan(struct ts_cgstate *s, ts_msg_fn warn, void *ctx);

/*
 * The mapping of the last walk against the one before it: fn is called for each id to
 * add or change (remove false) and each id gone (remove true). Returns the number of
 * calls.
 */
typedef void (*ts_cgid_fn)(void *ctx, uint64_t id, uint32_t slot, bool remove);
size_t ts_cgroup_changes(const struct ts_cgstate *s, ts_cgid_fn fn, void *ctx);

/* The last walk's mapping, sorted by id; and the slots to dispatch. */
const struct ts_cgid *ts_cgroup_ids(const struct ts_cgstate *s, size_t *n);
const struct ts_cgview *ts_cgroup_view(const struct ts_cgstate *s);

#endif /* TSCGROUP_H */
