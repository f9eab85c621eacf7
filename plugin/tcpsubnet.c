/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * collectd glue of the tcpsubnet plugin: config -> tsconf, init -> tsbpf, read ->
 * dispatch. Everything with logic lives in tsconf.c and tsbpf.c.
 *
 * This file includes collectd's headers and therefore never the project's own
 * config.h (both define PACKAGE_NAME); build settings arrive as TS_* -D flags.
 */
#include "collectd.h"
#include "plugin.h"
#include "utils/common/common.h"

#include "tsbpf.h"
#include "tsconf.h"
#include "tsoconf.h"
#include "tsvalues.h"

#define TS_PLUGIN "tcpsubnet"

static struct ts_config conf;
static bool conf_ready;
static int conf_errors;
static struct ts_bpf *bpf;
static struct ts_counters *totals;
static struct ts_hist *rtt_now, *rtt_prev;
static cdtime_t last_read;
static int lost_warned;

static int tcpsubnet_shutdown(void);

static void tcpsubnet_log(enum ts_log_level level, const char *line)
{
	static const int map[] = {
		[TS_LOG_ERR] = LOG_ERR,
		[TS_LOG_WARN] = LOG_WARNING,
		[TS_LOG_INFO] = LOG_INFO,
		[TS_LOG_DEBUG] = LOG_DEBUG,
	};

	plugin_log(map[level], TS_PLUGIN " plugin: %s", line);
}

static void tcpsubnet_config_error(void *ctx, const char *line)
{
	(void)ctx;
	ERROR(TS_PLUGIN " plugin: %s", line);
}

/*
 * Errors are logged here but reported to collectd only by init: a failing config
 * callback makes collectd 5.12 refuse the whole configuration, while a failing init
 * unloads just this plugin and the daemon goes on with the others.
 */
static int tcpsubnet_config(oconfig_item_t *ci)
{
	struct ts_citem *block;

	if (conf_ready || conf_errors) {
		ERROR(TS_PLUGIN " plugin: <Plugin tcpsubnet> appears more than once; merge the "
		      "blocks into one");
		conf_errors++;
		return 0;
	}
	block = ts_oconfig_convert(ci, 1, calloc);
	if (block == NULL) {
		ERROR(TS_PLUGIN " plugin: out of memory while reading the configuration");
		conf_errors++;
		return 0;
	}
	ts_config_init(&conf);
	conf_errors = ts_config_parse(&conf, block, tcpsubnet_config_error, NULL);
	ts_citems_free(block, 1);
	if (conf_errors)
		ts_config_free(&conf);
	else
		conf_ready = true;
	return 0;
}

static int tcpsubnet_init(void)
{
	char err[1024];
	int rc;

	if (bpf != NULL)
		return 0;
	if (conf_errors) {
		ERROR(TS_PLUGIN " plugin: not started because of the configuration errors "
		      "above; fix them and restart collectd");
		return -1;
	}
	if (!conf_ready) {
		/* LoadPlugin without a <Plugin tcpsubnet> block: built-in subnets. */
		ts_config_init(&conf);
		if (ts_config_parse(&conf, NULL, tcpsubnet_config_error, NULL) != 0)
			return -1;
		conf_ready = true;
	}
	if (conf.builtin_defaults)
		INFO(TS_PLUGIN " plugin: no Subnet configured, using the built-in subnets "
		     "loopback, private and link-local");

	ts_bpf_set_log(tcpsubnet_log);
	rc = ts_bpf_open(&conf, &bpf, err, sizeof(err));
	if (rc != 0) {
		ts_escape_controls(err, sizeof(err)); /* it may quote the KernelBTF path */
		ERROR(TS_PLUGIN " plugin: %s", err);
		return -1;
	}
	totals = calloc(ts_config_index_count(&conf), sizeof(*totals));
	rtt_now = calloc(ts_config_index_count(&conf), sizeof(*rtt_now));
	rtt_prev = calloc(ts_config_index_count(&conf), sizeof(*rtt_prev));
	if (totals == NULL || rtt_now == NULL || rtt_prev == NULL) {
		ERROR(TS_PLUGIN " plugin: out of memory");
		tcpsubnet_shutdown();
		return -1;
	}
	last_read = cdtime();
	INFO(TS_PLUGIN " plugin: attach mode %s; counting %zu subnets, %zu prefixes%s",
	     ts_bpf_choice(bpf), conf.n_subnets, conf.n_prefixes,
	     ts_config_has_cgroups(&conf) ? " per cgroup" : "");
	return 0;
}

/*
 * ctx is the cycle's time: every value of a read cycle carries the same timestamp, so
 * a writer sees one coherent sample (bucket rates x interval add up; Graphite never
 * splits a cycle across two seconds).
 */
static void tcpsubnet_dispatch(void *ctx, const struct ts_value *v)
{
	value_list_t vl = VALUE_LIST_INIT;
	value_t values[2];

	vl.time = *(const cdtime_t *)ctx;
	for (int i = 0; i < v->n; i++) {
		if (v->derive)
			values[i].derive = (derive_t)v->d[i];
		else
			values[i].gauge = v->g;
	}
	vl.values = values;
	vl.values_len = (size_t)v->n;
	sstrncpy(vl.plugin, TS_PLUGIN, sizeof(vl.plugin));
	sstrncpy(vl.plugin_instance, v->plugin_instance, sizeof(vl.plugin_instance));
	sstrncpy(vl.type, v->type, sizeof(vl.type));
	sstrncpy(vl.type_instance, v->type_instance, sizeof(vl.type_instance));
	plugin_dispatch_values(&vl);
}

static int tcpsubnet_read(void)
{
	struct ts_health health;
	char err[512], warning[400];
	cdtime_t now;

	if (bpf == NULL)
		return -1;
	if (ts_bpf_read(bpf, totals, rtt_now, err, sizeof(err)) != 0) {
		ERROR(TS_PLUGIN " plugin: %s", err);
		return -1;
	}
	ts_bpf_health(bpf, &health);
	now = cdtime();
	ts_values_emit_cg(&conf, ts_bpf_cgview(bpf), totals, rtt_now, rtt_prev,
			  CDTIME_T_TO_DOUBLE(now - last_read), tcpsubnet_dispatch, &now);
	ts_values_emit_health(&health, tcpsubnet_dispatch, &now);
	if (ts_values_health_warning(&health, ts_bpf_choice(bpf), &lost_warned, warning,
				     sizeof(warning)))
		WARNING(TS_PLUGIN " plugin: %s", warning);
	last_read = now;
	return 0;
}

static int tcpsubnet_shutdown(void)
{
	ts_bpf_close(bpf);
	bpf = NULL;
	free(totals);
	free(rtt_now);
	free(rtt_prev);
	totals = NULL;
	rtt_now = rtt_prev = NULL;
	ts_config_free(&conf);
	conf_ready = false;
	lost_warned = 0;
	return 0;
}

void module_register(void)
{
	plugin_register_complex_config(TS_PLUGIN, tcpsubnet_config);
	plugin_register_init(TS_PLUGIN, tcpsubnet_init);
	plugin_register_read(TS_PLUGIN, tcpsubnet_read);
	plugin_register_shutdown(TS_PLUGIN, tcpsubnet_shutdown);
}
