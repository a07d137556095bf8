/*
 * hasvc.conf: a good file read field by field, every kind of mistake
 * reported as "file:line: what: problem", the value checks, and the diff
 * that `hactl reload` shows; conf/hasvc.conf parses and its VMs' kernel
 * command lines fit the devices they declare.
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hasvc/cluster_config.h"
#include "hasvc/cluster_config_value.h"

#define NODES \
	"[node a]\nreplication = 10.0.0.1:7400\n" \
	"[node b]\nreplication = 10.0.0.2:7400\n" \
	"[node c]\nreplication = 10.0.0.3:7400\n"
#define PLAIN "[cluster]\nallow_plaintext = yes\n"

static const char good[] =
	"# a comment\n"                                   /* 1 */
	"[cluster]\n"                                     /* 2 */
	"name = lab\n"                                    /* 3 */
	"two_node = yes\n"                                /* 4 */
	"[node alpha]\n"                                  /* 5 */
	"replication = 10.0.0.1:7400\n"                   /* 6 */
	"tls_ca = /etc/hasvc/ca.pem\n"                    /* 7 */
	"tls_cert = /etc/hasvc/alpha.pem\n"               /* 8 */
	"tls_key = /etc/hasvc/alpha.key\n"                /* 9 */
	"fence_command = fence_ipmilan --ip=10.0.1.1 -o off\n" /* 10 */
	"[node beta]\n"                                   /* 11 */
	"  replication = [fd00::2]:7401   ; indented, inline comment\n" /* 12 */
	"  tls_ca = /ca\n  tls_cert = /b.pem\n  tls_key = /b.key\n" /* 13-15 */
	"[vm web1]\n"                                     /* 16 */
	"memory = 2G\n"                                   /* 17 */
	"vcpus = 2\n"                                     /* 18 */
	"kernel = /img/vmlinuz\n"                         /* 19 */
	"initrd = /img/initrd\n"                          /* 20 */
	"cmdline = console=ttyS0 root=/dev/vda rw\n"      /* 21 */
	"checkpoint_interval_ms = 40\n"                   /* 22 */
	"preferred_nodes = beta , alpha\n"                /* 23 */
	"priority = -5\n"                                 /* 24 */
	"protected = no\n"                                /* 25 */
	"disk = /srv/web1.img\ndisk_size = 20G\ndisk_shared = yes\n" /* 26-28 */
	"bridge = br0\nmac = 52:54:00:aa:bb:cc\n"         /* 29-30 */
	"max_restart = 3\nmax_relocate = 0\n"             /* 31-32 */
	"[vm db.1_x-y]\n"                                 /* 33 */
	"memory = 512M\n"                                 /* 34 */
	"kernel = /img/db\n";                             /* 35 */

static struct config *parse_ok(const char *text)
{
	struct config *c = NULL;
	char err[CONFIG_ERR_MAX] = "";
	int ret = cluster_config__parse_string(text, "hasvc.conf", &c, err, sizeof(err));

	ck_assert_msg(ret == 0, "unexpected error %d: %s", ret, err);
	return c;
}

START_TEST(test_good_file)
{
	struct config *c = parse_ok(good);
	const struct config_node *a, *b;
	const struct config_vm *w, *d;

	ck_assert_str_eq(c->path, "hasvc.conf");
	ck_assert_str_eq(c->cluster_name, "lab");
	ck_assert(c->two_node);
	ck_assert(!c->allow_plaintext);
	ck_assert_uint_eq(c->n_nodes, 2);
	ck_assert_uint_eq(c->n_vms, 2);

	a = cluster_config__node(c, "alpha");
	ck_assert_ptr_nonnull(a);
	ck_assert_int_eq(a->line, 5);
	ck_assert_str_eq(a->replication, "10.0.0.1:7400");
	ck_assert_str_eq(a->replication_host, "10.0.0.1");
	ck_assert_uint_eq(a->replication_port, 7400);
	ck_assert_str_eq(a->tls_ca, "/etc/hasvc/ca.pem");
	ck_assert_str_eq(a->tls_cert, "/etc/hasvc/alpha.pem");
	ck_assert_str_eq(a->tls_key, "/etc/hasvc/alpha.key");
	ck_assert_str_eq(a->fence_command, "fence_ipmilan --ip=10.0.1.1 -o off");

	b = cluster_config__node(c, "beta");
	ck_assert_str_eq(b->replication_host, "fd00::2");
	ck_assert_uint_eq(b->replication_port, 7401);
	ck_assert_str_eq(b->tls_key, "/b.key");
	ck_assert_ptr_null(b->fence_command);

	w = cluster_config__vm(c, "web1");
	ck_assert_int_eq(w->line, 16);
	ck_assert_uint_eq(w->memory, 2ULL << 30);
	ck_assert_uint_eq(w->vcpus, 2);
	ck_assert_str_eq(w->kernel, "/img/vmlinuz");
	ck_assert_str_eq(w->initrd, "/img/initrd");
	ck_assert_str_eq(w->cmdline, "console=ttyS0 root=/dev/vda rw");
	ck_assert_uint_eq(w->checkpoint_interval_ms, 40);
	ck_assert_uint_eq(w->n_preferred, 2);
	ck_assert_str_eq(w->preferred_nodes[0], "beta");
	ck_assert_str_eq(w->preferred_nodes[1], "alpha");
	ck_assert_int_eq(w->preferred_line, 23);
	ck_assert_int_eq(w->priority, -5);
	ck_assert(!w->protect);
	ck_assert_str_eq(w->disk, "/srv/web1.img");
	ck_assert_uint_eq(w->disk_size, 20ULL << 30);
	ck_assert(w->disk_shared);
	ck_assert_str_eq(w->bridge, "br0");
	ck_assert(w->has_mac);
	ck_assert_uint_eq(w->mac[5], 0xcc);
	ck_assert_uint_eq(w->max_restart, 3);
	ck_assert_uint_eq(w->max_relocate, 0);

	/* Defaults. */
	d = cluster_config__vm(c, "db.1_x-y");
	ck_assert_ptr_nonnull(d);
	ck_assert_uint_eq(d->memory, 512ULL << 20);
	ck_assert_uint_eq(d->vcpus, 1);
	ck_assert_ptr_null(d->cmdline);
	ck_assert_ptr_null(d->initrd);
	ck_assert_uint_eq(d->checkpoint_interval_ms, CONFIG_DEFAULT_INTERVAL_MS);
	ck_assert_uint_eq(d->n_preferred, 0);
	ck_assert_int_eq(d->priority, 0);
	ck_assert(d->protect);
	ck_assert_ptr_null(d->disk);
	ck_assert_ptr_null(d->bridge);
	ck_assert(!d->has_mac && !d->disk_shared);
	ck_assert_uint_eq(d->max_restart, CONFIG_DEFAULT_MAX_RESTART);
	ck_assert_uint_eq(d->max_relocate, CONFIG_DEFAULT_MAX_RELOCATE);
	ck_assert_ptr_null(cluster_config__vm(c, "nope"));
	cluster_config__free(c);
}
END_TEST

