/* SPDX-License-Identifier: GPL-2.0-only */
/* Unit tests of plugin/tsconf.c: CIDR normalisation, LPM keys, naming, config parsing. */
#include <arpa/inet.h>
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cfgtext.h"
#include "ckconf.h"
#include "tsconf.h"

/* ---- helpers ---- */

static uint32_t classify(const struct ts_config *c, const char *addr)
{
	uint8_t a[16], v4[4];

	if (inet_pton(AF_INET, addr, v4) == 1)
		ts_addr_map4(v4, a);
	else
		ck_assert_int_eq(inet_pton(AF_INET6, addr, a), 1);
	return ts_config_classify(c, a);
}

static const char *instance_of(const struct ts_config *c, const char *addr)
{
	return ts_config_instance(c, classify(c, addr));
}

static void cidr_ok(const char *text, const char *canonical, unsigned mapped_len)
{
	struct ts_prefix p;
	char why[256], buf[64];

	ck_assert_msg(ts_cidr_parse(text, &p, why, sizeof(why)) == 0, "%s: %s", text, why);
	ts_cidr_format(&p, buf, sizeof(buf));
	ck_assert_str_eq(buf, canonical);
	ck_assert_uint_eq(p.len, mapped_len);
}

static void cidr_bad(const char *text, const char *frag)
{
	struct ts_prefix p;
	char why[256];

	ck_assert_msg(ts_cidr_parse(text, &p, why, sizeof(why)) != 0, "%s accepted", text);
	ck_assert_msg(strstr(why, frag) != NULL, "%s: '%s' not in '%s'", text, frag, why);
}

/* ---- CIDR ---- */

START_TEST(cidr_ipv4_is_stored_mapped_with_length_plus_96)
{
	struct ts_prefix p;
	char why[128];
	static const uint8_t want[16] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 169 };

	ck_assert_int_eq(ts_cidr_parse("10.169.0.0/16", &p, why, sizeof(why)), 0);
	ck_assert_uint_eq(p.len, 112);
	ck_assert_mem_eq(p.addr, want, 16);
	cidr_ok("0.0.0.0/0", "0.0.0.0/0", 96);
	cidr_ok("10.169.1.2/32", "10.169.1.2/32", 128);
}
END_TEST

START_TEST(cidr_ipv6_is_stored_as_is)
{
	cidr_ok("2001:db8:1::/48", "2001:db8:1::/48", 48);
	cidr_ok("2001:DB8:0:0::/32", "2001:db8::/32", 32);
	cidr_ok("::/0", "::/0", 0);
	cidr_ok("::1/128", "::1/128", 128);
}
END_TEST

START_TEST(cidr_mapped_prefix_equals_ipv4_prefix)
{
	struct ts_prefix a, b;
	char why[128];

	ck_assert_int_eq(ts_cidr_parse("::ffff:10.169.0.0/112", &a, why, sizeof(why)), 0);
	ck_assert_int_eq(ts_cidr_parse("10.169.0.0/16", &b, why, sizeof(why)), 0);
	ck_assert_uint_eq(a.len, b.len);
	ck_assert_mem_eq(a.addr, b.addr, 16);
	cidr_ok("::ffff:10.0.0.0/104", "10.0.0.0/8", 104);
	cidr_ok("::ffff:0.0.0.0/96", "0.0.0.0/0", 96);
}
END_TEST

START_TEST(cidr_rejects_host_bits_and_names_the_network)
{
	cidr_bad("10.169.1.2/16", "write the network address \"10.169.0.0/16\"");
	cidr_bad("2001:db8:1::1/48", "\"2001:db8:1::/48\"");
	cidr_bad("10.0.0.1/0", "\"0.0.0.0/0\"");
}
END_TEST

START_TEST(cidr_rejects_lengths_out_of_range)
{
	cidr_bad("10.0.0.0/33", "/33 is out of range; IPv4 allows /0 to /32");
	cidr_bad("2001:db8::/129", "/129 is out of range; IPv6 allows /0 to /128");
	cidr_bad("10.0.0.0/-1", "is not a number");
	cidr_bad("10.0.0.0/", "is not a number");
	cidr_bad("10.0.0.0/8x", "is not a number");
	cidr_bad("10.0.0.0/0008", "is not a number");
	cidr_bad("::ffff:10.0.0.0/129", "out of range");
}
END_TEST

START_TEST(cidr_rejects_malformed_addresses)
{
	cidr_bad("", "empty prefix");
	cidr_bad("10.169.0.0", "no prefix length; write \"10.169.0.0/32\"");
	cidr_bad("2001:db8::1", "write \"2001:db8::1/128\"");
	cidr_bad("10.169/16", "\"10.169\" is not an IPv4 or IPv6 address");
	cidr_bad("10.169.0.256/32", "is not an IPv4 or IPv6 address");
	cidr_bad("010.1.0.0/16", "is not an IPv4 or IPv6 address");
	cidr_bad("fe80::%eth0/64", "is not an IPv4 or IPv6 address");
	cidr_bad("dc-east", "not an IPv4 or IPv6 prefix");
	cidr_bad(" 10.0.0.0/8", "is not an IPv4 or IPv6 address");
}
END_TEST

START_TEST(lpm_key_is_prefixlen_then_address_bytes)
{
	struct ts_prefix p;
	uint8_t key[20];
	uint32_t len;
	char why[128];

	ck_assert_int_eq(ts_cidr_parse("10.169.0.0/16", &p, why, sizeof(why)), 0);
	ts_lpm_key_build(&p, key);
	memcpy(&len, key, 4);
	ck_assert_uint_eq(len, 112);
	ck_assert_mem_eq(key + 4, p.addr, 16);
	ck_assert_uint_eq(key[4 + 10], 0xff);
	ck_assert_uint_eq(key[4 + 12], 10);
	ck_assert_uint_eq(key[4 + 13], 169);
}
END_TEST

/* ---- longest-prefix resolution ---- */

static const char nested[] =
	"<Subnet \"wide\">\n Prefix \"10.0.0.0/8\"\n</Subnet>\n"
	"<Subnet \"dc-east\">\n Prefix \"10.169.0.0/16\"\n Prefix \"2001:db8:1::/48\"\n</Subnet>\n"
	"Subnet \"10.169.5.0/24\"\n"
	"<Subnet \"v6-deep\">\n Prefix \"2001:db8:1:5::/64\"\n</Subnet>\n";

