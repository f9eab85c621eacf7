/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Unit tests of the cgroup dimension: Cgroup/CgroupEach parsing and naming (tsconf.c),
 * values joined as "<cgroup>~<instance>" (tsvalues.c), the cgroup2 mount from
 * mountinfo and the walk of a directory tree standing in for cgroupfs (tscgroup.c;
 * a cgroup's id is its directory's inode number there as on cgroup2).
 */
#define _GNU_SOURCE
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cfgtext.h"
#include "ckconf.h"
#include "tscgroup.h"
#include "tsconf.h"
#include "tsvalues.h"

#define SUBNETS "Subnet \"10.1.0.0/16\"\n<Subnet \"db\">\n Prefix \"10.2.0.0/16\"\n</Subnet>\n"

START_TEST(cgroup_blocks_and_shorthand_parse)
{
	struct ts_config c;
	struct errs e;

	ck_assert_int_eq(parse(SUBNETS "<Cgroup \"web\">\n Path \"/system.slice/nginx.service\"\n"
			       " Path \"/kubepods.slice/*/cri-containerd-*.scope\"\n</Cgroup>\n"
			       "Cgroup \"/system.slice/sshd.service\"\n", &c, &e), 0);
	ck_assert_uint_eq(c.n_cgroups, 2);
	ck_assert_str_eq(c.cgroups[0].name, "web");
	ck_assert_str_eq(c.cgroups[1].name, "sshd.service");
	ck_assert_uint_eq(c.n_cgpaths, 3);
	ck_assert_uint_eq(c.cgpaths[1].depth, 3);
	ck_assert_uint_eq(c.cgpaths[2].cgroup, 2);
	ck_assert(ts_config_has_cgroups(&c));
	/* other + 2 blocks, each with 3 subnet slots */
	ck_assert_uint_eq(ts_config_cgroup_slots(&c), 3);
	ck_assert_uint_eq(ts_config_subnet_index_count(&c), 3);
	ck_assert_uint_eq(ts_config_index_count(&c), 9);
	ck_assert(c.report_other_cgroup);
	ts_config_free(&c);
}
END_TEST

START_TEST(without_cgroups_nothing_changes)
{
	struct ts_config c;
	struct errs e;

	ck_assert_int_eq(parse(SUBNETS, &c, &e), 0);
	ck_assert(!ts_config_has_cgroups(&c));
	ck_assert_uint_eq(ts_config_cgroup_slots(&c), 1);
	ck_assert_uint_eq(ts_config_index_count(&c), ts_config_subnet_index_count(&c));
	ts_config_free(&c);
}
END_TEST

START_TEST(cgroup_each_reserves_max_cgroups_slots)
{
	struct ts_config c;
	struct errs e;

	ck_assert_int_eq(parse(SUBNETS "Cgroup \"/a\"\nCgroupEach \"/system.slice/*.service\"\n"
			       "MaxCgroups 10\nReportUnmatchedCgroup false\n", &c, &e), 0);
	ck_assert(c.cgroup_each);
	ck_assert_uint_eq(ts_config_cgroup_slots(&c), 1 + 1 + 10);
	ck_assert_uint_eq(ts_config_index_count(&c), 12 * 3);
	ck_assert(!c.report_other_cgroup);
	ts_config_free(&c);
	ck_assert_int_eq(parse(SUBNETS "CgroupEach \"/x/*\"\n", &c, &e), 0);
	ck_assert_uint_eq(ts_config_cgroup_slots(&c), 1 + TS_DEFAULT_MAX_CGROUPS);
	ts_config_free(&c);
}
END_TEST