START_TEST(test_defaults_and_long_lines)
{
	char *text, *cmd = malloc(1001);
	struct config *c;

	memset(cmd, 'x', 1000);
	cmd[1000] = '\0';
	ck_assert_int_gt(asprintf(&text, PLAIN NODES "[vm v]\nmemory=1M\nkernel=/k\n"
				  "cmdline = %s\n", cmd), 0);
	c = parse_ok(text);
	ck_assert_str_eq(c->cluster_name, "hasvc");
	ck_assert(c->allow_plaintext);
	ck_assert_uint_eq(c->sync_timeout_ms, CONFIG_DEFAULT_SYNC_TIMEOUT_MS);
	ck_assert_uint_eq(strlen(c->vms[0].cmdline), 1000);
	cluster_config__free(c);
	free(text);
	c = parse_ok(PLAIN "sync_timeout_ms = 2500\n" NODES);
	ck_assert_uint_eq(c->sync_timeout_ms, 2500);
	/* No metrics server unless asked; its address then defaults (NULL). */
	ck_assert_uint_eq(c->metrics_port, 0);
	ck_assert_ptr_null(c->metrics_address);
	cluster_config__free(c);
	c = parse_ok(PLAIN "metrics_port = 9465\nmetrics_address = ::1\n" NODES);
	ck_assert_uint_eq(c->metrics_port, 9465);
	ck_assert_str_eq(c->metrics_address, "::1");
	ck_assert_ptr_null(c->alert_command);
	ck_assert_uint_eq(c->alert_timeout_ms, CONFIG_DEFAULT_ALERT_TIMEOUT_MS);
	cluster_config__free(c);
	c = parse_ok(PLAIN "alert_command = /bin/alert --x\nalert_timeout_ms = 500\n" NODES);
	ck_assert_str_eq(c->alert_command, "/bin/alert --x");
	ck_assert_uint_eq(c->alert_timeout_ms, 500);
	ck_assert_uint_eq(c->restart_grace_ms, CONFIG_DEFAULT_RESTART_GRACE_MS);
	cluster_config__free(c);
	c = parse_ok(PLAIN "restart_grace_ms = 3000\n" NODES);
	ck_assert_uint_eq(c->restart_grace_ms, 3000);
	ck_assert_uint_eq(c->host_reserve_memory, CONFIG_DEFAULT_HOST_RESERVE);
	cluster_config__free(c);
	c = parse_ok(PLAIN "host_reserve_memory = 2G\n" NODES);
	ck_assert_uint_eq(c->host_reserve_memory, 2ULL << 30);
	cluster_config__free(c);
	c = parse_ok(PLAIN "host_reserve_memory = 0\n" NODES);
	ck_assert_uint_eq(c->host_reserve_memory, 0);
	cluster_config__free(c);
	free(cmd);
}
END_TEST

/* Output-triggered epochs, per VM: on by default, the vmm's own bounds (0). */
START_TEST(test_output_epochs_keys)
{
	struct config *c = parse_ok(PLAIN NODES
		"[vm w]\nmemory = 1G\nkernel = /k\ncheckpoint_output_epochs = no\n"
		"checkpoint_min_interval_ms = 3\ncheckpoint_max_rate = 200\n"
		"checkpoint_ack_timeout_ms = 30000\n"
		"[vm d]\nmemory = 1G\nkernel = /k\ncheckpoint_min_interval_ms = 0.25\n");
	const struct config_vm *w = cluster_config__vm(c, "w"), *d = cluster_config__vm(c, "d");
	struct config *c2 = parse_ok(PLAIN NODES
		"[vm w]\nmemory = 1G\nkernel = /k\ncheckpoint_output_epochs = no\n"
		"checkpoint_min_interval_ms = 3\ncheckpoint_max_rate = 300\n"
		"[vm d]\nmemory = 1G\nkernel = /k\ncheckpoint_min_interval_ms = 0.25\n");
	struct config_diff diff;

	ck_assert(!w->checkpoint_output_epochs);
	ck_assert_uint_eq(w->checkpoint_min_interval_us, 3000);
	ck_assert_uint_eq(w->checkpoint_max_rate, 200);
	ck_assert_uint_eq(w->checkpoint_ack_timeout_ms, 30000);
	ck_assert_uint_eq(d->checkpoint_ack_timeout_ms, 0);
	ck_assert(d->checkpoint_output_epochs);
	ck_assert_uint_eq(d->checkpoint_min_interval_us, 250);
	ck_assert_uint_eq(d->checkpoint_max_rate, 0);
	/* A new rate is a changed VM (for copies started afterwards). */
	ck_assert_int_eq(cluster_config__diff(c, c2, &diff), 0);
	ck_assert_uint_eq(diff.n_changed, 1);
	ck_assert_str_eq(diff.changed[0], "w");
	cluster_config__diff_free(&diff);
	cluster_config__free(c);
	cluster_config__free(c2);
}
END_TEST

