/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * collectd's configuration tree (liboconfig's oconfig_item_t, a plain data header)
 * mirrored into tsconf's struct ts_citem. Apart from the glue so that the Check tests
 * can run it with an allocator that fails.
 */
#ifndef TSOCONF_H
#define TSOCONF_H

#include <stddef.h>

#include "liboconfig/oconfig.h"
#include "tsconf.h"

typedef void *(*ts_calloc_fn)(size_t n, size_t size);

/*
 * Converts n items (strings stay owned by collectd). NULL when an allocation fails;
 * then everything allocated so far is freed.
 */
struct ts_citem *ts_oconfig_convert(const oconfig_item_t *ci, int n, ts_calloc_fn alloc);

/* Frees what ts_oconfig_convert returned (NULL is fine). */
void ts_citems_free(struct ts_citem *items, int n);

#endif /* TSOCONF_H */
