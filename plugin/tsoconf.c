/* SPDX-License-Identifier: GPL-2.0-only */
/* oconfig_item_t -> struct ts_citem (see tsoconf.h). */
#include "tsoconf.h"

#include <stdlib.h>

void ts_citems_free(struct ts_citem *items, int n)
{
	if (items == NULL)
		return;
	for (int i = 0; i < n; i++) {
		free((void *)items[i].values);
		/* children_num is only set once children exist (see below). */
		ts_citems_free((struct ts_citem *)items[i].children, items[i].children_num);
	}
	free(items);
}

struct ts_citem *ts_oconfig_convert(const oconfig_item_t *ci, int n, ts_calloc_fn alloc)
{
	struct ts_citem *items = alloc(n > 0 ? (size_t)n : 1, sizeof(*items));

	if (items == NULL)
		return NULL;
	for (int i = 0; i < n; i++) {
		struct ts_cval *v = alloc(ci[i].values_num > 0 ? (size_t)ci[i].values_num : 1,
					  sizeof(*v));

		items[i].key = ci[i].key;
		items[i].values = v;
		if (v == NULL)
			goto fail;
		items[i].values_num = ci[i].values_num;
		for (int j = 0; j < ci[i].values_num; j++) {
			const oconfig_value_t *ov = &ci[i].values[j];

			if (ov->type == OCONFIG_TYPE_STRING) {
				v[j].type = TS_CV_STRING;
				v[j].string = ov->value.string;
			} else if (ov->type == OCONFIG_TYPE_NUMBER) {
				v[j].type = TS_CV_NUMBER;
				v[j].number = ov->value.number;
			} else {
				v[j].type = TS_CV_BOOLEAN;
				v[j].boolean = ov->value.boolean != 0;
			}
		}
		/*
		 * The count goes in only with the array: a failed child conversion must not
		 * leave a count for the cleanup to walk over a NULL array.
		 */
		items[i].children = ts_oconfig_convert(ci[i].children, ci[i].children_num, alloc);
		if (items[i].children == NULL)
			goto fail;
		items[i].children_num = ci[i].children_num;
	}
	return items;
fail:
	ts_citems_free(items, n);
	return NULL;
}