/* A CRL file is optional, per node, with TLS; without it, none. */
/* fencing follows fence_command unless given; watchdog keys and defaults. */
START_TEST(test_fencing_keys)
{
	struct config *c = parse_ok(PLAIN "watchdog_margin_ms = 0\n"
				    "[node a]\nreplication = h:1\nfence_command = /f a\n"
				    "fence_timeout_ms = 1500\n"
				    "[node b]\nreplication = h:2\nfencing = watchdog\n"
				    "watchdog_device = /dev/watchdog1\nwatchdog_timeout = 10\n"
				    "[node c]\nreplication = h:3\nfencing = both\nfence_command = /f c\n"
				    "[node d]\nreplication = h:4\n");

	ck_assert_uint_eq(c->watchdog_margin_ms, 0);
	ck_assert_int_eq(c->nodes[0].fencing, CONFIG_FENCING_COMMAND);
	ck_assert_uint_eq(c->nodes[0].fence_timeout_ms, 1500);
	ck_assert(cluster_config__fence_by_command(&c->nodes[0]));
	ck_assert(!cluster_config__fence_by_watchdog(&c->nodes[0]));
	ck_assert_int_eq(c->nodes[1].fencing, CONFIG_FENCING_WATCHDOG);
	ck_assert_str_eq(c->nodes[1].watchdog_device, "/dev/watchdog1");
	ck_assert_uint_eq(c->nodes[1].watchdog_timeout_s, 10);
	ck_assert(cluster_config__fence_by_command(&c->nodes[2]));
	ck_assert(cluster_config__fence_by_watchdog(&c->nodes[2]));
	ck_assert_int_eq(c->nodes[3].fencing, CONFIG_FENCING_NONE);
	ck_assert_ptr_null(c->nodes[3].watchdog_device);
	ck_assert_uint_eq(c->nodes[3].watchdog_timeout_s, CONFIG_DEFAULT_WATCHDOG_TIMEOUT_S);
	ck_assert_uint_eq(c->nodes[3].fence_timeout_ms, CONFIG_DEFAULT_FENCE_TIMEOUT_MS);
	cluster_config__free(c);
	c = parse_ok(PLAIN NODES);
	ck_assert_uint_eq(c->watchdog_margin_ms, CONFIG_DEFAULT_WATCHDOG_MARGIN_MS);
	cluster_config__free(c);
}
END_TEST

/* Two nodes with a quorum device: accepted, and said so in the result. */
START_TEST(test_quorum_device)
{
	struct config *c = parse_ok("[cluster]\nallow_plaintext = yes\nquorum_device = yes\n"
				    "[node a]\nreplication = h:1\n[node b]\nreplication = h:2\n");

	ck_assert(c->quorum_device);
	ck_assert(!c->two_node);
	cluster_config__free(c);
	c = parse_ok(PLAIN NODES);
	ck_assert(!c->quorum_device);
	cluster_config__free(c);
}
END_TEST

START_TEST(test_tls_crl)
{
	struct config *c = parse_ok("[cluster]\ntwo_node = yes\n"
				    "[node a]\nreplication = h:1\ntls_ca = /ca\n"
				    "tls_cert = /a.pem\ntls_key = /a.key\ntls_crl = /crl.pem\n"
				    "[node b]\nreplication = h:2\ntls_ca = /ca\n"
				    "tls_cert = /b.pem\ntls_key = /b.key\n");

	ck_assert_str_eq(cluster_config__node(c, "a")->tls_crl, "/crl.pem");
	ck_assert_ptr_null(cluster_config__node(c, "b")->tls_crl);
	cluster_config__free(c);
}
END_TEST