START_TEST(longest_prefix_wins_across_subnets)
{
	struct ts_config c;
	struct errs e;

	ck_assert_int_eq(parse(nested, &c, &e), 0);
	ck_assert_str_eq(instance_of(&c, "10.1.2.3"), "wide");
	ck_assert_str_eq(instance_of(&c, "10.169.1.2"), "dc-east");
	ck_assert_str_eq(instance_of(&c, "10.169.5.7"), "10.169.5.0/24");
	ck_assert_str_eq(instance_of(&c, "2001:db8:1:4::1"), "dc-east");
	ck_assert_str_eq(instance_of(&c, "2001:db8:1:5::1"), "v6-deep");
	ck_assert_str_eq(instance_of(&c, "11.0.0.1"), "other");
	ck_assert_str_eq(instance_of(&c, "2001:db8:2::1"), "other");
	ts_config_free(&c);
}
END_TEST

START_TEST(ipv4_mapped_peer_matches_ipv4_subnet)
{
	struct ts_config c;
	struct errs e;

	ck_assert_int_eq(parse(nested, &c, &e), 0);
	ck_assert_str_eq(instance_of(&c, "::ffff:10.169.1.2"), "dc-east");
	ck_assert_str_eq(instance_of(&c, "::ffff:10.169.5.9"), "10.169.5.0/24");
	ck_assert_str_eq(instance_of(&c, "::ffff:10.9.9.9"), "wide");
	ck_assert_str_eq(instance_of(&c, "::ffff:11.9.9.9"), "other");
	/* IPv4-compatible (deprecated ::a.b.c.d) is not IPv4-mapped. */
	ck_assert_str_eq(instance_of(&c, "::10.169.1.2"), "other");
	ts_config_free(&c);
}
END_TEST

START_TEST(mapped_prefix_in_config_matches_ipv4_peers)
{
	struct ts_config c;
	struct errs e;

	ck_assert_int_eq(parse("<Subnet \"m\">\n Prefix \"::ffff:10.171.0.0/112\"\n</Subnet>",
			       &c, &e), 0);
	ck_assert_str_eq(instance_of(&c, "10.171.3.4"), "m");
	ck_assert_str_eq(instance_of(&c, "::ffff:10.171.3.4"), "m");
	ck_assert_str_eq(instance_of(&c, "10.172.3.4"), "other");
	ts_config_free(&c);
}
END_TEST

/* ---- names ---- */

START_TEST(names_allow_graphite_safe_characters_only)
{
	char why[256];

	ck_assert_int_eq(ts_name_check("dc-east_1.zone", why, sizeof(why)), 0);
	ck_assert_int_ne(ts_name_check("dc east", why, sizeof(why)), 0);
	ck_assert_ptr_nonnull(strstr(why, "character ' ' is not allowed"));
	ck_assert_int_ne(ts_name_check("dc/east", why, sizeof(why)), 0);
	ck_assert_int_ne(ts_name_check("dc:east", why, sizeof(why)), 0);
	ck_assert_int_ne(ts_name_check("ost-\xc3\xa9", why, sizeof(why)), 0);
	ck_assert_ptr_nonnull(strstr(why, "byte 0xc3"));
	ck_assert_int_ne(ts_name_check("", why, sizeof(why)), 0);
	ck_assert_ptr_nonnull(strstr(why, "empty"));
	ck_assert_int_ne(ts_name_check("other", why, sizeof(why)), 0);
	ck_assert_ptr_nonnull(strstr(why, "reserved"));
}
END_TEST

START_TEST(names_are_at_most_63_characters)
{
	char name[80], why[256];

	memset(name, 'a', sizeof(name));
	name[63] = '\0';
	ck_assert_int_eq(ts_name_check(name, why, sizeof(why)), 0);
	name[63] = 'a';
	name[64] = '\0';
	ck_assert_int_ne(ts_name_check(name, why, sizeof(why)), 0);
	ck_assert_ptr_nonnull(strstr(why, "at most 63"));
}
END_TEST

START_TEST(instances_are_subnet_names_and_other)
{
	struct ts_config c;
	struct errs e;

	ck_assert_int_eq(parse(nested, &c, &e), 0);
	ck_assert_uint_eq(c.n_subnets, 4);
	ck_assert_str_eq(ts_config_instance(&c, 0), "other");
	ck_assert_str_eq(ts_config_instance(&c, 1), "wide");
	ck_assert_str_eq(ts_config_instance(&c, 2), "dc-east");
	ck_assert_str_eq(ts_config_instance(&c, 3), "10.169.5.0/24");
	ck_assert_str_eq(ts_config_instance(&c, 4), "v6-deep");
	ts_config_free(&c);
}
END_TEST

/* ---- config options ---- */

START_TEST(contract_example_parses)
{
	struct ts_config c;
	struct errs e;

	ck_assert_int_eq(parse("<Subnet \"dc-east\">\n"
			       "  Prefix \"10.169.0.0/16\"\n"
			       "  Prefix \"2001:db8:1::/48\"\n"
			       "</Subnet>\n"
			       "Subnet \"10.170.0.0/16\"\n"
			       "ReportUnmatched true\n"
			       "AttachMode \"auto\"\n", &c, &e), 0);
	ck_assert_uint_eq(c.n_subnets, 2);
	ck_assert_uint_eq(c.n_prefixes, 3);
	ck_assert(c.report_unmatched);
	ck_assert_int_eq(c.attach_mode, TS_ATTACH_AUTO);
	ck_assert(!c.builtin_defaults);
	ck_assert_str_eq(instance_of(&c, "10.170.9.9"), "10.170.0.0/16");
	ts_config_free(&c);
}
END_TEST

START_TEST(defaults_are_documented_values)
{
	struct ts_config c;
	struct errs e;

	ck_assert_int_eq(parse("Subnet \"10.0.0.0/8\"", &c, &e), 0);
	ck_assert(c.report_unmatched);
	ck_assert_int_eq(c.attach_mode, TS_ATTACH_AUTO);
	ck_assert_int_eq(c.accounting, TS_ACCT_SYSCALL);
	ck_assert_uint_ge(c.max_prefixes, 4096);
	ck_assert_ptr_null(c.btf_path);
	ts_config_free(&c);
}
END_TEST