START_TEST(bad_cgroup_options_are_one_line_each)
{
	expect_error("Cgroup \"web\"\n", "Cgroup \"web\" has no Path", "<Cgroup \"web\">");
	expect_error("Cgroup \"/a/b*\"\n", "is a pattern here", "<Cgroup \"name\">");
	expect_error("Cgroup \"/\"\n", "\"/\" does not have", NULL);
	expect_error("Cgroup \"/a/getty@tty1.service\"\n", "is not a valid name",
		     "<Cgroup \"name\"> Path \"/a/getty@tty1.service\"");
	expect_error("<Cgroup \"web\">\n Path \"system.slice\"\n</Cgroup>\n",
		     "Path \"system.slice\" in Cgroup \"web\": a Path starts with '/'", NULL);
	expect_error("<Cgroup \"web\">\n Path \"/a//b\"\n</Cgroup>\n", "empty path component",
		     NULL);
	expect_error("<Cgroup \"web\">\n Path \"/a/\"\n</Cgroup>\n", "empty path component", NULL);
	expect_error("<Cgroup \"web\">\n Path \"/a/../b\"\n</Cgroup>\n", "'..' are not allowed",
		     NULL);
	expect_error("<Cgroup \"web\">\n Prefix \"10.0.0.0/8\"\n</Cgroup>\n",
		     "unknown option \"Prefix\" in <Cgroup \"web\">", NULL);
	expect_error("<Cgroup \"w~b\">\n Path \"/a\"\n</Cgroup>\n", "character '~' is not allowed",
		     NULL);
	expect_error("<Cgroup \"other\">\n Path \"/a\"\n</Cgroup>\n", "reserved", NULL);
	expect_error("Cgroup \"/a/web\"\nCgroup \"/b/web\"\n",
		     "Cgroup \"web\" is configured more than once", NULL);
	expect_error("Cgroup \"/a/web.x\"\nCgroup \"/b/web_x\"\n",
		     "would be one series \"web_x\"", NULL);
	expect_error("Cgroup \"/a/web\"\n<Cgroup \"x\">\n Path \"/a/web\"\n</Cgroup>\n",
		     "Path \"/a/web\" is configured twice (Cgroup \"web\" and Cgroup \"x\")", NULL);
	expect_error("CgroupEach \"/\"\n", "CgroupEach \"/\" would make the root", NULL);
	expect_error("CgroupEach \"/a\"\nMaxCgroups 0\n", "MaxCgroups 0 is out of range", NULL);
	expect_error("CgroupEach \"/a\"\nMaxCgroups 5000\n", "use a whole number from 1 to 4096",
		     NULL);
	expect_error("Cgroup \"/a\"\nMaxCgroups 3\n", "MaxCgroups bounds the instances of "
		     "CgroupEach", NULL);
	expect_error("MaxCgroups 3\n", "MaxCgroups bounds the instances of CgroupEach", NULL);
	expect_error("Cgroup \"/a\"\nReportUnmatchedCgroup maybe\n",
		     "ReportUnmatchedCgroup expects true or false", NULL);
}
END_TEST

START_TEST(joined_instances_must_fit_collectd)
{
	char text[1024];

	/* 63 (CgroupEach) + 1 + "other" (5) + 4 + 63 > 127 */
	snprintf(text, sizeof(text), "<Subnet \"%063d\">\n Prefix \"10.1.0.0/16\"\n</Subnet>\n"
		 "<LocalSubnet \"l\">\n Prefix \"10.2.0.0/16\"\n</LocalSubnet>\n"
		 "CgroupEach \"/x/*\"\n", 7);
	expect_error(text, "would be 136 characters, collectd allows 127", "~");
	/* 63 + 1 + 63 = 127 fits */
	snprintf(text, sizeof(text), "<Subnet \"%063d\">\n Prefix \"10.1.0.0/16\"\n</Subnet>\n"
		 "CgroupEach \"/x/*\"\n", 7);
	{
		struct ts_config c;
		struct errs e;

		ck_assert_int_eq(parse(text, &c, &e), 0);
		ts_config_free(&c);
	}
}
END_TEST

START_TEST(cgroup_slots_are_bounded)
{
	char text[65536];
	size_t o = 0;

	/* 300 subnets x (MaxCgroups 4096 + 1 + 1) slots > 262144 */
	for (int i = 0; i < 300; i++)
		o += (size_t)snprintf(text + o, sizeof(text) - o, "Subnet \"10.%d.%d.0/24\"\n",
				      i / 256, i % 256);
	snprintf(text + o, sizeof(text) - o, "CgroupEach \"/x/*\"\nMaxCgroups 4096\n");
	expect_error(text, "times cgroups + other", "lower MaxCgroups");
}
END_TEST