/* Each bad input: the whole message, so file, line and wording are pinned. */
static const struct {
	const char *text;
	const char *error;
} bad[] = {
	{ PLAIN NODES "[vm web1]\nkernel = /k\nmemory = 12Q\n",
	  "hasvc.conf:11: vm web1: memory '12Q' is not a size like 512M or 2G" },
	{ PLAIN NODES "[vm web1]\nmemory = 1G\nkernel = /k\ncolour = blue\n",
	  "hasvc.conf:12: vm web1: unknown key 'colour'" },
	{ PLAIN NODES "[vms web1]\nmemory = 1G\n",
	  "hasvc.conf:9: unknown section [vms web1]: expected [cluster], [node NAME] or [vm NAME]" },
	{ PLAIN NODES "[vm w]\nmemory=1G\nkernel=/k\n[vm w]\nmemory=1G\nkernel=/k\n",
	  "hasvc.conf:12: vm w is declared twice (first at line 9)" },
	{ PLAIN NODES "[node a]\nreplication = 1.2.3.4:5\n",
	  "hasvc.conf:9: node a is declared twice (first at line 3)" },
	{ PLAIN NODES "[vm web/1]\nmemory = 1G\n",
	  "hasvc.conf:9: vm name 'web/1' is not valid: use 1 to 63 of a-z A-Z 0-9 _ . -" },
	{ PLAIN NODES "[vm "
	  "a234567890123456789012345678901234567890123456789012345678901234]\nmemory = 1G\n",
	  "hasvc.conf:9: vm name 'a234567890123456789012345678901234567890123456789012345678901234'"
	  " is not valid: use 1 to 63 of a-z A-Z 0-9 _ . -" },
	{ PLAIN NODES "[vm w]\nmemory = 1G\nkernel = /k\nvcpus = 65\n",
	  "hasvc.conf:12: vm w: vcpus '65' is not a number from 1 to 64" },
	{ PLAIN NODES "[vm w]\nmemory = 1G\nkernel = /k\nvcpus = 0\n",
	  "hasvc.conf:12: vm w: vcpus '0' is not a number from 1 to 64" },
	{ PLAIN NODES "[vm w]\nmemory = 1G\nkernel = /k\ncheckpoint_interval_ms = 4\n",
	  "hasvc.conf:12: vm w: checkpoint_interval_ms '4' is not a number of milliseconds from 5 to 10000" },
	{ PLAIN NODES "[vm w]\nmemory = 1G\nkernel = /k\ncheckpoint_interval_ms = 10001\n",
	  "hasvc.conf:12: vm w: checkpoint_interval_ms '10001' is not a number of milliseconds from 5 to 10000" },
	{ PLAIN NODES "[vm w]\nmemory = 1G\nkernel = /k\ncheckpoint_output_epochs = maybe\n",
	  "hasvc.conf:12: vm w: checkpoint_output_epochs 'maybe' is not yes or no" },
	{ PLAIN NODES "[vm w]\nmemory = 1G\nkernel = /k\ncheckpoint_min_interval_ms = 0\n",
	  "hasvc.conf:12: vm w: checkpoint_min_interval_ms '0' is not a number of milliseconds from 0.1 to 10000 (up to three decimals)" },
	{ PLAIN NODES "[vm w]\nmemory = 1G\nkernel = /k\ncheckpoint_min_interval_ms = 0.0005\n",
	  "hasvc.conf:12: vm w: checkpoint_min_interval_ms '0.0005' is not a number of milliseconds from 0.1 to 10000 (up to three decimals)" },
	{ PLAIN NODES "[vm w]\nmemory = 1G\nkernel = /k\ncheckpoint_min_interval_ms = .5\n",
	  "hasvc.conf:12: vm w: checkpoint_min_interval_ms '.5' is not a number of milliseconds from 0.1 to 10000 (up to three decimals)" },
	{ PLAIN NODES "[vm w]\nmemory = 1G\nkernel = /k\ncheckpoint_min_interval_ms = 25.005\n",
	  "hasvc.conf:9: vm w: checkpoint_min_interval_ms 25.005 is above checkpoint_interval_ms 25" },
	{ PLAIN NODES "[vm w]\nmemory = 1G\nkernel = /k\ncheckpoint_min_interval_ms = 26\n",
	  "hasvc.conf:9: vm w: checkpoint_min_interval_ms 26 is above checkpoint_interval_ms 25" },
	{ PLAIN NODES "[vm w]\nmemory = 1G\nkernel = /k\ncheckpoint_ack_timeout_ms = 99\n",
	  "hasvc.conf:12: vm w: checkpoint_ack_timeout_ms '99' is not a number of milliseconds from 100 to 600000" },
	{ PLAIN NODES "[vm w]\nmemory = 1G\nkernel = /k\ncheckpoint_ack_timeout_ms = 600001\n",
	  "hasvc.conf:12: vm w: checkpoint_ack_timeout_ms '600001' is not a number of milliseconds from 100 to 600000" },
	{ PLAIN NODES "[vm w]\nmemory = 1G\nkernel = /k\ncheckpoint_max_rate = 10001\n",
	  "hasvc.conf:12: vm w: checkpoint_max_rate '10001' is not a number of epochs a second from 1 to 10000" },
	{ PLAIN NODES "[vm w]\nmemory = 1G\nkernel = /k\npreferred_nodes = a, d\n",
	  "hasvc.conf:12: vm w: preferred node 'd' is not declared by a [node d] section" },
	{ PLAIN NODES "[vm w]\nmemory = 1G\nkernel = /k\npreferred_nodes = a,,b\n",
	  "hasvc.conf:12: vm w: preferred_nodes has an empty entry" },
	{ PLAIN NODES "[vm w]\nmemory = 1G\nkernel = /k\npreferred_nodes = a, b, a\n",
	  "hasvc.conf:12: vm w: preferred_nodes names 'a' twice" },
	{ PLAIN NODES "[vm w]\nmemory = 1G\n",
	  "hasvc.conf:9: vm w: missing required key 'kernel'" },
	{ PLAIN NODES "[vm w]\nkernel = /k\n",
	  "hasvc.conf:9: vm w: missing required key 'memory'" },
	/* An empty section is still seen, and named by its header line. */
	{ PLAIN NODES "[vm w]\n# nothing yet\n",
	  "hasvc.conf:9: vm w: missing required key 'memory'" },
	{ PLAIN NODES "[vm w]\nmemory = 1G\nmemory = 2G\nkernel = /k\n",
	  "hasvc.conf:11: vm w: memory is given twice (first at line 10)" },
	{ PLAIN NODES "[vm w]\nmemory = 1000\nkernel = /k\n",
	  "hasvc.conf:10: vm w: memory 1000 is outside 1M..1T" },
	{ PLAIN NODES "[vm w]\nmemory = 1049000\nkernel = /k\n",
	  "hasvc.conf:10: vm w: memory 1049000 is not a whole number of 4K pages" },
	{ PLAIN NODES "[vm w]\nmemory = 1G\nkernel = /k\nprotected = maybe\n",
	  "hasvc.conf:12: vm w: protected 'maybe' is not yes or no" },
	{ PLAIN NODES "[vm w]\nmemory = 1G\nkernel = /k\npriority = 1e3\n",
	  "hasvc.conf:12: vm w: priority '1e3' is not a number from -1000 to 1000" },
	{ PLAIN NODES "[vm w]\nmemory = 1G\nkernel = /k\nmax_restart = -1\n",
	  "hasvc.conf:12: vm w: max_restart '-1' is not a number from 0 to 100" },
	{ PLAIN NODES "[vm w]\nmemory = 1G\nkernel = /k\nmax_relocate = many\n",
	  "hasvc.conf:12: vm w: max_relocate 'many' is not a number from 0 to 100" },
	{ PLAIN NODES "[vm w]\nmemory = 1G\nkernel = /k\nnodes = a, d\n",
	  "hasvc.conf:12: vm w: node 'd' of nodes is not declared by a [node d] section" },
	{ PLAIN NODES "[vm w]\nmemory = 1G\nkernel = /k\nnodes = a\npreferred_nodes = b\n",
	  "hasvc.conf:13: vm w: preferred node 'b' is not in its nodes (a...)" },
	{ PLAIN NODES "[vm w]\nmemory = 1G\nkernel = /k\navoid = w\n",
	  "hasvc.conf:12: vm w: avoid 'w' is the VM itself" },
	{ PLAIN NODES "[vm w]\nmemory = 1G\nkernel = /k\navoid = x, x\n",
	  "hasvc.conf:12: vm w: avoid names 'x' twice" },
	{ PLAIN NODES "[vm w]\nmemory = 1G\nkernel = /k\navoid = web9\n",
	  "hasvc.conf:12: vm w: avoid 'web9' is not declared by a [vm] section" },
	{ PLAIN "[node a]\nreplication = h:1\nmemory = lots\n",
	  "hasvc.conf:5: node a: memory 'lots' is not a size from 1M to 64T like 64G" },
	{ PLAIN "[node a]\nreplication = h:1\ncpus = 0\n",
	  "hasvc.conf:5: node a: cpus '0' is not a number from 1 to 4096" },
	{ PLAIN NODES "[vm w]\nmemory = 1G\nkernel =\n",
	  "hasvc.conf:11: vm w: kernel is empty" },
	{ PLAIN "[node a]\nreplication = fd00::1:7400\n",
	  "hasvc.conf:4: node a: replication 'fd00::1:7400' is not an address like 10.0.0.1:7400 or [fd00::1]:7400" },
	{ PLAIN "[node a]\nreplication = host:0\n",
	  "hasvc.conf:4: node a: replication 'host:0' is not an address like 10.0.0.1:7400 or [fd00::1]:7400" },
	{ PLAIN "[node a]\nreplication = host\n",
	  "hasvc.conf:4: node a: replication 'host' is not an address like 10.0.0.1:7400 or [fd00::1]:7400" },
	{ PLAIN "[node a]\ntls_ca = /ca\n",
	  "hasvc.conf:3: node a: missing required key 'replication'" },
	{ "[node a]\nreplication = h:1\n",
	  "hasvc.conf:1: node a: tls_ca, tls_cert and tls_key are required (or allow_plaintext = yes in [cluster])" },
	{ "[node a]\nreplication = h:1\ntls_ca = /ca\ntls_key = /k\n",
	  "hasvc.conf:1: node a: tls_cert is missing: give tls_ca, tls_cert and tls_key together" },
	{ PLAIN "[node a]\nreplication = h:1\ntls_crl = /crl.pem\n",
	  "hasvc.conf:3: node a: tls_crl without tls_ca, tls_cert and tls_key: a CRL only applies to TLS" },
	{ "[node a]\nreplication = h:1\ntls_ca = /ca\ntls_cert = /c\ntls_key = /k\ntls_crl =\n",
	  "hasvc.conf:6: node a: tls_crl is empty" },
	{ "memory = 1G\n" NODES,
	  "hasvc.conf:1: key 'memory' is outside any section: put it under [cluster], [node NAME] or [vm NAME]" },
	{ PLAIN NODES "[vm w\nmemory = 1G\n",
	  "hasvc.conf:9: syntax error: expected '[section]' or 'key = value'" },
	{ PLAIN NODES "[vm w]\nmemory 1G\n",
	  "hasvc.conf:10: syntax error: expected '[section]' or 'key = value'" },
	{ PLAIN "[cluster]\nname = x\n" NODES,
	  "hasvc.conf:3: [cluster] appears twice (first at line 1)" },
	{ "[cluster]\nname = my cluster\n",
	  "hasvc.conf:2: cluster: name 'my cluster' is not valid: use 1 to 63 of a-z A-Z 0-9 _ . -" },
	{ PLAIN "sync_timeout_ms = 50\n" NODES,
	  "hasvc.conf:3: cluster: sync_timeout_ms '50' is not a number of milliseconds from 100 to 600000" },
	{ PLAIN "metrics_port = 65536\n" NODES,
	  "hasvc.conf:3: cluster: metrics_port '65536' is not a TCP port from 1 to 65535 (or 0: no metrics)" },
	{ PLAIN "metrics_port = -1\n" NODES,
	  "hasvc.conf:3: cluster: metrics_port '-1' is not a TCP port from 1 to 65535 (or 0: no metrics)" },
	{ PLAIN "metrics_address = 127.0.0.1:9465\n" NODES,
	  "hasvc.conf:3: cluster: metrics_address '127.0.0.1:9465' is not an IPv4 or IPv6 address (like 127.0.0.1 or ::1; no names, no port)" },
	{ PLAIN "metrics_address =\n" NODES,
	  "hasvc.conf:3: cluster: metrics_address '' is not an IPv4 or IPv6 address (like 127.0.0.1 or ::1; no names, no port)" },
	{ PLAIN "alert_timeout_ms = 0\n" NODES,
	  "hasvc.conf:3: cluster: alert_timeout_ms '0' is not a number of milliseconds from 100 to 600000" },
	{ PLAIN "restart_grace_ms = 99\n" NODES,
	  "hasvc.conf:3: cluster: restart_grace_ms '99' is not a number of milliseconds from 100 to 3600000" },
	{ PLAIN "restart_grace_ms = 1m\n" NODES,
	  "hasvc.conf:3: cluster: restart_grace_ms '1m' is not a number of milliseconds from 100 to 3600000" },
	{ PLAIN "host_reserve_memory = 10%\n" NODES,
	  "hasvc.conf:3: cluster: host_reserve_memory '10%' is not a size from 0 to 64T like 2G" },
	{ PLAIN "alert_command =\n" NODES,
	  "hasvc.conf:3: cluster: alert_command is empty" },
	{ PLAIN "\n\n",
	  "hasvc.conf:4: no [node NAME] section: declare every node of the cluster" },
	{ PLAIN NODES "[vm]\nmemory = 1G\n",
	  "hasvc.conf:9: [vm] needs a name: [vm NAME]" },
	{ PLAIN NODES "[vm w]\nmemory = 1G\nkernel = /k\ndisk = /d.img\n",
	  "hasvc.conf:9: vm w: disk needs disk_size (a node without the image creates it at that size)" },
	{ PLAIN NODES "[vm w]\nmemory = 1G\nkernel = /k\ndisk_size = 1G\n",
	  "hasvc.conf:9: vm w: disk_size and disk_shared need disk" },
	{ PLAIN NODES "[vm w]\nmemory = 1G\nkernel = /k\ndisk = d.img\ndisk_size = 1G\n",
	  "hasvc.conf:9: vm w: disk must be an absolute path" },
	{ PLAIN NODES "[vm w]\nmemory = 1G\nkernel = /k\ndisk = /d\ndisk_size = 1G\ndisk_shared = yes\n",
	  "hasvc.conf:9: vm w: a protected VM's disk is replicated to its standby at every checkpoint: "
	  "it cannot be on shared storage (disk_shared = yes needs protected = no)" },
	{ PLAIN NODES "[vm w]\nmemory = 1G\nkernel = /k\ndisk = /d\ndisk_size = 1001\n",
	  "hasvc.conf:13: vm w: disk_size 1001 is not a whole number of 4K blocks from 4K to 64T" },
	{ PLAIN NODES "[vm w]\nmemory = 1G\nkernel = /k\ndisk = /d\ndisk_size = lots\n",
	  "hasvc.conf:13: vm w: disk_size 'lots' is not a size like 512M or 20G" },
	{ PLAIN NODES "[vm w]\nmemory = 1G\nkernel = /k\nmac = 52:54:00:00:00:01\n",
	  "hasvc.conf:9: vm w: mac needs bridge (the VM has no network interface without it)" },
	{ PLAIN NODES "[vm w]\nmemory = 1G\nkernel = /k\nbridge = br0\nmac = 01:54:00:00:00:01\n",
	  "hasvc.conf:13: vm w: mac '01:54:00:00:00:01' is not a unicast MAC address like 52:54:00:12:34:56" },
	{ PLAIN NODES "[vm w]\nmemory = 1G\nkernel = /k\nbridge = a-bridge-name-too-long\n",
	  "hasvc.conf:12: vm w: bridge 'a-bridge-name-too-long' is not an interface name (1 to 15 of a-z A-Z 0-9 _ . -)" },
	{ PLAIN "[node a]\nreplication = h:1\n[node b]\nreplication = h:2\n",
	  "hasvc.conf:3: 2 nodes declared: a cluster of fewer than 3 nodes has no majority once "
	  "one is lost, so it cannot fail over; declare a third node, or say quorum_device = yes "
	  "(corosync-qdevice) or two_node = yes in [cluster] to run so knowingly" },
	{ PLAIN "[node a]\nreplication = h:1\n",
	  "hasvc.conf:3: 1 node declared: a cluster of fewer than 3 nodes has no majority once "
	  "one is lost, so it cannot fail over; declare a third node, or say quorum_device = yes "
	  "(corosync-qdevice) or two_node = yes in [cluster] to run so knowingly" },
	{ PLAIN "two_node = perhaps\n" NODES,
	  "hasvc.conf:3: cluster: two_node 'perhaps' is not yes or no" },
	{ PLAIN "quorum_device = qnetd\n" NODES,
	  "hasvc.conf:3: cluster: quorum_device 'qnetd' is not yes or no" },
	{ PLAIN "two_node = yes\nquorum_device = yes\n[node a]\nreplication = h:1\n"
	  "[node b]\nreplication = h:2\n",
	  "hasvc.conf:5: two_node = yes and quorum_device = yes in [cluster]: two_node runs "
	  "without failover, quorum_device fails over with the device's vote; say one" },
	{ PLAIN NODES "[vm w]\nmemory = 1G\nkernel = /k\ndisk = /d\ndisk_size = 1G\n"
	  "[vm u]\nmemory = 1G\nkernel = /k\ndisk = /d\ndisk_size = 1G\n",
	  "hasvc.conf:14: vm u: disk /d is also the disk of vm w (line 9): two VMs cannot "
	  "share an image" },
	{ PLAIN NODES "[vm w]\nmemory = 1G\nkernel = /k\nbridge = br0\nmac = 52:54:00:00:00:0A\n"
	  "[vm u]\nmemory = 1G\nkernel = /k\nbridge = br1\nmac = 52:54:00:00:00:0a\n",
	  "hasvc.conf:14: vm u: mac 52:54:00:00:00:0a is also the mac of vm w (line 9)" },
	{ PLAIN "[node a]\nreplication = h:1\nfencing = both\n",
	  "hasvc.conf:3: node a: fencing = both needs a fence_command" },
	{ PLAIN "[node a]\nreplication = h:1\nfencing = command\n",
	  "hasvc.conf:3: node a: fencing = command needs a fence_command" },
	{ PLAIN "[node a]\nreplication = h:1\nfencing = watchdog\nfence_command = /f\n",
	  "hasvc.conf:3: node a: fencing = watchdog does not run its fence_command: say "
	  "fencing = both, or remove the command" },
	{ PLAIN "[node a]\nreplication = h:1\nfencing = stonith\n",
	  "hasvc.conf:5: node a: fencing 'stonith' is not command, watchdog or both" },
	{ PLAIN "[node a]\nreplication = h:1\nwatchdog_timeout = 1\n",
	  "hasvc.conf:5: node a: watchdog_timeout '1' is not a number of seconds from 2 to 600" },
	{ PLAIN "[node a]\nreplication = h:1\nwatchdog_device = dev/watchdog\n",
	  "hasvc.conf:5: node a: watchdog_device 'dev/watchdog' is not an absolute path" },
	{ PLAIN "[node a]\nreplication = h:1\nfence_timeout_ms = 50\n",
	  "hasvc.conf:5: node a: fence_timeout_ms '50' is not a number of milliseconds from 100 to 3600000" },
	{ PLAIN "watchdog_margin_ms = -1\n" NODES,
	  "hasvc.conf:3: cluster: watchdog_margin_ms '-1' is not a number of milliseconds from 0 to 600000" },
};