START_TEST(options_take_their_values)
{
	struct ts_config c;
	struct errs e;

	ck_assert_int_eq(parse("Subnet \"10.0.0.0/8\"\nReportUnmatched false\n"
			       "AttachMode \"Tracepoint\"\nMaxPrefixes 10\n"
			       "Accounting \"Socket\"\n"
			       "KernelBTF \"/boot/vmlinux.btf\"\n", &c, &e), 0);
	ck_assert(!c.report_unmatched);
	ck_assert_int_eq(c.attach_mode, TS_ATTACH_TRACEPOINT);
	ck_assert_int_eq(c.accounting, TS_ACCT_SOCKET);
	ck_assert_uint_eq(c.max_prefixes, 10);
	ck_assert_str_eq(c.btf_path, "/boot/vmlinux.btf");
	ts_config_free(&c);
}
END_TEST

START_TEST(every_attach_mode_parses)
{
	static const char *const modes[] = { "auto", "fentry", "tracepoint", "kprobe" };

	for (int i = 0; i < 4; i++) {
		enum ts_attach_mode m;

		ck_assert_int_eq(ts_attach_mode_parse(modes[i], &m), 0);
		ck_assert_str_eq(ts_attach_mode_name(m), modes[i]);
	}
}
END_TEST

START_TEST(no_subnet_means_builtin_subnets)
{
	struct ts_config c;
	struct errs e;

	ck_assert_int_eq(parse("ReportUnmatched true\n", &c, &e), 0);
	ck_assert(c.builtin_defaults);
	ck_assert_str_eq(instance_of(&c, "127.0.0.1"), "loopback");
	ck_assert_str_eq(instance_of(&c, "::1"), "loopback");
	ck_assert_str_eq(instance_of(&c, "172.20.1.1"), "private");
	ck_assert_str_eq(instance_of(&c, "::ffff:192.168.1.1"), "private");
	ck_assert_str_eq(instance_of(&c, "fd12::1"), "private");
	ck_assert_str_eq(instance_of(&c, "fe80::1"), "link-local");
	ck_assert_str_eq(instance_of(&c, "8.8.8.8"), "other");
	ts_config_free(&c);

	ts_config_init(&c);
	ck_assert_int_eq(ts_config_parse(&c, NULL, collect, &e), 0);
	ck_assert(c.builtin_defaults);
	ck_assert_uint_eq(c.n_subnets, 3);
	ts_config_free(&c);
}
END_TEST

/* ---- bad input: one line naming the option, the value and the fix ---- */

START_TEST(bad_prefix_names_subnet_value_and_fix)
{
	expect_error("<Subnet \"dc\">\n Prefix \"10.169.1.0/16\"\n</Subnet>",
		     "Prefix \"10.169.1.0/16\" in Subnet \"dc\": host bits are set",
		     "\"10.169.0.0/16\"");
	expect_error("<Subnet \"dc\">\n Prefix \"10.169.0.0/40\"\n</Subnet>",
		     "Prefix \"10.169.0.0/40\" in Subnet \"dc\"", "IPv4 allows /0 to /32");
	expect_error("<Subnet \"dc\">\n Prefix \"banana/8\"\n</Subnet>",
		     "Prefix \"banana/8\" in Subnet \"dc\"", "not an IPv4 or IPv6 address");
	expect_error("<Subnet \"dc\">\n Prefix 10\n</Subnet>",
		     "Prefix in Subnet \"dc\" needs one quoted string", NULL);
	expect_error("Subnet \"10.170.1.0/16\"", "Subnet \"10.170.1.0/16\": host bits are set",
		     "\"10.170.0.0/16\"");
	expect_error("Subnet \"10.170.0.0/99\"", "Subnet \"10.170.0.0/99\"", "out of range");
}
END_TEST

START_TEST(same_prefix_in_two_subnets_is_an_error)
{
	expect_error("<Subnet \"a\">\n Prefix \"10.0.0.0/8\"\n</Subnet>\n"
		     "<Subnet \"b\">\n Prefix \"10.0.0.0/8\"\n</Subnet>\n",
		     "Prefix \"10.0.0.0/8\" in Subnet \"b\" is already in Subnet \"a\"",
		     "belong to one subnet only");
	expect_error("<Subnet \"a\">\n Prefix \"10.0.0.0/8\"\n</Subnet>\n"
		     "<Subnet \"b\">\n Prefix \"::ffff:10.0.0.0/104\"\n</Subnet>\n",
		     "\"::ffff:10.0.0.0/104\" in Subnet \"b\" is already in Subnet \"a\"",
		     "(as \"10.0.0.0/8\")");
	expect_error("<Subnet \"a\">\n Prefix \"10.0.0.0/8\"\n Prefix \"10.0.0.0/8\"\n</Subnet>",
		     "listed twice in Subnet \"a\"", NULL);
	expect_error("Subnet \"10.0.0.0/8\"\n<Subnet \"a\">\n Prefix \"10.0.0.0/8\"\n</Subnet>",
		     "already in Subnet", NULL);
}
END_TEST

START_TEST(empty_subnet_is_an_error)
{
	expect_error("<Subnet \"dc-east\">\n</Subnet>", "Subnet \"dc-east\" has no Prefix",
		     "<Subnet \"dc-east\">");
	expect_error("Subnet \"dc-east\"", "Subnet \"dc-east\" has no Prefix", NULL);
}
END_TEST

START_TEST(duplicate_subnet_name_is_an_error)
{
	expect_error("<Subnet \"a\">\n Prefix \"10.0.0.0/8\"\n</Subnet>\n"
		     "<Subnet \"a\">\n Prefix \"11.0.0.0/8\"\n</Subnet>\n",
		     "Subnet \"a\" is configured more than once", "rename");
	expect_error("<Subnet \"a\">\n Prefix \"10.0.0.0/8\"\n</Subnet>\n"
		     "<Subnet \"a\">\n Prefix \"11.0.0.0/8\"\n</Subnet>\n"
		     "<Subnet \"a\">\n Prefix \"12.0.0.0/8\"\n</Subnet>\n",
		     "Subnet \"a\" is configured more than once", NULL);
}
END_TEST

START_TEST(bad_subnet_names_are_errors)
{
	expect_error("<Subnet \"dc east\">\n Prefix \"10.0.0.0/8\"\n</Subnet>",
		     "Subnet \"dc east\": character ' ' is not allowed", "letters, digits");
	expect_error("<Subnet \"other\">\n Prefix \"10.0.0.0/8\"\n</Subnet>",
		     "Subnet \"other\"", "reserved");
	expect_error("<Subnet \"\">\n Prefix \"10.0.0.0/8\"\n</Subnet>", "Subnet \"\"", "empty");
	expect_error("<Subnet 5>\n Prefix \"10.0.0.0/8\"\n</Subnet>",
		     "Subnet needs one quoted string", NULL);
}
END_TEST

