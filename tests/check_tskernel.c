/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Kernel facts from text (plugin/tskernel.c): the preemption model auto uses to avoid
 * BPF trampolines where they lose events, the lockdown mode that error lines name, and
 * the kprobe miss counts that feed lost-events. Inputs are what Debian's kernels print.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "tskernel.h"

static enum ts_preempt model(const char *rt, const char *dbg, const char *cmdline,
			     const char *uname_v, const char *config)
{
	struct ts_preempt_src s = { rt, dbg, cmdline, uname_v, config };
	char how[128];

	return ts_preempt_parse(&s, how, sizeof(how));
}

#define DYN "#1 SMP PREEMPT_DYNAMIC Debian 6.1.158-1 (2025-11-09)"

START_TEST(preempt_sources_in_order)
{
	/* The RT flavour: /sys/kernel/realtime, or its uname. */
	ck_assert_int_eq(model("1\n", NULL, NULL, DYN, NULL), TS_PREEMPT_RT);
	ck_assert_int_eq(model(NULL, NULL, NULL,
			       "#1 SMP PREEMPT_RT Debian 6.1.158-1 (2025-11-09)", NULL),
			 TS_PREEMPT_RT);
	/* Dynamic: debugfs says what is in force, before the boot argument. */
	ck_assert_int_eq(model(NULL, "none (voluntary) full\n", "quiet preempt=full", DYN, NULL),
			 TS_PREEMPT_VOLUNTARY);
	ck_assert_int_eq(model(NULL, "none voluntary (full)\n", NULL, DYN, NULL),
			 TS_PREEMPT_FULL);
	ck_assert_int_eq(model(NULL, NULL, "console=ttyS0 preempt=full quiet", DYN, NULL),
			 TS_PREEMPT_FULL);
	ck_assert_int_eq(model(NULL, NULL, "preempt=none", DYN, NULL), TS_PREEMPT_NONE);
	/* Arguments after "--" are init's, not the kernel's. */
	ck_assert_int_eq(model(NULL, NULL, "quiet -- preempt=full", DYN, NULL),
			 TS_PREEMPT_UNKNOWN);
	/* Dynamic without debugfs or argument: the build's default from its config. */
	ck_assert_int_eq(model(NULL, NULL, "quiet", DYN,
			       "CONFIG_PREEMPT_BUILD=y\nCONFIG_PREEMPT_VOLUNTARY=y\n"
			       "CONFIG_PREEMPT_DYNAMIC=y\n"), TS_PREEMPT_VOLUNTARY);
	ck_assert_int_eq(model(NULL, NULL, "quiet", DYN, "CONFIG_PREEMPT=y\n"),
			 TS_PREEMPT_FULL);
	/* "# CONFIG_PREEMPT is not set" is not CONFIG_PREEMPT=y */
	ck_assert_int_eq(model(NULL, NULL, "quiet", DYN,
			       "# CONFIG_PREEMPT is not set\nCONFIG_PREEMPT_NONE=y\n"),
			 TS_PREEMPT_NONE);
	/* Non-dynamic builds say PREEMPT in their version, or nothing. */
	ck_assert_int_eq(model(NULL, NULL, NULL, "#1 SMP PREEMPT Tue Jan 1", NULL),
			 TS_PREEMPT_FULL);
	ck_assert_int_eq(model(NULL, NULL, NULL, "#1 SMP Debian 5.10.226-1", NULL),
			 TS_PREEMPT_VOLUNTARY);
	/* Nothing to tell: unknown, which auto treats as preemptible. */
	ck_assert_int_eq(model(NULL, NULL, NULL, DYN, NULL), TS_PREEMPT_UNKNOWN);
	ck_assert(ts_preempt_trampolines_lossy(TS_PREEMPT_UNKNOWN));
	ck_assert(ts_preempt_trampolines_lossy(TS_PREEMPT_FULL));
	ck_assert(ts_preempt_trampolines_lossy(TS_PREEMPT_RT));
	ck_assert(!ts_preempt_trampolines_lossy(TS_PREEMPT_VOLUNTARY));
	ck_assert(!ts_preempt_trampolines_lossy(TS_PREEMPT_NONE));
}
END_TEST

START_TEST(lockdown_modes)
{
	ck_assert_int_eq(ts_lockdown_parse("[none] integrity confidentiality\n", NULL),
			 TS_LOCKDOWN_NONE);
	ck_assert_int_eq(ts_lockdown_parse("none integrity [confidentiality]\n", NULL),
			 TS_LOCKDOWN_CONFIDENTIALITY);
	ck_assert_int_eq(ts_lockdown_parse("none [integrity] confidentiality\n",
					   "lockdown=confidentiality"), TS_LOCKDOWN_INTEGRITY);
	ck_assert_int_eq(ts_lockdown_parse(NULL, "quiet lockdown=confidentiality"),
			 TS_LOCKDOWN_CONFIDENTIALITY);
	/* No securityfs and no argument: secure boot may still lock it down. */
	ck_assert_int_eq(ts_lockdown_parse(NULL, "quiet"), TS_LOCKDOWN_UNKNOWN);
	ck_assert_str_eq(ts_lockdown_name(TS_LOCKDOWN_CONFIDENTIALITY), "confidentiality");
}
END_TEST

START_TEST(cmdline_args)
{
	char v[16];

	ck_assert_int_eq(ts_cmdline_arg("a preempt=full b", "preempt", v, sizeof(v)), 0);
	ck_assert_str_eq(v, "full");
	ck_assert_int_eq(ts_cmdline_arg("xpreempt=full", "preempt", v, sizeof(v)), -1);
	ck_assert_int_eq(ts_cmdline_arg("preempt", "preempt", v, sizeof(v)), -1);
	ck_assert_int_eq(ts_cmdline_arg("", "preempt", v, sizeof(v)), -1);
	/* Truncated to the buffer, still terminated. */
	ck_assert_int_eq(ts_cmdline_arg("lockdown=confidentiality", "lockdown", v, 5), 0);
	ck_assert_str_eq(v, "conf");
}
END_TEST

START_TEST(kprobe_profile)
{
	const char *text =
		"  ts123_kp_sendmsg                                     20               0\n"
		"  ts123_krp_recvmsg                                  1000              17\n"
		"  ts1234_krp_recvmsg                                 1000               5\n"
		"  other_probe                                          10               3\n";
	uint64_t m;

	ck_assert_int_eq(ts_kprobe_profile_misses(text, "ts123_", &m), 2);
	ck_assert_uint_eq(m, 17);
	ck_assert_int_eq(ts_kprobe_profile_misses(text, "ts9_", &m), 0);
	ck_assert_uint_eq(m, 0);
	ck_assert_int_eq(ts_kprobe_profile_misses("", "ts1_", &m), 0);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("tskernel");
	TCase *tc = tcase_create("facts");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, preempt_sources_in_order);
	tcase_add_test(tc, lockdown_modes);
	tcase_add_test(tc, cmdline_args);
	tcase_add_test(tc, kprobe_profile);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