START_TEST(test_bad_input)
{
	struct config *c = (void *)1;
	char err[CONFIG_ERR_MAX] = "";
	int ret = cluster_config__parse_string(bad[_i].text, "hasvc.conf", &c, err, sizeof(err));

	ck_assert_int_eq(ret, -EINVAL);
	ck_assert_ptr_null(c);
	ck_assert_str_eq(err, bad[_i].error);
}
END_TEST

START_TEST(test_file_errors)
{
	char path[] = "/tmp/test_hasvc_config_XXXXXX";
	struct config *c;
	char err[CONFIG_ERR_MAX], want[CONFIG_ERR_MAX];
	int fd = mkstemp(path);
	FILE *f;

	ck_assert_int_ge(fd, 0);
	ck_assert_ptr_nonnull(f = fdopen(fd, "w"));
	fputs(PLAIN NODES "[vm web1]\nkernel = /k\nmemory = 12Q\n", f);
	fclose(f);
	ck_assert_int_eq(cluster_config__load(path, &c, err, sizeof(err)), -EINVAL);
	snprintf(want, sizeof(want), "%s:11: vm web1: memory '12Q' is not a size like 512M or 2G", path);
	ck_assert_str_eq(err, want);
	unlink(path);

	ck_assert_int_eq(cluster_config__load(path, &c, err, sizeof(err)), -ENOENT);
	snprintf(want, sizeof(want), "%s: cannot open: No such file or directory", path);
	ck_assert_str_eq(err, want);
	ck_assert_ptr_null(c);
}
END_TEST