START_TEST(max_values_counts_every_cgroup_slot)
{
	struct ts_config c;
	struct errs e;

	ck_assert_int_eq(parse(SUBNETS "CgroupEach \"/p/*\"\nMaxCgroups 10\n", &c, &e), 0);
	/* (other + 10 CgroupEach slots) x (2 subnets + other) */
	ck_assert_uint_eq(ts_config_instance_count(&c), 11 * 3);
	ts_config_free(&c);
	ck_assert_int_eq(parse(SUBNETS "CgroupEach \"/p/*\"\nMaxCgroups 10\n"
			       "ReportUnmatchedCgroup false\nReportUnmatched false\n", &c, &e), 0);
	ck_assert_uint_eq(ts_config_instance_count(&c), 10 * 2);
	ts_config_free(&c);
	expect_error(SUBNETS "CgroupEach \"/p/*\"\nMaxCgroups 100\nMaxValues 1000\n",
		     "MaxValues 1000 is exceeded: 303 cgroup x subnet instances", NULL);
}
END_TEST

struct got {
	char lines[64][160];
	int n;
};

static void record(void *ctx, const struct ts_value *v)
{
	struct got *g = ctx;

	if (strcmp(v->type, "if_octets") != 0 || g->n == 64)
		return;
	snprintf(g->lines[g->n++], sizeof(g->lines[0]), "%s %llu %llu", v->plugin_instance,
		 (unsigned long long)v->d[0], (unsigned long long)v->d[1]);
}

START_TEST(values_are_named_cgroup_tilde_instance)
{
	struct ts_config c;
	struct errs e;
	struct ts_counters t[3 * 3] = { { 0 } };
	const char *names[3] = { "other", "web", NULL };
	bool fresh[3] = { false };
	struct ts_cgview v = { .n_slots = 3, .name = names, .fresh = fresh };
	struct got g = { .n = 0 };

	ck_assert_int_eq(parse(SUBNETS "RTT false\nCgroup \"/a/web\"\nCgroupEach \"/p/*\"\n"
			       "MaxCgroups 1\n", &c, &e), 0);
	for (int i = 0; i < 9; i++)
		t[i].rx_bytes = (uint64_t)i;
	ts_values_emit_cg(&c, &v, t, NULL, NULL, 1.0, record, &g);
	/* slot 2 (the CgroupEach slot) holds no cgroup: not dispatched */
	ck_assert_int_eq(g.n, 6);
	ck_assert_str_eq(g.lines[0], "other~other 0 0");
	ck_assert_str_eq(g.lines[1], "other~10.1.0.0/16 1 0");
	ck_assert_str_eq(g.lines[4], "web~10.1.0.0/16 4 0");
	ck_assert_str_eq(g.lines[5], "web~db 5 0");
	names[0] = NULL; /* ReportUnmatchedCgroup false */
	names[2] = "p1";
	g.n = 0;
	ts_values_emit_cg(&c, &v, t, NULL, NULL, 1.0, record, &g);
	ck_assert_int_eq(g.n, 6);
	ck_assert_str_eq(g.lines[0], "web~other 3 0");
	ck_assert_str_eq(g.lines[5], "p1~db 8 0");
	ts_config_free(&c);
}
END_TEST

START_TEST(mount_from_mountinfo)
{
	char out[256];
	const char *hybrid =
		"25 30 0:23 / /sys rw,nosuid shared:7 - sysfs sysfs rw\n"
		"31 25 0:26 / /sys/fs/cgroup ro shared:9 - tmpfs tmpfs ro,mode=755\n"
		"41 31 0:38 / /sys/fs/cgroup/unified rw,relatime shared:10 - cgroup2 cgroup2 rw\n"
		"42 31 0:39 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,name=systemd\n";
	const char *unified = "29 23 0:26 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw\n";
	const char *spaced = "29 23 0:26 / /mnt/my\\040cg rw - cgroup2 none rw\n";

	ck_assert_int_eq(ts_cgroup_mount_parse(hybrid, out, sizeof(out)), 0);
	ck_assert_str_eq(out, "/sys/fs/cgroup/unified");
	ck_assert_int_eq(ts_cgroup_mount_parse(unified, out, sizeof(out)), 0);
	ck_assert_str_eq(out, "/sys/fs/cgroup");
	ck_assert_int_eq(ts_cgroup_mount_parse(spaced, out, sizeof(out)), 0);
	ck_assert_str_eq(out, "/mnt/my cg");
	ck_assert_int_eq(ts_cgroup_mount_parse("42 31 0:39 / /sys/fs/cgroup/systemd rw - cgroup "
					       "cgroup rw\n", out, sizeof(out)), -1);
	ck_assert_int_eq(ts_cgroup_mount_parse("", out, sizeof(out)), -1);
}
END_TEST

