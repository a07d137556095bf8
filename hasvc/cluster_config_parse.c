/*
 * The sections and keys of hasvc.conf and the checks between them.
 * See docs/hasvc-config.md for the user's view of every key.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>

#include "hasvc/cluster_config_parse.h"
#include "hasvc/cluster_config_value.h"
#include "vmm/duration.h"

#define NAME_RULE "use 1 to 63 of a-z A-Z 0-9 _ . -"

struct key_rule {
	const char *key;
	int (*set)(struct config_parser *p, const char *value, int line);
};

static struct config_node *cur_node(struct config_parser *p)
{
	return &p->conf->nodes[p->index];
}

static struct config_vm *cur_vm(struct config_parser *p)
{
	return &p->conf->vms[p->index];
}

/* Only the first error is kept: later ones are usually its consequences. */
void cluster_config_parse__fail(struct config_parser *p, int line, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (p->err_line)
		return;
	p->err_line = line > 0 ? line : 1;
	n = snprintf(p->err, sizeof(p->err), "%s:%d: ", p->name, p->err_line);
	va_start(ap, fmt);
	vsnprintf(p->err + n, sizeof(p->err) - (size_t)n, fmt, ap);
	va_end(ap);
}

void cluster_config_parse__nomem(struct config_parser *p)
{
	p->nomem = true;
	cluster_config_parse__fail(p, p->lines, "out of memory");
}