/* The word of cmdline that starts with key (e.g. "root="), or NULL. */
static const char *cmdline_word(const char *cmdline, const char *key)
{
	size_t n = strlen(key);

	for (const char *p = cmdline; p && *p; p += strcspn(p, " ")) {
		p += strspn(p, " ");
		if (strncmp(p, key, n) == 0)
			return p;
	}
	return NULL;
}

/*
 * An example VM's kernel command line fits the devices it declares, as
 * Debian's kernel boots in the vmm (tests/linux): its console on the
 * serial port; a root on virtio (/dev/vda, the vmm's one disk) needs the
 * disk and an initramfs (Debian builds virtio_mmio and virtio_blk as
 * modules).
 */
static void example_vm_boots(const struct config_vm *v)
{
	const char *root;

	ck_assert_msg(v->cmdline, "vm %s: no cmdline", v->name);
	ck_assert_msg(cmdline_word(v->cmdline, "console=ttyS0"),
		      "vm %s: cmdline '%s' has no console=ttyS0", v->name, v->cmdline);
	root = cmdline_word(v->cmdline, "root=");
	if (!root || strncmp(root, "root=/dev/vd", 12) != 0)
		return;
	ck_assert_msg(strncmp(root, "root=/dev/vda", 13) == 0 &&
			      (root[13] == ' ' || root[13] == '\0'),
		      "vm %s: %.*s is not the vmm's one disk /dev/vda", v->name,
		      (int)strcspn(root, " "), root);
	ck_assert_msg(v->disk, "vm %s: root=/dev/vda but no disk", v->name);
	ck_assert_msg(v->initrd, "vm %s: root on virtio but no initrd to load its drivers",
		      v->name);
}