START_TEST(unknown_options_are_errors)
{
	expect_error("Subnet \"10.0.0.0/8\"\nInterval 5\n",
		     "unknown option \"Interval\" in <Plugin tcpsubnet>", "valid options are");
	expect_error("<Subnet \"a\">\n Prefix \"10.0.0.0/8\"\n Prefx \"11.0.0.0/8\"\n</Subnet>",
		     "unknown option \"Prefx\" in <Subnet \"a\">", "only Prefix");
	expect_error("Subnet \"10.0.0.0/8\"\nPrefix \"11.0.0.0/8\"\n",
		     "unknown option \"Prefix\" in <Plugin tcpsubnet>", NULL);
	expect_error("Subnet \"10.0.0.0/8\"\n<AttachMode \"auto\">\nX 1\n</AttachMode>\n",
		     "AttachMode is not a block", NULL);
}
END_TEST

START_TEST(bad_option_values_are_errors)
{
	expect_error("Subnet \"10.0.0.0/8\"\nAttachMode \"fast\"",
		     "AttachMode \"fast\" is not a known mode",
		     "\"auto\", \"fentry\", \"tracepoint\" or \"kprobe\"");
	expect_error("Subnet \"10.0.0.0/8\"\nAttachMode 3", "AttachMode expects one quoted", NULL);
	expect_error("Subnet \"10.0.0.0/8\"\nAttachMode \"auto\"\nAttachMode \"kprobe\"",
		     "AttachMode is set more than once", NULL);
	expect_error("Subnet \"10.0.0.0/8\"\nAccounting \"segment\"",
		     "Accounting \"segment\" is not a known accounting",
		     "use \"syscall\" (per send and receive call) or \"socket\"");
	expect_error("Subnet \"10.0.0.0/8\"\nAccounting 1",
		     "Accounting expects one quoted string: \"syscall\" or \"socket\"", NULL);
	expect_error("Subnet \"10.0.0.0/8\"\nAccounting \"socket\"\nAccounting \"socket\"",
		     "Accounting is set more than once", NULL);
	expect_error("Subnet \"10.0.0.0/8\"\nReportUnmatched \"maybe\"",
		     "ReportUnmatched expects true or false", NULL);
	expect_error("Subnet \"10.0.0.0/8\"\nMaxPrefixes 0", "MaxPrefixes 0 is out of range",
		     "1 to 1048576");
	expect_error("Subnet \"10.0.0.0/8\"\nMaxPrefixes 1e12", "MaxPrefixes", "out of range");
	expect_error("Subnet \"10.0.0.0/8\"\nMaxPrefixes 2.5", "MaxPrefixes 2.5 is out of range",
		     NULL);
	expect_error("Subnet \"10.0.0.0/8\"\nMaxPrefixes \"many\"", "MaxPrefixes expects one number",
		     NULL);
	expect_error("Subnet \"10.0.0.0/8\"\nKernelBTF \"vmlinux\"",
		     "KernelBTF expects one absolute file path", NULL);
}
END_TEST

START_TEST(too_many_prefixes_is_an_error)
{
	expect_error("MaxPrefixes 2\n"
		     "<Subnet \"a\">\n Prefix \"10.0.0.0/8\"\n Prefix \"11.0.0.0/8\"\n</Subnet>\n"
		     "Subnet \"12.0.0.0/8\"\n",
		     "MaxPrefixes 2 is exceeded: 3 prefixes are configured", "raise MaxPrefixes");
}
END_TEST

START_TEST(every_error_is_reported)
{
	struct ts_config c;
	struct errs e;

	ck_assert_int_eq(parse("<Subnet \"a\">\n Prefix \"10.0.0.1/8\"\n Prefix \"x/1\"\n</Subnet>\n"
			       "AttachMode \"no\"\nFoo 1\n", &c, &e), 4);
	ts_config_free(&c);
}
END_TEST

START_TEST(many_prefixes_parse_and_resolve)
{
	/* 65536 prefixes: /24s of 10.0.0.0/8 in 256 subnets, plus their IPv6 twins. */
	size_t len = 65536 * 40 + 256 * 64, off = 0;
	char *text = malloc(len);
	struct ts_config c;
	struct errs e;

	for (int s = 0; s < 256; s++) {
		off += (size_t)snprintf(text + off, len - off, "<Subnet \"s%d\">\n", s);
		for (int i = 0; i < 128; i++) {
			off += (size_t)snprintf(text + off, len - off, "Prefix \"10.%d.%d.0/24\"\n", s, i);
			off += (size_t)snprintf(text + off, len - off, "Prefix \"2001:db8:%x:%x::/64\"\n", s, i);
		}
		off += (size_t)snprintf(text + off, len - off, "</Subnet>\n");
	}
	ck_assert_int_eq(parse(text, &c, &e), 0);
	ck_assert_uint_eq(c.n_prefixes, 65536);
	ck_assert_str_eq(instance_of(&c, "10.77.5.1"), "s77");
	ck_assert_str_eq(instance_of(&c, "2001:db8:4d:5::9"), "s77");
	ck_assert_str_eq(instance_of(&c, "10.77.200.1"), "other");
	ts_config_free(&c);
	free(text);
}
END_TEST


/* ---- RTT, health, pairs, port filters ---- */

START_TEST(rtt_and_health_options)
{
	struct ts_config c;
	struct errs e;

	ck_assert_int_eq(parse("Subnet \"10.0.0.0/8\"\n", &c, &e), 0);
	ck_assert(c.rtt && c.connections && c.retransmits);
	ck_assert_uint_eq(c.n_percentiles, 3);
	ck_assert_double_eq(c.percentiles[0], 50);
	ck_assert_double_eq(c.percentiles[1], 90);
	ck_assert_double_eq(c.percentiles[2], 99);
	ts_config_free(&c);

	ck_assert_int_eq(parse("Subnet \"10.0.0.0/8\"\nRTT false\nConnections false\n"
			       "Retransmits off\nRTTPercentile 99.9 100 0.5\n", &c, &e), 0);
	ck_assert(!c.rtt && !c.connections && !c.retransmits);
	ck_assert_uint_eq(c.n_percentiles, 3);
	ck_assert_double_eq(c.percentiles[0], 99.9);
	ck_assert_double_eq(c.percentiles[2], 0.5);
	ts_config_free(&c);
}
END_TEST

