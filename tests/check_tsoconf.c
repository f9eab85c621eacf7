/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Converting collectd's configuration tree (plugin/tsoconf.c) when memory runs out:
 * every allocation in turn fails; the conversion must return NULL without touching
 * freed or NULL memory (a crash here would take collectd down with the plugin), and a
 * conversion without failures must copy the tree exactly.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "tsoconf.h"

static int calls, fail_at;

static void *failing_calloc(size_t n, size_t size)
{
	return ++calls == fail_at ? NULL : calloc(n, size);
}

static oconfig_value_t str(const char *s)
{
	oconfig_value_t v = { .type = OCONFIG_TYPE_STRING };

	v.value.string = (char *)s;
	return v;
}

/* <Plugin tcpsubnet> <Subnet "a"> Prefix "10.0.0.0/8" Prefix "::1/128" </Subnet> RTT true </Plugin> */
static oconfig_value_t v_plugin[1], v_subnet[1], v_p1[1], v_p2[1], v_rtt[1];
static oconfig_item_t subnet_children[2], plugin_children[2], root[1];

static void build_tree(void)
{
	v_plugin[0] = str("tcpsubnet");
	v_subnet[0] = str("a");
	v_p1[0] = str("10.0.0.0/8");
	v_p2[0] = str("::1/128");
	v_rtt[0].type = OCONFIG_TYPE_BOOLEAN;
	v_rtt[0].value.boolean = 1;
	subnet_children[0] = (oconfig_item_t){ .key = "Prefix", .values = v_p1, .values_num = 1 };
	subnet_children[1] = (oconfig_item_t){ .key = "Prefix", .values = v_p2, .values_num = 1 };
	plugin_children[0] = (oconfig_item_t){ .key = "Subnet", .values = v_subnet,
					       .values_num = 1, .children = subnet_children,
					       .children_num = 2 };
	plugin_children[1] = (oconfig_item_t){ .key = "RTT", .values = v_rtt, .values_num = 1 };
	root[0] = (oconfig_item_t){ .key = "Plugin", .values = v_plugin, .values_num = 1,
				    .children = plugin_children, .children_num = 2 };
}

START_TEST(convert_copies_the_tree)
{
	struct ts_citem *c;

	build_tree();
	calls = 0;
	fail_at = -1;
	c = ts_oconfig_convert(root, 1, failing_calloc);
	ck_assert_ptr_nonnull(c);
	ck_assert_str_eq(c[0].key, "Plugin");
	ck_assert_int_eq(c[0].children_num, 2);
	ck_assert_str_eq(c[0].children[0].key, "Subnet");
	ck_assert_str_eq(c[0].children[0].values[0].string, "a");
	ck_assert_int_eq(c[0].children[0].children_num, 2);
	ck_assert_str_eq(c[0].children[0].children[1].values[0].string, "::1/128");
	ck_assert_int_eq(c[0].children[1].values[0].type, TS_CV_BOOLEAN);
	ck_assert(c[0].children[1].values[0].boolean);
	ts_citems_free(c, 1);
}
END_TEST

/* Every allocation of the conversion fails once, in turn. */
START_TEST(convert_survives_every_failed_allocation)
{
	int total;

	build_tree();
	calls = 0;
	fail_at = -1;
	ts_citems_free(ts_oconfig_convert(root, 1, failing_calloc), 1);
	total = calls;
	ck_assert_int_gt(total, 5);
	for (fail_at = 1; fail_at <= total; fail_at++) {
		calls = 0;
		ck_assert_ptr_null(ts_oconfig_convert(root, 1, failing_calloc));
	}
}
END_TEST

int main(void)
{
	Suite *s = suite_create("tsoconf");
	TCase *tc = tcase_create("convert");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, convert_copies_the_tree);
	tcase_add_test(tc, convert_survives_every_failed_allocation);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