/* Prefix the message with the section it is about: "vm web1: ...". */
static int fail_in(struct config_parser *p, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int fail_in(struct config_parser *p, int line, const char *fmt, ...)
{
	char msg[CONFIG_ERR_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	switch (p->kind) {
	case SECTION_NODE:
		cluster_config_parse__fail(p, line, "node %s: %s", cur_node(p)->name, msg);
		break;
	case SECTION_VM:
		cluster_config_parse__fail(p, line, "vm %s: %s", cur_vm(p)->name, msg);
		break;
	case SECTION_CLUSTER:
		cluster_config_parse__fail(p, line, "cluster: %s", msg);
		break;
	default:
		cluster_config_parse__fail(p, line, "%s", msg);
	}
	return -EINVAL;
}

static int set_string(struct config_parser *p, char **dst, const char *key,
		      const char *value, int line, bool may_be_empty)
{
	if (!*value && !may_be_empty)
		return fail_in(p, line, "%s is empty", key);
	free(*dst);
	*dst = strdup(value);
	if (!*dst) {
		cluster_config_parse__nomem(p);
		return -ENOMEM;
	}
	return 0;
}

/* ---- [cluster] ---- */

static int cluster_name(struct config_parser *p, const char *v, int line)
{
	if (!cluster_config__valid_name(v))
		return fail_in(p, line, "name '%s' is not valid: " NAME_RULE, v);
	return set_string(p, &p->conf->cluster_name, "name", v, line, false);
}

static int cluster_plaintext(struct config_parser *p, const char *v, int line)
{
	if (cluster_config__parse_bool(v, &p->conf->allow_plaintext) < 0)
		return fail_in(p, line, "allow_plaintext '%s' is not yes or no", v);
	return 0;
}

/* A time limit in milliseconds, from min to max. */
static int set_ms(struct config_parser *p, unsigned *dst, const char *key, const char *v,
		  int line, int min, int max)
{
	long n;

	if (cluster_config__parse_int(v, min, max, &n) < 0)
		return fail_in(p, line, "%s '%s' is not a number of milliseconds from %d to %d",
			       key, v, min, max);
	*dst = (unsigned)n;
	return 0;
}

static int cluster_metrics_port(struct config_parser *p, const char *v, int line)
{
	long n;

	if (cluster_config__parse_int(v, 0, 65535, &n) < 0)
		return fail_in(p, line, "metrics_port '%s' is not a TCP port from 1 to 65535 "
			       "(or 0: no metrics)", v);
	p->conf->metrics_port = (unsigned)n;
	return 0;
}

static int cluster_metrics_address(struct config_parser *p, const char *v, int line)
{
	struct in6_addr a6;
	struct in_addr a4;

	if (inet_pton(AF_INET, v, &a4) != 1 && inet_pton(AF_INET6, v, &a6) != 1)
		return fail_in(p, line, "metrics_address '%s' is not an IPv4 or IPv6 address "
			       "(like 127.0.0.1 or ::1; no names, no port)", v);
	return set_string(p, &p->conf->metrics_address, "metrics_address", v, line, false);
}

static int cluster_watchdog_margin(struct config_parser *p, const char *v, int line)
{
	return set_ms(p, &p->conf->watchdog_margin_ms, "watchdog_margin_ms", v, line, 0,
		      CONFIG_MAX_WATCHDOG_MARGIN_MS);
}

static int cluster_two_node(struct config_parser *p, const char *v, int line)
{
	if (cluster_config__parse_bool(v, &p->conf->two_node) < 0)
		return fail_in(p, line, "two_node '%s' is not yes or no", v);
	return 0;
}

static int cluster_quorum_device(struct config_parser *p, const char *v, int line)
{
	if (cluster_config__parse_bool(v, &p->conf->quorum_device) < 0)
		return fail_in(p, line, "quorum_device '%s' is not yes or no", v);
	return 0;
}

static int cluster_sync_timeout(struct config_parser *p, const char *v, int line)
{
	return set_ms(p, &p->conf->sync_timeout_ms, "sync_timeout_ms", v, line,
		      CONFIG_MIN_SYNC_TIMEOUT_MS, CONFIG_MAX_SYNC_TIMEOUT_MS);
}

static int cluster_alert_command(struct config_parser *p, const char *v, int line)
{
	return set_string(p, &p->conf->alert_command, "alert_command", v, line, false);
}

static int cluster_alert_timeout(struct config_parser *p, const char *v, int line)
{
	return set_ms(p, &p->conf->alert_timeout_ms, "alert_timeout_ms", v, line,
		      CONFIG_MIN_ALERT_TIMEOUT_MS, CONFIG_MAX_ALERT_TIMEOUT_MS);
}

static int cluster_restart_grace(struct config_parser *p, const char *v, int line)
{
	return set_ms(p, &p->conf->restart_grace_ms, "restart_grace_ms", v, line,
		      CONFIG_MIN_RESTART_GRACE_MS, CONFIG_MAX_RESTART_GRACE_MS);
}

static const struct key_rule cluster_keys[] = {
	{ "name", cluster_name },
	{ "allow_plaintext", cluster_plaintext },
	{ "sync_timeout_ms", cluster_sync_timeout },
	{ "metrics_port", cluster_metrics_port },
	{ "metrics_address", cluster_metrics_address },
	{ "watchdog_margin_ms", cluster_watchdog_margin },
	{ "two_node", cluster_two_node },
	{ "quorum_device", cluster_quorum_device },
	{ "alert_command", cluster_alert_command },
	{ "alert_timeout_ms", cluster_alert_timeout },
	{ "restart_grace_ms", cluster_restart_grace },
	{ "host_reserve_memory", cluster_config_place__host_reserve },
	{ NULL, NULL },
};

/* ---- [node NAME] ---- */

static int node_replication(struct config_parser *p, const char *v, int line)
{
	struct config_node *n = cur_node(p);
	char host[256];

	if (cluster_config__parse_address(v, host, sizeof(host), &n->replication_port) < 0)
		return fail_in(p, line, "replication '%s' is not an address like "
			       "10.0.0.1:7400 or [fd00::1]:7400", v);
	if (set_string(p, &n->replication_host, "replication", host, line, false) < 0)
		return -ENOMEM;
	return set_string(p, &n->replication, "replication", v, line, false);
}

#define NODE_STRING(fn, field, empty_ok)                                      \
	static int fn(struct config_parser *p, const char *v, int line)       \
	{                                                                      \
		return set_string(p, &cur_node(p)->field, #field, v, line, empty_ok); \
	}
NODE_STRING(node_tls_ca, tls_ca, false)
NODE_STRING(node_tls_cert, tls_cert, false)
NODE_STRING(node_tls_key, tls_key, false)
NODE_STRING(node_tls_crl, tls_crl, false)
NODE_STRING(node_fence, fence_command, false)

static int node_fencing(struct config_parser *p, const char *v, int line)
{
	static const char *const names[] = { [CONFIG_FENCING_COMMAND] = "command",
					     [CONFIG_FENCING_WATCHDOG] = "watchdog",
					     [CONFIG_FENCING_BOTH] = "both" };

	for (int i = CONFIG_FENCING_COMMAND; i <= CONFIG_FENCING_BOTH; i++)
		if (!strcmp(v, names[i])) {
			cur_node(p)->fencing = (enum config_fencing)i;
			return 0;
		}
	return fail_in(p, line, "fencing '%s' is not command, watchdog or both", v);
}

static int node_fence_timeout(struct config_parser *p, const char *v, int line)
{
	return set_ms(p, &cur_node(p)->fence_timeout_ms, "fence_timeout_ms", v, line,
		      CONFIG_MIN_FENCE_TIMEOUT_MS, CONFIG_MAX_FENCE_TIMEOUT_MS);
}

static int node_watchdog_device(struct config_parser *p, const char *v, int line)
{
	if (v[0] != '/')
		return fail_in(p, line, "watchdog_device '%s' is not an absolute path", v);
	return set_string(p, &cur_node(p)->watchdog_device, "watchdog_device", v, line, false);
}

static int node_watchdog_timeout(struct config_parser *p, const char *v, int line)
{
	long n;

	if (cluster_config__parse_int(v, CONFIG_MIN_WATCHDOG_TIMEOUT_S,
				      CONFIG_MAX_WATCHDOG_TIMEOUT_S, &n) < 0)
		return fail_in(p, line, "watchdog_timeout '%s' is not a number of seconds "
			       "from %d to %d", v, CONFIG_MIN_WATCHDOG_TIMEOUT_S,
			       CONFIG_MAX_WATCHDOG_TIMEOUT_S);
	cur_node(p)->watchdog_timeout_s = (unsigned)n;
	return 0;
}

static const struct key_rule node_keys[] = {
	{ "replication", node_replication },
	{ "tls_ca", node_tls_ca },
	{ "tls_cert", node_tls_cert },
	{ "tls_key", node_tls_key },
	{ "tls_crl", node_tls_crl },
	{ "fence_command", node_fence },
	{ "fencing", node_fencing },
	{ "fence_timeout_ms", node_fence_timeout },
	{ "watchdog_device", node_watchdog_device },
	{ "watchdog_timeout", node_watchdog_timeout },
	{ "memory", cluster_config_place__node_memory },
	{ "cpus", cluster_config_place__node_cpus },
	{ NULL, NULL },
};

/* ---- [vm NAME] ---- */

static int vm_memory(struct config_parser *p, const char *v, int line)
{
	uint64_t bytes;

	if (cluster_config__parse_size(v, &bytes) < 0)
		return fail_in(p, line, "memory '%s' is not a size like 512M or 2G", v);
	if (bytes < CONFIG_MIN_MEMORY || bytes > CONFIG_MAX_MEMORY)
		return fail_in(p, line, "memory %s is outside 1M..1T", v);
	if (bytes % 4096)
		return fail_in(p, line, "memory %s is not a whole number of 4K pages", v);
	cur_vm(p)->memory = bytes;
	return 0;
}

static int vm_vcpus(struct config_parser *p, const char *v, int line)
{
	long n;

	if (cluster_config__parse_int(v, 1, CONFIG_MAX_VCPUS, &n) < 0)
		return fail_in(p, line, "vcpus '%s' is not a number from 1 to %d", v,
			       CONFIG_MAX_VCPUS);
	cur_vm(p)->vcpus = (unsigned)n;
	return 0;
}

static int vm_interval(struct config_parser *p, const char *v, int line)
{
	long n;

	if (cluster_config__parse_int(v, CONFIG_MIN_INTERVAL_MS, CONFIG_MAX_INTERVAL_MS, &n) < 0)
		return fail_in(p, line, "checkpoint_interval_ms '%s' is not a number "
			       "of milliseconds from %d to %d", v,
			       CONFIG_MIN_INTERVAL_MS, CONFIG_MAX_INTERVAL_MS);
	cur_vm(p)->checkpoint_interval_ms = (unsigned)n;
	return 0;
}

static int vm_output_epochs(struct config_parser *p, const char *v, int line)
{
	if (cluster_config__parse_bool(v, &cur_vm(p)->checkpoint_output_epochs) < 0)
		return fail_in(p, line, "checkpoint_output_epochs '%s' is not yes or no", v);
	return 0;
}

/* A whole number of unit from min to max into *dst, or an error naming key. */
static int vm_number(struct config_parser *p, const char *v, int line, const char *key,
		     long min, long max, const char *unit, unsigned *dst)
{
	long n;

	if (cluster_config__parse_int(v, min, max, &n) < 0)
		return fail_in(p, line, "%s '%s' is not a number of %s from %ld to %ld", key, v,
			       unit, min, max);
	*dst = (unsigned)n;
	return 0;
}

/* At most the interval: validate_vm checks it once the section is whole. */
static int vm_min_interval(struct config_parser *p, const char *v, int line)
{
	uint64_t us;

	if (duration__ms_to_us(v, &us) || us < CONFIG_MIN_INTERVAL_MIN_US ||
	    us > CONFIG_MAX_INTERVAL_MS * 1000ULL)
		return fail_in(p, line, "checkpoint_min_interval_ms '%s' is not a number of "
			       "milliseconds from 0.1 to %d (up to three decimals)", v,
			       CONFIG_MAX_INTERVAL_MS);
	cur_vm(p)->checkpoint_min_interval_us = (unsigned)us;
	return 0;
}

static int vm_max_rate(struct config_parser *p, const char *v, int line)
{
	return vm_number(p, v, line, "checkpoint_max_rate", 1, CONFIG_MAX_RATE_MAX,
			 "epochs a second", &cur_vm(p)->checkpoint_max_rate);
}

static int vm_ack_timeout(struct config_parser *p, const char *v, int line)
{
	return vm_number(p, v, line, "checkpoint_ack_timeout_ms", CONFIG_ACK_TIMEOUT_MIN_MS,
			 CONFIG_ACK_TIMEOUT_MAX_MS, "milliseconds",
			 &cur_vm(p)->checkpoint_ack_timeout_ms);
}

static int vm_priority(struct config_parser *p, const char *v, int line)
{
	long n;

	if (cluster_config__parse_int(v, CONFIG_MIN_PRIORITY, CONFIG_MAX_PRIORITY, &n) < 0)
		return fail_in(p, line, "priority '%s' is not a number from %d to %d", v,
			       CONFIG_MIN_PRIORITY, CONFIG_MAX_PRIORITY);
	cur_vm(p)->priority = (int)n;
	return 0;
}

static int vm_protected(struct config_parser *p, const char *v, int line)
{
	if (cluster_config__parse_bool(v, &cur_vm(p)->protect) < 0)
		return fail_in(p, line, "protected '%s' is not yes or no", v);
	return 0;
}

/* max_restart, max_relocate: the VM's failure limits. */
static int vm_retries(struct config_parser *p, const char *key, const char *v, int line,
		      unsigned *out)
{
	long n;

	if (cluster_config__parse_int(v, 0, CONFIG_MAX_RETRIES, &n) < 0)
		return fail_in(p, line, "%s '%s' is not a number from 0 to %d", key, v,
			       CONFIG_MAX_RETRIES);
	*out = (unsigned)n;
	return 0;
}

static int vm_max_restart(struct config_parser *p, const char *v, int line)
{
	return vm_retries(p, "max_restart", v, line, &cur_vm(p)->max_restart);
}

static int vm_max_relocate(struct config_parser *p, const char *v, int line)
{
	return vm_retries(p, "max_relocate", v, line, &cur_vm(p)->max_relocate);
}

/* One name of a list key; see cluster_config_parse__names. */
static int add_name(struct config_parser *p, const char *name, int line, const char *key,
		    const char *what, char ***list, size_t *n, size_t max)
{
	char **grown;

	if (!*name)
		return fail_in(p, line, "%s has an empty entry", key);
	if (!cluster_config__valid_name(name))
		return fail_in(p, line, "%s '%s' is not a valid name: " NAME_RULE, what, name);
	for (size_t i = 0; i < *n; i++)
		if (!strcmp((*list)[i], name))
			return fail_in(p, line, "%s names '%s' twice", key, name);
	if (*n >= max)
		return fail_in(p, line, "%s lists more than %zu names", key, max);
	grown = realloc(*list, (*n + 1) * sizeof(*grown));
	if (!grown)
		goto nomem;
	*list = grown;
	if (!(grown[*n] = strdup(name)))
		goto nomem;
	(*n)++;
	return 0;
nomem:
	cluster_config_parse__nomem(p);
	return -ENOMEM;
}

int cluster_config_parse__names(struct config_parser *p, const char *v, int line,
				const char *key, const char *what, char ***list, size_t *n,
				size_t max)
{
	char item[HASVC_NAME_MAX + 1];
	const char *s = v;

	if (!*v)
		return 0; /* "key =" means none */
	for (;;) {
		const char *comma = strchr(s, ',');
		size_t len = comma ? (size_t)(comma - s) : strlen(s);

		while (len && isspace((unsigned char)*s))
			s++, len--;
		while (len && isspace((unsigned char)s[len - 1]))
			len--;
		if (len >= sizeof(item))
			len = sizeof(item) - 1; /* too long: the name check says so */
		memcpy(item, s, len);
		item[len] = '\0';
		if (add_name(p, item, line, key, what, list, n, max) < 0)
			return -EINVAL;
		if (!comma)
			return 0;
		s = comma + 1;
	}
}

static int vm_preferred(struct config_parser *p, const char *v, int line)
{
	struct config_vm *vm = cur_vm(p);

	vm->preferred_line = line;
	return cluster_config_parse__names(p, v, line, "preferred_nodes", "preferred node",
					   &vm->preferred_nodes, &vm->n_preferred,
					   HASVC_MAX_NODES);
}

#define VM_STRING(fn, field, empty_ok)                                        \
	static int fn(struct config_parser *p, const char *v, int line)       \
	{                                                                      \
		return set_string(p, &cur_vm(p)->field, #field, v, line, empty_ok); \
	}
VM_STRING(vm_kernel, kernel, false)
VM_STRING(vm_cmdline, cmdline, true)
VM_STRING(vm_initrd, initrd, false)
VM_STRING(vm_disk, disk, false)

static int vm_disk_size(struct config_parser *p, const char *v, int line)
{
	uint64_t bytes;

	if (cluster_config__parse_size(v, &bytes) < 0)
		return fail_in(p, line, "disk_size '%s' is not a size like 512M or 20G", v);
	if (bytes < CONFIG_MIN_DISK || bytes > CONFIG_MAX_DISK || bytes % 4096)
		return fail_in(p, line, "disk_size %s is not a whole number of 4K blocks from "
			       "4K to 64T", v);
	cur_vm(p)->disk_size = bytes;
	return 0;
}

static int vm_disk_shared(struct config_parser *p, const char *v, int line)
{
	if (cluster_config__parse_bool(v, &cur_vm(p)->disk_shared) < 0)
		return fail_in(p, line, "disk_shared '%s' is not yes or no", v);
	return 0;
}

static int vm_bridge(struct config_parser *p, const char *v, int line)
{
	if (!cluster_config__valid_ifname(v))
		return fail_in(p, line, "bridge '%s' is not an interface name (1 to 15 of "
			       "a-z A-Z 0-9 _ . -)", v);
	return set_string(p, &cur_vm(p)->bridge, "bridge", v, line, false);
}

static int vm_mac(struct config_parser *p, const char *v, int line)
{
	if (cluster_config__parse_mac(v, cur_vm(p)->mac) < 0)
		return fail_in(p, line, "mac '%s' is not a unicast MAC address like "
			       "52:54:00:12:34:56", v);
	cur_vm(p)->has_mac = true;
	return 0;
}

static const struct key_rule vm_keys[] = {
	{ "memory", vm_memory },
	{ "vcpus", vm_vcpus },
	{ "kernel", vm_kernel },
	{ "cmdline", vm_cmdline },
	{ "initrd", vm_initrd },
	{ "checkpoint_interval_ms", vm_interval },
	{ "checkpoint_output_epochs", vm_output_epochs },
	{ "checkpoint_min_interval_ms", vm_min_interval },
	{ "checkpoint_max_rate", vm_max_rate },
	{ "checkpoint_ack_timeout_ms", vm_ack_timeout },
	{ "preferred_nodes", vm_preferred },
	{ "priority", vm_priority },
	{ "protected", vm_protected },
	{ "disk", vm_disk },
	{ "disk_size", vm_disk_size },
	{ "disk_shared", vm_disk_shared },
	{ "bridge", vm_bridge },
	{ "mac", vm_mac },
	{ "max_restart", vm_max_restart },
	{ "max_relocate", vm_max_relocate },
	{ "nodes", cluster_config_place__vm_nodes },
	{ "avoid", cluster_config_place__vm_avoid },
	{ NULL, NULL },
};
/* key_line has a slot per key: a longer table would write past it. */
_Static_assert(sizeof(vm_keys) / sizeof(vm_keys[0]) - 1 <= PARSER_MAX_KEYS,
	       "PARSER_MAX_KEYS is below the number of vm keys");

/* ---- sections ---- */

static int add_node(struct config_parser *p, const char *name, int line)
{
	struct config *c = p->conf;
	struct config_node *grown;

	for (size_t i = 0; i < c->n_nodes; i++)
		if (!strcmp(c->nodes[i].name, name)) {
			cluster_config_parse__fail(p, line,
						   "node %s is declared twice (first at line %d)",
						   name, c->nodes[i].line);
			return -EINVAL;
		}
	if (c->n_nodes >= HASVC_MAX_NODES) {
		cluster_config_parse__fail(p, line, "node %s: more than %d nodes", name,
					   HASVC_MAX_NODES);
		return -EINVAL;
	}
	grown = realloc(c->nodes, (c->n_nodes + 1) * sizeof(*grown));
	if (!grown)
		goto nomem;
	c->nodes = grown;
	memset(&grown[c->n_nodes], 0, sizeof(*grown));
	grown[c->n_nodes].line = line;
	grown[c->n_nodes].fence_timeout_ms = CONFIG_DEFAULT_FENCE_TIMEOUT_MS;
	grown[c->n_nodes].watchdog_timeout_s = CONFIG_DEFAULT_WATCHDOG_TIMEOUT_S;
	if (!(grown[c->n_nodes].name = strdup(name)))
		goto nomem;
	p->index = c->n_nodes++;
	return 0;
nomem:
	cluster_config_parse__nomem(p);
	return -ENOMEM;
}

static int add_vm(struct config_parser *p, const char *name, int line)
{
	struct config *c = p->conf;
	struct config_vm *grown, *vm;

	for (size_t i = 0; i < c->n_vms; i++)
		if (!strcmp(c->vms[i].name, name)) {
			cluster_config_parse__fail(p, line,
						   "vm %s is declared twice (first at line %d)",
						   name, c->vms[i].line);
			return -EINVAL;
		}
	if (c->n_vms >= HASVC_MAX_VMS) {
		cluster_config_parse__fail(p, line, "vm %s: more than %d VMs", name,
					   HASVC_MAX_VMS);
		return -EINVAL;
	}
	grown = realloc(c->vms, (c->n_vms + 1) * sizeof(*grown));
	if (!grown)
		goto nomem;
	c->vms = grown;
	vm = &grown[c->n_vms];
	memset(vm, 0, sizeof(*vm));
	vm->line = line;
	vm->vcpus = 1;
	vm->checkpoint_interval_ms = CONFIG_DEFAULT_INTERVAL_MS;
	vm->checkpoint_output_epochs = true;
	vm->protect = true;
	vm->max_restart = CONFIG_DEFAULT_MAX_RESTART;
	vm->max_relocate = CONFIG_DEFAULT_MAX_RELOCATE;
	if (!(vm->name = strdup(name)))
		goto nomem;
	p->index = c->n_vms++;
	return 0;
nomem:
	cluster_config_parse__nomem(p);
	return -ENOMEM;
}

void cluster_config_parse__begin_section(struct config_parser *p, const char *s, int line)
{
	char text[256], orig[256], *word, *arg, *end;
	const char *close = strchr(s, ']');
	size_t len;

	memset(p->key_line, 0, sizeof(p->key_line));
	p->kind = SECTION_BAD;
	if (!close)
		return; /* inih reports the broken header */
	len = (size_t)(close - s - 1);
	if (len >= sizeof(text)) {
		cluster_config_parse__fail(p, line, "section header is too long");
		return;
	}
	memcpy(text, s + 1, len);
	text[len] = '\0';
	memcpy(orig, text, len + 1);
	for (word = text; isspace((unsigned char)*word); word++)
		;
	for (arg = word; *arg && !isspace((unsigned char)*arg); arg++)
		;
	if (*arg)
		*arg++ = '\0';
	while (isspace((unsigned char)*arg))
		arg++;
	for (end = arg + strlen(arg); end > arg && isspace((unsigned char)end[-1]); end--)
		end[-1] = '\0';

	if (!strcmp(word, "cluster") && !*arg) {
		if (p->cluster_line) {
			cluster_config_parse__fail(p, line,
						   "[cluster] appears twice (first at line %d)",
						   p->cluster_line);
			return;
		}
		p->cluster_line = line;
		p->kind = SECTION_CLUSTER;
		return;
	}
	if (strcmp(word, "node") && strcmp(word, "vm")) {
		cluster_config_parse__fail(p, line, "unknown section [%s]: expected [cluster], "
					   "[node NAME] or [vm NAME]", orig);
		return;
	}
	if (!*arg) {
		cluster_config_parse__fail(p, line, "[%s] needs a name: [%s NAME]", word, word);
		return;
	}
	if (!cluster_config__valid_name(arg)) {
		cluster_config_parse__fail(p, line, "%s name '%s' is not valid: " NAME_RULE, word,
					   arg);
		return;
	}
	if (!strcmp(word, "node") ? add_node(p, arg, line) == 0 : add_vm(p, arg, line) == 0)
		p->kind = !strcmp(word, "node") ? SECTION_NODE : SECTION_VM;
}

int cluster_config_parse__key(struct config_parser *p, const char *key, const char *value, int line)
{
	const struct key_rule *rules;

	switch (p->kind) {
	case SECTION_BAD:
		return 1; /* the header was reported already */
	case SECTION_NONE:
		cluster_config_parse__fail(p, line, "key '%s' is outside any section: put it under "
					   "[cluster], [node NAME] or [vm NAME]", key);
		return 0;
	case SECTION_CLUSTER: rules = cluster_keys; break;
	case SECTION_NODE: rules = node_keys; break;
	default: rules = vm_keys; break;
	}
	for (int i = 0; rules[i].key; i++) {
		if (strcmp(rules[i].key, key))
			continue;
		if (p->key_line[i])
			return fail_in(p, line, "%s is given twice (first at line %d)", key,
				       p->key_line[i]), 0;
		p->key_line[i] = line;
		return rules[i].set(p, value, line) == 0;
	}
	fail_in(p, line, "unknown key '%s'", key);
	return 0;
}

/* ---- whole-file rules ---- */

/* fencing follows fence_command unless given; the two must agree. */
static void validate_fencing(struct config_parser *p, struct config_node *n)
{
	if (n->fencing == CONFIG_FENCING_NONE && n->fence_command)
		n->fencing = CONFIG_FENCING_COMMAND;
	if (cluster_config__fence_by_command(n) && !n->fence_command)
		cluster_config_parse__fail(p, n->line, "node %s: fencing = %s needs a "
					   "fence_command", n->name,
					   n->fencing == CONFIG_FENCING_BOTH ? "both" : "command");
	else if (n->fencing == CONFIG_FENCING_WATCHDOG && n->fence_command)
		cluster_config_parse__fail(p, n->line, "node %s: fencing = watchdog does not run "
					   "its fence_command: say fencing = both, or remove the "
					   "command", n->name);
}

static void validate_node(struct config_parser *p, struct config_node *n)
{
	int tls = !!n->tls_ca + !!n->tls_cert + !!n->tls_key;

	validate_fencing(p, n);
	if (p->err_line)
		return;

	if (!n->replication) {
		cluster_config_parse__fail(p, n->line,
					   "node %s: missing required key 'replication'", n->name);
		return;
	}
	if (tls == 0 && !p->conf->allow_plaintext) {
		cluster_config_parse__fail(p, n->line, "node %s: tls_ca, tls_cert and tls_key "
					   "are required (or allow_plaintext = yes in [cluster])",
					   n->name);
		return;
	}
	if (tls != 0 && tls != 3) {
		cluster_config_parse__fail(p, n->line, "node %s: %s is missing: give tls_ca, "
					   "tls_cert and tls_key together", n->name,
					   !n->tls_ca ? "tls_ca" :
					   !n->tls_cert ? "tls_cert" : "tls_key");
		return;
	}
	if (n->tls_crl && !tls) {
		cluster_config_parse__fail(p, n->line, "node %s: tls_crl without tls_ca, tls_cert "
					   "and tls_key: a CRL only applies to TLS", n->name);
		return;
	}
}

/* The disk and NIC keys that only make sense together. */
static bool vm_devices_valid(struct config_parser *p, const struct config_vm *vm)
{
	const char *why = NULL;

	if (vm->disk && !vm->disk_size)
		why = "disk needs disk_size (a node without the image creates it at that size)";
	else if (!vm->disk && (vm->disk_size || vm->disk_shared))
		why = "disk_size and disk_shared need disk";
	else if (vm->disk && vm->disk[0] != '/')
		why = "disk must be an absolute path";
	else if (vm->disk_shared && vm->protect)
		why = "a protected VM's disk is replicated to its standby at every checkpoint: "
		      "it cannot be on shared storage (disk_shared = yes needs protected = no)";
	else if (vm->has_mac && !vm->bridge)
		why = "mac needs bridge (the VM has no network interface without it)";
	if (why)
		cluster_config_parse__fail(p, vm->line, "vm %s: %s", vm->name, why);
	return !why;
}

static void validate_vm(struct config_parser *p, const struct config_vm *vm)
{
	if (!vm->memory) {
		cluster_config_parse__fail(p, vm->line, "vm %s: missing required key 'memory'",
					   vm->name);
		return;
	}
	if (!vm->kernel) {
		cluster_config_parse__fail(p, vm->line, "vm %s: missing required key 'kernel'",
					   vm->name);
		return;
	}
	if (!vm_devices_valid(p, vm))
		return;
	if (vm->checkpoint_min_interval_us > vm->checkpoint_interval_ms * 1000ULL) {
		unsigned us = vm->checkpoint_min_interval_us;

		cluster_config_parse__fail(p, vm->line, "vm %s: checkpoint_min_interval_ms %u%s%.*u "
					   "is above checkpoint_interval_ms %u", vm->name,
					   us / 1000, us % 1000 ? "." : "", us % 1000 ? 3 : 0,
					   us % 1000, vm->checkpoint_interval_ms);
		return;
	}
	for (size_t i = 0; i < vm->n_preferred; i++)
		if (!cluster_config__node(p->conf, vm->preferred_nodes[i])) {
			cluster_config_parse__fail(p, vm->preferred_line,
						   "vm %s: preferred node '%s' is not declared "
						   "by a [node %s] section", vm->name,
						   vm->preferred_nodes[i], vm->preferred_nodes[i]);
			return;
		}
	cluster_config_place__validate_vm(p, vm);
}

/* Two VMs on one disk image or one MAC address would corrupt or confuse each other. */
static void validate_shared_devices(struct config_parser *p)
{
	const struct config *c = p->conf;

	for (size_t j = 1; j < c->n_vms && !p->err_line; j++) {
		const struct config_vm *b = &c->vms[j];

		for (size_t i = 0; i < j && !p->err_line; i++) {
			const struct config_vm *a = &c->vms[i];

			if (a->disk && b->disk && !strcmp(a->disk, b->disk))
				cluster_config_parse__fail(p, b->line, "vm %s: disk %s is also the disk "
							   "of vm %s (line %d): two VMs cannot share "
							   "an image", b->name, b->disk, a->name,
							   a->line);
			else if (a->has_mac && b->has_mac && !memcmp(a->mac, b->mac, 6))
				cluster_config_parse__fail(p, b->line, "vm %s: mac %02x:%02x:%02x:%02x:"
							   "%02x:%02x is also the mac of vm %s (line "
							   "%d)", b->name, b->mac[0], b->mac[1],
							   b->mac[2], b->mac[3], b->mac[4], b->mac[5],
							   a->name, a->line);
		}
	}
}

/*
 * The decision quorum is a strict majority of the declared nodes
 * (quorum.c): with fewer than three, losing one stops every decision,
 * failover included, unless corosync has a quorum device whose vote lets
 * half the nodes decide.  Such a cluster must say which (two_node = yes,
 * or quorum_device = yes).
 */
static void validate_size(struct config_parser *p)
{
	const struct config *c = p->conf;

	if (c->two_node && c->quorum_device)
		cluster_config_parse__fail(p, c->nodes[0].line, "two_node = yes and quorum_device "
					   "= yes in [cluster]: two_node runs without failover, "
					   "quorum_device fails over with the device's vote; say one");
	if (c->n_nodes >= 3 || c->two_node || c->quorum_device)
		return;
	cluster_config_parse__fail(p, c->nodes[0].line, "%zu node%s declared: a cluster of fewer "
				   "than 3 nodes has no majority once one is lost, so it cannot "
				   "fail over; declare a third node, or say quorum_device = yes "
				   "(corosync-qdevice) or two_node = yes in [cluster] to run so "
				   "knowingly", c->n_nodes, c->n_nodes == 1 ? "" : "s");
}

void cluster_config_parse__validate(struct config_parser *p)
{
	struct config *c = p->conf;

	if (c->n_nodes == 0) {
		cluster_config_parse__fail(p, p->lines, "no [node NAME] section: declare every "
					   "node of the cluster");
		return;
	}
	for (size_t i = 0; i < c->n_nodes && !p->err_line; i++)
		validate_node(p, &c->nodes[i]);
	for (size_t i = 0; i < c->n_vms && !p->err_line; i++)
		validate_vm(p, &c->vms[i]);
	if (!p->err_line)
		validate_shared_devices(p);
	if (!p->err_line)
		validate_size(p);
	if (!p->err_line && !c->cluster_name && !(c->cluster_name = strdup("hasvc")))
		cluster_config_parse__nomem(p);
}