START_TEST(bad_rtt_and_health_values)
{
	expect_error("Subnet \"10.0.0.0/8\"\nRTTPercentile 0", "RTTPercentile 0 is out of range",
		     "above 0 and at most 100");
	expect_error("Subnet \"10.0.0.0/8\"\nRTTPercentile 50 100.5", "RTTPercentile 100.5 is out",
		     NULL);
	expect_error("Subnet \"10.0.0.0/8\"\nRTTPercentile 50 50", "RTTPercentile 50 is listed twice",
		     NULL);
	expect_error("Subnet \"10.0.0.0/8\"\nRTTPercentile 99.95 99.950001",
		     "RTTPercentile 99.95 and 99.950001 would both be named rtt-percentile-99.95",
		     "remove one");
	expect_error("Subnet \"10.0.0.0/8\"\nMaxPrefixes 1048577", "MaxPrefixes 1048577 is out", NULL);
	expect_error("<Subnet \"dc\teast\">\n Prefix \"10.0.0.0/8\"\n</Subnet>",
		     "Subnet \"dc\\teast\": byte 0x09", NULL);
	expect_error("Subnet \"10.0.0.0/8\"\nRTTPercentile \"p99\"", "RTTPercentile expects numbers",
		     NULL);
	expect_error("Subnet \"10.0.0.0/8\"\nRTTPercentile", "RTTPercentile expects 1 to 16", NULL);
	expect_error("Subnet \"10.0.0.0/8\"\nRTT 1", "RTT expects true or false", NULL);
	expect_error("Subnet \"10.0.0.0/8\"\nConnections \"sometimes\"",
		     "Connections expects true or false", NULL);
	expect_error("Subnet \"10.0.0.0/8\"\nRetransmits 2", "Retransmits expects true or false", NULL);
}
END_TEST

START_TEST(ports_and_ranges_set_the_filter)
{
	struct ts_config c;
	struct errs e;

	ck_assert_int_eq(parse("Subnet \"10.0.0.0/8\"\nLocalPort 22 \"8000-8099\"\n"
			       "LocalPort \"443\"\nRemotePort \"65535\"\n", &c, &e), 0);
	ck_assert(c.lport_filter && c.rport_filter);
	ck_assert(ts_config_port_passes(&c, true, 22));
	ck_assert(ts_config_port_passes(&c, true, 443));
	ck_assert(ts_config_port_passes(&c, true, 8000));
	ck_assert(ts_config_port_passes(&c, true, 8099));
	ck_assert(!ts_config_port_passes(&c, true, 8100));
	ck_assert(!ts_config_port_passes(&c, true, 7999));
	ck_assert(!ts_config_port_passes(&c, true, 23));
	ck_assert(ts_config_port_passes(&c, false, 65535));
	ck_assert(!ts_config_port_passes(&c, false, 22));
	ts_config_free(&c);

	ck_assert_int_eq(parse("Subnet \"10.0.0.0/8\"\n", &c, &e), 0);
	ck_assert(ts_config_port_passes(&c, true, 1) && ts_config_port_passes(&c, false, 80));
	ts_config_free(&c);
}
END_TEST

START_TEST(bad_ports_are_errors)
{
	expect_error("Subnet \"10.0.0.0/8\"\nLocalPort 0", "LocalPort 0 is not a port",
		     "1 to 65535");
	expect_error("Subnet \"10.0.0.0/8\"\nLocalPort 65536", "LocalPort 65536 is not a port", NULL);
	expect_error("Subnet \"10.0.0.0/8\"\nRemotePort \"90-80\"",
		     "RemotePort \"90-80\" is not a port or range", "\"low-high\"");
	expect_error("Subnet \"10.0.0.0/8\"\nRemotePort \"http\"", "RemotePort \"http\" is not", NULL);
	expect_error("Subnet \"10.0.0.0/8\"\nRemotePort \"80-\"", "RemotePort \"80-\" is not", NULL);
	expect_error("Subnet \"10.0.0.0/8\"\nLocalPort 2.5", "LocalPort 2.5 is not a port", NULL);
	expect_error("Subnet \"10.0.0.0/8\"\nLocalPort", "LocalPort expects ports or ranges", NULL);
	expect_error("Subnet \"10.0.0.0/8\"\nLocalPort true", "LocalPort expects ports or ranges", NULL);
}
END_TEST

static const char pairs[] =
	"<LocalSubnet \"la\">\n Prefix \"10.1.0.0/16\"\n</LocalSubnet>\n"
	"LocalSubnet \"10.2.0.0/16\"\n"
	"<Subnet \"ra\">\n Prefix \"10.1.0.0/16\"\n</Subnet>\n"
	"Subnet \"10.9.0.0/16\"\n";

START_TEST(local_subnets_make_pairs)
{
	struct ts_config c;
	struct errs e;
	char name[128];

	ck_assert_int_eq(parse(pairs, &c, &e), 0);
	ck_assert_uint_eq(c.n_lsubnets, 2);
	ck_assert_uint_eq(c.n_lprefixes, 2);
	ck_assert_uint_eq(ts_config_index_count(&c), 3 * 3);
	ck_assert(ts_config_index_name(&c, 0, name, sizeof(name)));
	ck_assert_str_eq(name, "other-to-other");
	ck_assert(ts_config_index_name(&c, 1 * 3 + 1, name, sizeof(name)));
	ck_assert_str_eq(name, "la-to-ra");
	ck_assert(ts_config_index_name(&c, 2 * 3 + 2, name, sizeof(name)));
	ck_assert_str_eq(name, "10.2.0.0/16-to-10.9.0.0/16");
	ck_assert_str_eq(ts_config_local_instance(&c, 1), "la");
	ts_config_free(&c);
}
END_TEST

START_TEST(without_local_subnets_instances_are_subnet_names)
{
	struct ts_config c;
	struct errs e;
	char name[128];

	ck_assert_int_eq(parse("Subnet \"10.9.0.0/16\"\nReportUnmatched false\n", &c, &e), 0);
	ck_assert_uint_eq(ts_config_index_count(&c), 2);
	ck_assert(!ts_config_index_name(&c, 0, name, sizeof(name)));
	ck_assert(ts_config_index_name(&c, 1, name, sizeof(name)));
	ck_assert_str_eq(name, "10.9.0.0/16");
	ts_config_free(&c);
}
END_TEST