START_TEST(test_example_file)
{
	const char *top = getenv("top_srcdir");
	char path[4096], err[CONFIG_ERR_MAX];
	struct config *c;

	snprintf(path, sizeof(path), "%s/conf/hasvc.conf", top ? top : HASVC_TEST_SRCDIR);
	ck_assert_msg(cluster_config__load(path, &c, err, sizeof(err)) == 0, "%s", err);
	ck_assert_uint_eq(c->n_nodes, 3);
	ck_assert_uint_eq(c->n_vms, 2);
	for (size_t i = 0; i < c->n_vms; i++) {
		ck_assert(c->vms[i].protect);
		example_vm_boots(&c->vms[i]);
	}
	ck_assert_int_eq(cluster_config__node(c, "alpha")->fencing, CONFIG_FENCING_COMMAND);
	ck_assert_int_eq(cluster_config__node(c, "beta")->fencing, CONFIG_FENCING_BOTH);
	ck_assert_int_eq(cluster_config__node(c, "gamma")->fencing, CONFIG_FENCING_NONE);
	cluster_config__free(c);
}
END_TEST

START_TEST(test_values)
{
	uint64_t sz;
	long n;
	bool b;
	char host[64];
	uint16_t port;

	ck_assert_int_eq(cluster_config__parse_size("4k", &sz), 0);
	ck_assert_uint_eq(sz, 4096);
	ck_assert_int_eq(cluster_config__parse_size("2GiB", &sz), 0);
	ck_assert_uint_eq(sz, 2ULL << 30);
	ck_assert_int_eq(cluster_config__parse_size("1T", &sz), 0);
	ck_assert_int_eq(cluster_config__parse_size("", &sz), -EINVAL);
	ck_assert_int_eq(cluster_config__parse_size("-1M", &sz), -EINVAL);
	ck_assert_int_eq(cluster_config__parse_size("1MM", &sz), -EINVAL);
	ck_assert_int_eq(cluster_config__parse_size("99999999999999999999", &sz), -EINVAL);
	ck_assert_int_eq(cluster_config__parse_size("17179869184G", &sz), -EINVAL);
	ck_assert_int_eq(cluster_config__parse_int(" 5", 0, 9, &n), -EINVAL);
	ck_assert_int_eq(cluster_config__parse_int("-3", -5, 9, &n), 0);
	ck_assert_int_eq(n, -3);
	ck_assert_int_eq(cluster_config__parse_bool("On", &b), 0);
	ck_assert(b);
	ck_assert_int_eq(cluster_config__parse_bool("0", &b), 0);
	ck_assert(!b);
	ck_assert_int_eq(cluster_config__parse_address("[::1]:80", host, sizeof(host), &port), 0);
	ck_assert_str_eq(host, "::1");
	ck_assert_int_eq(cluster_config__parse_address("[::1]80", host, sizeof(host), &port),
			 -EINVAL);
	ck_assert_int_eq(cluster_config__parse_address(":80", host, sizeof(host), &port), -EINVAL);
	ck_assert_int_eq(cluster_config__parse_address("h:65536", host, sizeof(host), &port),
			 -EINVAL);
	ck_assert(cluster_config__valid_name("a"));
	ck_assert(!cluster_config__valid_name(""));
	ck_assert(!cluster_config__valid_name("a b"));
	{
		uint8_t mac[6];

		ck_assert_int_eq(cluster_config__parse_mac("52:54:00:aB:0c:ff", mac), 0);
		ck_assert_uint_eq(mac[3], 0xab);
		ck_assert_uint_eq(mac[5], 0xff);
		ck_assert_int_eq(cluster_config__parse_mac("52:54:00:ab:0c:f", mac), -EINVAL);
		ck_assert_int_eq(cluster_config__parse_mac("52:54:00:ab:0c:fff", mac), -EINVAL);
		ck_assert_int_eq(cluster_config__parse_mac("52-54-00-ab-0c-ff", mac), -EINVAL);
		ck_assert_int_eq(cluster_config__parse_mac(" 2:54:00:ab:0c:ff", mac), -EINVAL);
		ck_assert_int_eq(cluster_config__parse_mac("00:00:00:00:00:00", mac), -EINVAL);
		ck_assert_int_eq(cluster_config__parse_mac("ff:ff:ff:ff:ff:ff", mac), -EINVAL);
	}
	ck_assert(cluster_config__valid_ifname("br0"));
	ck_assert(cluster_config__valid_ifname("123456789012345"));
	ck_assert(!cluster_config__valid_ifname("1234567890123456"));
	ck_assert(!cluster_config__valid_ifname("br 0"));
	ck_assert(!cluster_config__valid_ifname(".."));
}
END_TEST