START_TEST(instance_names_of_cgroup_directories)
{
	char out[TS_NAME_MAX + 1];
	char longer[100];

	ts_cgroup_instance_name("nginx.service", out, sizeof(out));
	ck_assert_str_eq(out, "nginx.service");
	ts_cgroup_instance_name("getty@tty1.service", out, sizeof(out));
	ck_assert_str_eq(out, "getty_tty1.service");
	ts_cgroup_instance_name("a~b c", out, sizeof(out));
	ck_assert_str_eq(out, "a_b_c");
	ts_cgroup_instance_name("other", out, sizeof(out));
	ck_assert_str_eq(out, "other_");
	memset(longer, 'x', sizeof(longer) - 1);
	longer[sizeof(longer) - 1] = '\0';
	ts_cgroup_instance_name(longer, out, sizeof(out));
	ck_assert_uint_eq(strlen(out), TS_NAME_MAX);
}
END_TEST

/* ---- the walker, on a directory tree ---- */

static char root[256];

static void mk(const char *rel)
{
	char p[512];

	snprintf(p, sizeof(p), "%s%s", root, rel);
	ck_assert_msg(mkdir(p, 0755) == 0, "mkdir %s", p);
}

static void rm(const char *rel)
{
	char p[512];

	snprintf(p, sizeof(p), "%s%s", root, rel);
	ck_assert_msg(rmdir(p) == 0, "rmdir %s", p);
}

static uint64_t ino(const char *rel)
{
	char p[512];
	struct stat st;

	snprintf(p, sizeof(p), "%s%s", root, rel);
	ck_assert_int_eq(stat(p, &st), 0);
	return (uint64_t)st.st_ino;
}

/* The slot the last walk gave a directory; -1: not mapped ("other"). */
static int slot_of(const struct ts_cgstate *s, const char *rel)
{
	size_t n;
	const struct ts_cgid *ids = ts_cgroup_ids(s, &n);
	uint64_t id = ino(rel);

	for (size_t i = 0; i < n; i++)
		if (ids[i].id == id)
			return (int)ids[i].slot;
	return -1;
}