START_TEST(bad_local_subnets_are_errors)
{
	expect_error("<LocalSubnet \"a\">\n Prefix \"10.0.0.1/8\"\n</LocalSubnet>",
		     "Prefix \"10.0.0.1/8\" in LocalSubnet \"a\": host bits are set", NULL);
	expect_error("<LocalSubnet \"a\">\n</LocalSubnet>", "LocalSubnet \"a\" has no Prefix", NULL);
	expect_error("<LocalSubnet \"a\">\n Prefix \"10.0.0.0/8\"\n</LocalSubnet>\n"
		     "<LocalSubnet \"b\">\n Prefix \"10.0.0.0/8\"\n</LocalSubnet>",
		     "in LocalSubnet \"b\" is already in LocalSubnet \"a\"", NULL);
	expect_error("<LocalSubnet \"a\">\n Prefix \"10.0.0.0/8\"\n</LocalSubnet>\n"
		     "<LocalSubnet \"a\">\n Prefix \"11.0.0.0/8\"\n</LocalSubnet>",
		     "LocalSubnet \"a\" is configured more than once", NULL);
	expect_error("LocalSubnet \"10.0.0.0/8\"\n<Subnet \"back-to-back\">\n"
		     " Prefix \"11.0.0.0/8\"\n</Subnet>",
		     "Subnet \"back-to-back\": names may not contain \"-to-\"", NULL);
	expect_error("<LocalSubnet \"x-to-y\">\n Prefix \"11.0.0.0/8\"\n</LocalSubnet>",
		     "LocalSubnet \"x-to-y\": names may not contain \"-to-\"", NULL);
	expect_error("<LocalSubnet \"bad name\">\n Prefix \"11.0.0.0/8\"\n</LocalSubnet>",
		     "LocalSubnet \"bad name\": character ' '", NULL);
}
END_TEST

START_TEST(same_prefix_may_be_local_and_remote)
{
	struct ts_config c;
	struct errs e;

	ck_assert_int_eq(parse("LocalSubnet \"10.0.0.0/8\"\nSubnet \"10.0.0.0/8\"\n", &c, &e), 0);
	ts_config_free(&c);
}
END_TEST

START_TEST(pair_names_must_fit_collectd)
{
	char text[1024];

	snprintf(text, sizeof(text),
		 "<LocalSubnet \"%063d\">\n Prefix \"10.0.0.0/8\"\n</LocalSubnet>\n"
		 "<Subnet \"%063d\">\n Prefix \"11.0.0.0/8\"\n</Subnet>\n", 1, 2);
	expect_error(text, "would be 130 characters, collectd allows 127",
		     "shorten the LocalSubnet or Subnet name");
}
END_TEST

START_TEST(max_prefixes_counts_local_prefixes_too)
{
	expect_error("MaxPrefixes 2\nSubnet \"10.0.0.0/8\"\nSubnet \"11.0.0.0/8\"\n"
		     "LocalSubnet \"12.0.0.0/8\"\n",
		     "MaxPrefixes 2 is exceeded: 3 prefixes are configured", NULL);
}
END_TEST

/* Instances that would become one series are refused with one line naming both. */
START_TEST(colliding_pair_instances_are_refused)
{
	struct ts_config c;
	struct errs e;

	expect_error("<LocalSubnet \"a-to\">\n Prefix \"10.1.0.0/16\"\n</LocalSubnet>\n"
		     "<LocalSubnet \"a\">\n Prefix \"10.2.0.0/16\"\n</LocalSubnet>\n"
		     "<Subnet \"b\">\n Prefix \"10.3.0.0/16\"\n</Subnet>\n"
		     "<Subnet \"to-b\">\n Prefix \"10.4.0.0/16\"\n</Subnet>\n",
		     "LocalSubnet \"a-to\" with Subnet \"b\" and LocalSubnet \"a\" with Subnet "
		     "\"to-b\"", "\"a-to-to-b\"");
	/* "other" is an instance on both sides too. */
	expect_error("LocalSubnet \"10.1.0.0/16\"\n<LocalSubnet \"other-to\">\n"
		     " Prefix \"10.2.0.0/16\"\n</LocalSubnet>\n"
		     "<Subnet \"to-other\">\n Prefix \"10.4.0.0/16\"\n</Subnet>\n",
		     "\"other-to-to-other\"", NULL);
	/* Half of such a pair alone is unambiguous. */
	ck_assert_int_eq(parse("<LocalSubnet \"a-to\">\n Prefix \"10.1.0.0/16\"\n"
			       "</LocalSubnet>\n<Subnet \"to-b\">\n Prefix \"10.4.0.0/16\"\n"
			       "</Subnet>\n", &c, &e), 0);
	ts_config_free(&c);
}
END_TEST

START_TEST(names_equal_once_written_are_refused)
{
	struct ts_config c;
	struct errs e;

	expect_error("Subnet \"10.170.0.0/16\"\n<Subnet \"10.170.0.0_16\">\n"
		     " Prefix \"10.171.0.0/16\"\n</Subnet>\n",
		     "Subnet \"10.170.0.0/16\" and Subnet \"10.170.0.0_16\"", "10_170_0_0_16");
	expect_error("<Subnet \"a.b\">\n Prefix \"10.1.0.0/16\"\n</Subnet>\n"
		     "<Subnet \"a_b\">\n Prefix \"10.2.0.0/16\"\n</Subnet>\n",
		     "\"a.b\" and Subnet \"a_b\"", NULL);
	expect_error("LocalSubnet \"10.1.0.0/16\"\n<LocalSubnet \"10.1.0.0_16\">\n"
		     " Prefix \"10.2.0.0/16\"\n</LocalSubnet>\nSubnet \"10.3.0.0/16\"\n",
		     "LocalSubnet \"10.1.0.0/16\" and LocalSubnet \"10.1.0.0_16\"", NULL);
	/* The same text on the two sides is fine: pairs are "<local>-to-<remote>". */
	ck_assert_int_eq(parse("LocalSubnet \"10.1.0.0/16\"\nSubnet \"10.2.0.0/16\"\n"
			       "<Subnet \"x\">\n Prefix \"10.3.0.0/16\"\n</Subnet>\n", &c, &e), 0);
	ts_config_free(&c);
}
END_TEST