START_TEST(test_diff)
{
	struct config *old = parse_ok(PLAIN NODES
		"[vm same]\nmemory=1G\nkernel=/k\n"
		"[vm gone]\nmemory=1G\nkernel=/k\n"
		"[vm moved]\nmemory=1G\nkernel=/k\npreferred_nodes=a,b\n"
		"[vm bigger]\nmemory=1G\nkernel=/k\n"
		"[vm nic]\nmemory=1G\nkernel=/k\nbridge=br0\n");
	struct config *new_conf = parse_ok(PLAIN NODES
		"[vm new2]\nmemory=1G\nkernel=/k\n"
		"[vm bigger]\nmemory=2G\nkernel=/k\n"
		"[vm moved]\nmemory=1G\nkernel=/k\npreferred_nodes=b,a\n"
		"[vm same]\nkernel=/k\nmemory=1024M\n"
		"[vm new1]\nmemory=1G\nkernel=/k\n"
		"[vm nic]\nmemory=1G\nkernel=/k\nbridge=br0\nmac=52:54:00:00:00:07\n");
	struct config_diff d;

	ck_assert_int_eq(cluster_config__diff(old, new_conf, &d), 0);
	ck_assert_uint_eq(d.n_added, 2);
	ck_assert_str_eq(d.added[0], "new1");
	ck_assert_str_eq(d.added[1], "new2");
	ck_assert_uint_eq(d.n_removed, 1);
	ck_assert_str_eq(d.removed[0], "gone");
	ck_assert_uint_eq(d.n_changed, 3);
	ck_assert_str_eq(d.changed[0], "bigger");
	ck_assert_str_eq(d.changed[1], "moved");
	ck_assert_str_eq(d.changed[2], "nic");
	cluster_config__diff_free(&d);

	ck_assert_int_eq(cluster_config__diff(old, old, &d), 0);
	ck_assert_uint_eq(d.n_added + d.n_removed + d.n_changed, 0);
	cluster_config__diff_free(&d);
	cluster_config__free(old);
	cluster_config__free(new_conf);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("hasvc_config");
	TCase *tc = tcase_create("config");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, test_good_file);
	tcase_add_test(tc, test_defaults_and_long_lines);
	tcase_add_test(tc, test_tls_crl);
	tcase_add_test(tc, test_quorum_device);
	tcase_add_test(tc, test_fencing_keys);
	tcase_add_test(tc, test_output_epochs_keys);
	tcase_add_loop_test(tc, test_bad_input, 0, (int)(sizeof(bad) / sizeof(bad[0])));
	tcase_add_test(tc, test_file_errors);
	tcase_add_test(tc, test_example_file);
	tcase_add_test(tc, test_values);
	tcase_add_test(tc, test_diff);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