static void tree_setup(void)
{
	snprintf(root, sizeof(root), "%s/tscg.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	ck_assert(mkdtemp(root) != NULL);
}

static void tree_teardown(void)
{
	char cmd[600];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	ck_assert_int_eq(system(cmd), 0);
}

struct counts {
	int add, del;
};

static void count_change(void *ctx, uint64_t id, uint32_t slot, bool remove)
{
	struct counts *k = ctx;

	(void)id;
	(void)slot;
	if (remove)
		k->del++;
	else
		k->add++;
}

START_TEST(deepest_configured_path_wins)
{
	struct ts_config c;
	struct errs e, w = { 0 };
	struct ts_cgstate *s;
	struct counts k = { 0, 0 };

	mk("/sys");
	mk("/sys/a.service");
	mk("/sys/a.service/sub");
	mk("/sys/b.service");
	mk("/kube");
	mk("/kube/pod1");
	mk("/kube/pod1/cri-containerd-1.scope");
	mk("/loose");
	ck_assert_int_eq(parse(SUBNETS "<Cgroup \"sys\">\n Path \"/sys\"\n</Cgroup>\n"
			       "<Cgroup \"a\">\n Path \"/sys/a.service\"\n</Cgroup>\n"
			       "<Cgroup \"ctr\">\n Path \"/kube/*/cri-containerd-*.scope\"\n"
			       "</Cgroup>\n<Cgroup \"gone\">\n Path \"/missing\"\n</Cgroup>\n",
			       &c, &e), 0);
	s = ts_cgroup_new(&c, root);
	ck_assert_ptr_nonnull(s);
	ck_assert_int_eq(ts_cgroup_scan(s, collect, &w), 0);
	ck_assert_int_eq(w.n, 1);
	ck_assert_msg(strstr(w.text, "Path \"/missing\" of Cgroup \"gone\" matches no cgroup"),
		      "%s", w.text);
	ck_assert_int_eq(slot_of(s, "/sys"), 1);
	ck_assert_int_eq(slot_of(s, "/sys/b.service"), 1);
	ck_assert_int_eq(slot_of(s, "/sys/a.service"), 2);
	ck_assert_int_eq(slot_of(s, "/sys/a.service/sub"), 2);
	ck_assert_int_eq(slot_of(s, "/kube/pod1/cri-containerd-1.scope"), 3);
	ck_assert_int_eq(slot_of(s, "/kube/pod1"), -1);
	ck_assert_int_eq(slot_of(s, "/loose"), -1);
	ck_assert_int_eq(slot_of(s, ""), -1);
	ck_assert_uint_eq(ts_cgroup_changes(s, count_change, &k), 5);
	ck_assert_int_eq(k.add, 5);
	/* Paths missing at start count once they appear; no second warning. */
	mk("/missing");
	mk("/sys/b.service/x");
	ck_assert_int_eq(ts_cgroup_scan(s, collect, &w), 0);
	ck_assert_int_eq(w.n, 1);
	ck_assert_int_eq(slot_of(s, "/missing"), 4);
	ck_assert_int_eq(slot_of(s, "/sys/b.service/x"), 1);
	k.add = k.del = 0;
	ck_assert_uint_eq(ts_cgroup_changes(s, count_change, &k), 2);
	ck_assert_int_eq(k.add, 2);
	rm("/sys/a.service/sub");
	ck_assert_int_eq(ts_cgroup_scan(s, collect, &w), 0);
	k.add = k.del = 0;
	ck_assert_uint_eq(ts_cgroup_changes(s, count_change, &k), 1);
	ck_assert_int_eq(k.del, 1);
	/* Nothing changed: nothing to do (the kernel's epoch stays). */
	ck_assert_int_eq(ts_cgroup_scan(s, collect, &w), 0);
	ck_assert_uint_eq(ts_cgroup_changes(s, count_change, &k), 0);
	ts_cgroup_free(s);
	ts_config_free(&c);
}
END_TEST

START_TEST(cgroup_each_instances_come_and_go)
{
	struct ts_config c;
	struct errs e, w = { 0 };
	struct ts_cgstate *s;
	const struct ts_cgview *v;
	int p1;

	mk("/pods");
	mk("/pods/p1");
	mk("/pods/p1/inner");
	mk("/web");
	ck_assert_int_eq(parse(SUBNETS "Cgroup \"/web\"\nCgroupEach \"/pods/*\"\nMaxCgroups 2\n",
			       &c, &e), 0);
	s = ts_cgroup_new(&c, root);
	ck_assert_int_eq(ts_cgroup_scan(s, collect, &w), 0);
	ck_assert_int_eq(w.n, 0);
	v = ts_cgroup_view(s);
	ck_assert_uint_eq(v->n_slots, 4);
	ck_assert_str_eq(v->name[0], "other");
	ck_assert_str_eq(v->name[1], "web");
	p1 = slot_of(s, "/pods/p1");
	ck_assert_int_ge(p1, 2);
	ck_assert_int_eq(slot_of(s, "/pods/p1/inner"), p1);
	ck_assert_str_eq(v->name[p1], "p1");
	ck_assert(v->fresh[p1]);
	ck_assert_ptr_null(v->name[p1 == 2 ? 3 : 2]);
	/* Later walks: p1 keeps its slot, not fresh; p2 joins; p3 is one too many. */
	mk("/pods/p2");
	ck_assert_int_eq(ts_cgroup_scan(s, collect, &w), 0);
	ck_assert(!v->fresh[p1]);
	ck_assert_int_eq(slot_of(s, "/pods/p1"), p1);
	ck_assert_int_eq(slot_of(s, "/pods/p2"), p1 == 2 ? 3 : 2);
	ck_assert_str_eq(v->name[p1 == 2 ? 3 : 2], "p2");
	mk("/pods/p3");
	ck_assert_int_eq(ts_cgroup_scan(s, collect, &w), 0);
	ck_assert_int_eq(slot_of(s, "/pods/p3"), -1);
	ck_assert_int_eq(w.n, 1);
	ck_assert_msg(strstr(w.text, "MaxCgroups 2 reached: cgroup \"/pods/p3\""), "%s", w.text);
	ck_assert_int_eq(ts_cgroup_scan(s, collect, &w), 0);
	ck_assert_int_eq(w.n, 1); /* once */
	/* p1 goes: not dispatched at once; its slot is reused only two walks later. */
	rm("/pods/p3");
	rm("/pods/p1/inner");
	rm("/pods/p1");
	ck_assert_int_eq(ts_cgroup_scan(s, collect, &w), 0);
	ck_assert_ptr_null(v->name[p1]);
	mk("/pods/p4");
	ck_assert_int_eq(ts_cgroup_scan(s, collect, &w), 0);
	ck_assert_int_eq(slot_of(s, "/pods/p4"), -1);
	ck_assert_int_eq(ts_cgroup_scan(s, collect, &w), 0);
	ck_assert_int_eq(slot_of(s, "/pods/p4"), p1);
	ck_assert_str_eq(v->name[p1], "p4");
	ck_assert(v->fresh[p1]);
	ts_cgroup_free(s);
	ts_config_free(&c);
}
END_TEST

START_TEST(cgroup_each_names_taken_are_refused)
{
	struct ts_config c;
	struct errs e, w = { 0 };
	struct ts_cgstate *s;

	mk("/a");
	mk("/a/web");
	mk("/a/x.y");
	mk("/b");
	mk("/b/x_y");
	mk("/web");
	ck_assert_int_eq(parse(SUBNETS "Cgroup \"/web\"\nCgroupEach \"/*/*\"\n", &c, &e), 0);
	s = ts_cgroup_new(&c, root);
	ck_assert_int_eq(ts_cgroup_scan(s, collect, &w), 0);
	/* /a/web is named like Cgroup "web"; x.y and x_y are one series once written */
	ck_assert_int_eq(w.n, 2);
	ck_assert_msg(strstr(w.text, "cgroup \"/a/web\" would be instance \"web\", which \"web\""),
		      "%s", w.text);
	ck_assert_int_eq(slot_of(s, "/a/web"), -1);
	ck_assert((slot_of(s, "/a/x.y") == -1) != (slot_of(s, "/b/x_y") == -1));
	ts_cgroup_free(s);
	ts_config_free(&c);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("tscgroup");
	TCase *tc = tcase_create("config");

	tcase_add_test(tc, cgroup_blocks_and_shorthand_parse);
	tcase_add_test(tc, without_cgroups_nothing_changes);
	tcase_add_test(tc, cgroup_each_reserves_max_cgroups_slots);
	tcase_add_test(tc, bad_cgroup_options_are_one_line_each);
	tcase_add_test(tc, joined_instances_must_fit_collectd);
	tcase_add_test(tc, cgroup_slots_are_bounded);
	tcase_add_test(tc, max_values_counts_every_cgroup_slot);
	tcase_add_test(tc, values_are_named_cgroup_tilde_instance);
	tcase_add_test(tc, mount_from_mountinfo);
	tcase_add_test(tc, instance_names_of_cgroup_directories);
	suite_add_tcase(s, tc);
	tc = tcase_create("walk");
	tcase_add_checked_fixture(tc, tree_setup, tree_teardown);
	tcase_add_test(tc, deepest_configured_path_wins);
	tcase_add_test(tc, cgroup_each_instances_come_and_go);
	tcase_add_test(tc, cgroup_each_names_taken_are_refused);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