/* 300,001 one-prefix subnets: refused whatever MaxPrefixes says, with the memory. */
START_TEST(counter_slots_are_bounded_without_local_subnets)
{
	size_t n = 300001, len = 64 + n * 40;
	char *text = malloc(len), *p = text;
	struct ts_config c;
	struct errs e;

	ck_assert_ptr_nonnull(text);
	p += sprintf(p, "MaxPrefixes 1048576\n");
	for (size_t i = 0; i < n; i++)
		p += sprintf(p, "Subnet \"10.%zu.%zu.%zu/32\"\n", i >> 16, (i >> 8) & 255, i & 255);
	ck_assert_int_eq(parse(text, &c, &e), 1);
	ck_assert_msg(strstr(e.text, "300002 counter slots") && strstr(e.text, "MiB in the kernel") &&
		      strstr(e.text, "limit of 262144 slots"), "%s", e.text);
	ts_config_free(&c);
	free(text);
}
END_TEST

/* ---- cardinality: RTTBuckets, RTTBucketWidth, MaxValues ---- */

START_TEST(cardinality_options_take_their_values)
{
	struct ts_config c;
	struct errs e;

	ck_assert_int_eq(parse("Subnet \"10.0.0.0/8\"\n", &c, &e), 0);
	ck_assert(c.rtt_buckets);
	ck_assert_uint_eq(c.rtt_bucket_width, 1);
	ck_assert_uint_eq(c.max_values, TS_DEFAULT_MAX_VALUES);
	ts_config_free(&c);
	ck_assert_int_eq(parse("Subnet \"10.0.0.0/8\"\nRTTBuckets false\nRTTBucketWidth 3\n"
			       "MaxValues 74\n", &c, &e), 0);
	ck_assert(!c.rtt_buckets);
	ck_assert_uint_eq(c.rtt_bucket_width, 3);
	ck_assert_uint_eq(c.max_values, 74);
	ts_config_free(&c);
}
END_TEST

/* Values per subnet of each option combination: the table in the man page and README. */
START_TEST(values_per_subnet_of_each_option_combination)
{
	static const struct {
		const char *opts;
		size_t per, buckets;
	} rows[] = {
		{ "", 37, 27 },
		{ "RTTBucketWidth 2\n", 24, 14 },
		{ "RTTBucketWidth 3\n", 19, 9 },
		{ "RTTBucketWidth 9\n", 13, 3 },
		{ "RTTBucketWidth 27\n", 11, 1 },
		{ "RTTBuckets false\n", 10, 0 },
		{ "RTTBuckets false\nRTTPercentile 99\n", 8, 0 },
		{ "RTTPercentile 50 90 99 99.9\nRTTBucketWidth 3\n", 20, 9 },
		{ "RTT false\n", 5, 0 },
		{ "RTT false\nRTTBucketWidth 3\n", 5, 0 },
		{ "RTT false\nConnections false\nRetransmits false\n", 1, 0 },
		{ "Connections false\nRetransmits false\nRTTBuckets false\n", 6, 0 },
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		char text[256];
		struct ts_config c;
		struct errs e;

		snprintf(text, sizeof(text), "Subnet \"10.0.0.0/8\"\n%s", rows[i].opts);
		ck_assert_int_eq(parse(text, &c, &e), 0);
		ck_assert_msg(ts_config_values_per_instance(&c) == rows[i].per &&
			      ts_config_bucket_values(&c) == rows[i].buckets,
			      "%s: %zu values (%u buckets), want %zu (%zu)", rows[i].opts,
			      ts_config_values_per_instance(&c), ts_config_bucket_values(&c),
			      rows[i].per, rows[i].buckets);
		/* The subnet and "other". */
		ck_assert_uint_eq(ts_config_values_per_cycle(&c),
				  2 * rows[i].per + TS_HEALTH_VALUES);
		ts_config_free(&c);
	}
}
END_TEST

START_TEST(instances_count_pairs_and_unmatched)
{
	struct ts_config c;
	struct errs e;

	ck_assert_int_eq(parse("LocalSubnet \"10.1.0.0/16\"\nSubnet \"10.2.0.0/16\"\n"
			       "Subnet \"10.3.0.0/16\"\n", &c, &e), 0);
	ck_assert_uint_eq(ts_config_instance_count(&c), 2 * 3);
	ts_config_free(&c);
	ck_assert_int_eq(parse("LocalSubnet \"10.1.0.0/16\"\nSubnet \"10.2.0.0/16\"\n"
			       "Subnet \"10.3.0.0/16\"\nReportUnmatched false\n", &c, &e), 0);
	ck_assert_uint_eq(ts_config_instance_count(&c), 2 * 2);
	ts_config_free(&c);
	/* Built-in subnets: loopback, private, link-local and other. */
	ck_assert_int_eq(parse("", &c, &e), 0);
	ck_assert_uint_eq(ts_config_values_per_cycle(&c), 4 * 37 + TS_HEALTH_VALUES);
	ts_config_free(&c);
}
END_TEST

START_TEST(max_values_is_a_bound_on_values_per_cycle)
{
	struct ts_config c;
	struct errs e;

	ck_assert_int_eq(parse("MaxValues 78\nSubnet \"10.0.0.0/8\"\n", &c, &e), 0);
	ts_config_free(&c);
	expect_error("MaxValues 77\nSubnet \"10.0.0.0/8\"\n",
		     "MaxValues 77 is exceeded: 2 subnets x 37 values + 4 health values = 78 "
		     "values per read cycle; raise MaxValues to 78, send fewer values per subnet "
		     "(RTTBuckets false: 10, RTTBucketWidth 3: 19, RTT false: 5) or configure "
		     "fewer subnets", NULL);
	/* Only the suggestions that would lower the count. */
	expect_error("MaxValues 20\nSubnet \"10.0.0.0/8\"\nRTTBucketWidth 9\n",
		     "2 subnets x 13 values + 4 health values = 30 values",
		     "(RTTBuckets false: 10, RTT false: 5)");
	expect_error("MaxValues 9\nSubnet \"10.0.0.0/8\"\nRTT false\n",
		     "2 subnets x 5 values + 4 health values = 14 values per read cycle; raise "
		     "MaxValues to 14 or configure fewer subnets", NULL);
	expect_error("MaxValues 1\nLocalSubnet \"10.1.0.0/16\"\nSubnet \"10.0.0.0/8\"\n"
		     "RTT false\nConnections false\nRetransmits false\n",
		     "4 subnet pairs x 1 values + 4 health values = 8 values", NULL);
	expect_error("MaxValues 0\nSubnet \"10.0.0.0/8\"\n", "MaxValues 0 is out of range; use a "
		     "whole number from 1 to 16777216", NULL);
	expect_error("MaxValues \"1\"\nSubnet \"10.0.0.0/8\"\n", "MaxValues expects one number",
		     NULL);
	expect_error("RTTBucketWidth 28\nSubnet \"10.0.0.0/8\"\n",
		     "RTTBucketWidth 28 is out of range; use a whole number from 1 to 27", NULL);
	expect_error("RTTBuckets 3\nSubnet \"10.0.0.0/8\"\n", "RTTBuckets expects true or false",
		     NULL);
}
END_TEST

/*
 * The default bound (why 1,000,000): 65,536 one-prefix subnets (MaxPrefixes' default)
 * pass with RTTBuckets false, 27,000 subnets with every default; 65,536 subnets with
 * the defaults (2.4 million values, about 4 GiB of collectd RSS) are refused.
 */
START_TEST(default_max_values_admits_what_the_docs_say)
{
	struct ts_config c;
	struct errs e;

	ck_assert_int_eq(parse("Subnet \"10.0.0.0/8\"\n", &c, &e), 0);
	c.n_subnets = 26999; /* + other = 27,000 instances; only the count looks at it */
	ck_assert_uint_le(ts_config_values_per_cycle(&c), TS_DEFAULT_MAX_VALUES);
	c.n_subnets = 65536;
	ck_assert_uint_gt(ts_config_values_per_cycle(&c), TS_DEFAULT_MAX_VALUES);
	c.rtt_buckets = false;
	ck_assert_uint_le(ts_config_values_per_cycle(&c), TS_DEFAULT_MAX_VALUES);
	c.n_subnets = 1;
	ts_config_free(&c);
	/* The largest configuration there can be stays below the upper limit of MaxValues. */
	ck_assert_uint_lt((size_t)TS_LIMIT_INDEXES * (1 + 3 + 1 + 2 + TS_MAX_PERCENTILES + 27),
			  TS_LIMIT_MAX_VALUES);
}
END_TEST

static Suite *tsconf_suite(void)
{
	Suite *s = suite_create("tsconf");
	TCase *tc = tcase_create("cidr");

	tcase_add_test(tc, cidr_ipv4_is_stored_mapped_with_length_plus_96);
	tcase_add_test(tc, cidr_ipv6_is_stored_as_is);
	tcase_add_test(tc, cidr_mapped_prefix_equals_ipv4_prefix);
	tcase_add_test(tc, cidr_rejects_host_bits_and_names_the_network);
	tcase_add_test(tc, cidr_rejects_lengths_out_of_range);
	tcase_add_test(tc, cidr_rejects_malformed_addresses);
	tcase_add_test(tc, lpm_key_is_prefixlen_then_address_bytes);
	suite_add_tcase(s, tc);

	tc = tcase_create("resolution");
	tcase_add_test(tc, longest_prefix_wins_across_subnets);
	tcase_add_test(tc, ipv4_mapped_peer_matches_ipv4_subnet);
	tcase_add_test(tc, mapped_prefix_in_config_matches_ipv4_peers);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, many_prefixes_parse_and_resolve);
	suite_add_tcase(s, tc);

	tc = tcase_create("naming");
	tcase_add_test(tc, names_allow_graphite_safe_characters_only);
	tcase_add_test(tc, names_are_at_most_63_characters);
	tcase_add_test(tc, instances_are_subnet_names_and_other);
	suite_add_tcase(s, tc);

	tc = tcase_create("options");
	tcase_add_test(tc, contract_example_parses);
	tcase_add_test(tc, defaults_are_documented_values);
	tcase_add_test(tc, options_take_their_values);
	tcase_add_test(tc, every_attach_mode_parses);
	tcase_add_test(tc, no_subnet_means_builtin_subnets);
	suite_add_tcase(s, tc);

	tc = tcase_create("errors");
	tcase_add_test(tc, bad_prefix_names_subnet_value_and_fix);
	tcase_add_test(tc, same_prefix_in_two_subnets_is_an_error);
	tcase_add_test(tc, empty_subnet_is_an_error);
	tcase_add_test(tc, duplicate_subnet_name_is_an_error);
	tcase_add_test(tc, bad_subnet_names_are_errors);
	tcase_add_test(tc, unknown_options_are_errors);
	tcase_add_test(tc, bad_option_values_are_errors);
	tcase_add_test(tc, too_many_prefixes_is_an_error);
	tcase_add_test(tc, every_error_is_reported);
	suite_add_tcase(s, tc);

	tc = tcase_create("rtt-health-pairs-ports");
	tcase_add_test(tc, rtt_and_health_options);
	tcase_add_test(tc, bad_rtt_and_health_values);
	tcase_add_test(tc, colliding_pair_instances_are_refused);
	tcase_add_test(tc, names_equal_once_written_are_refused);
	/* 300,001 subnets: about a second under ASan; valgrind.sh skips it (TS_UNIT_SKIP_LARGE). */
	if (!getenv("TS_UNIT_SKIP_LARGE")) {
		TCase *large = tcase_create("large");

		tcase_set_timeout(large, 120);
		tcase_add_test(large, counter_slots_are_bounded_without_local_subnets);
		suite_add_tcase(s, large);
	}

	tcase_add_test(tc, ports_and_ranges_set_the_filter);
	tcase_add_test(tc, bad_ports_are_errors);
	tcase_add_test(tc, local_subnets_make_pairs);
	tcase_add_test(tc, without_local_subnets_instances_are_subnet_names);
	tcase_add_test(tc, bad_local_subnets_are_errors);
	tcase_add_test(tc, same_prefix_may_be_local_and_remote);
	tcase_add_test(tc, pair_names_must_fit_collectd);
	tcase_add_test(tc, max_prefixes_counts_local_prefixes_too);
	suite_add_tcase(s, tc);

	tc = tcase_create("cardinality");
	tcase_add_test(tc, cardinality_options_take_their_values);
	tcase_add_test(tc, values_per_subnet_of_each_option_combination);
	tcase_add_test(tc, instances_count_pairs_and_unmatched);
	tcase_add_test(tc, max_values_is_a_bound_on_values_per_cycle);
	tcase_add_test(tc, default_max_values_admits_what_the_docs_say);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(tsconf_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
