/*
 * The cluster configuration (hasvc.conf): nodes and protected VMs.
 *
 * Parsed by libinih; every error names the file, the line and the problem,
 * the way a compiler does ("hasvc.conf:12: vm web1: memory '12Q' is not a
 * size like 512M or 2G").  The result is plain data: arrays with counts and
 * strings owned by the struct, released by cluster_config__free().
 *
 * The header is not called config.h on purpose: every .c file starts with
 * #include "config.h" (autoconf's), and a hasvc/config.h would shadow it for
 * the files of this folder.
 */
#ifndef HASVC_CLUSTER_CONFIG_H
#define HASVC_CLUSTER_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hasvc/limits.h"

#define CONFIG_ERR_MAX 512 /* room for "file:line: what: problem" */

#define CONFIG_DEFAULT_INTERVAL_MS 25
#define CONFIG_MIN_INTERVAL_MS 5
#define CONFIG_MAX_INTERVAL_MS 10000
#define CONFIG_MIN_INTERVAL_MIN_US 100   /* checkpoint_min_interval_ms's least: 0.1 */
/* Output-triggered epochs (docs/checkpointing.md); 0: the vmm's default. */
#define CONFIG_MAX_RATE_MAX 10000
/* The primary's wait for a checkpoint's ack: the vmm's bounds (replication/checkpoint.h). */
#define CONFIG_ACK_TIMEOUT_MIN_MS 100
#define CONFIG_ACK_TIMEOUT_MAX_MS 600000
#define CONFIG_MAX_VCPUS 64
#define CONFIG_MIN_MEMORY (1ULL << 20)
#define CONFIG_MAX_MEMORY (1ULL << 40)
#define CONFIG_MIN_PRIORITY (-1000)
#define CONFIG_MAX_PRIORITY 1000
#define CONFIG_MIN_DISK 4096ULL
#define CONFIG_MAX_DISK (1ULL << 46)
/* max_restart, max_relocate: Proxmox's defaults. */
#define CONFIG_DEFAULT_MAX_RESTART 1
#define CONFIG_DEFAULT_MAX_RELOCATE 1
#define CONFIG_MAX_RETRIES 100
/* [node] cpus: what a node may give its VMs. */
#define CONFIG_MAX_NODE_CPUS 4096
/* [cluster] sync_timeout_ms: how long a state exchange waits (sync.c). */
#define CONFIG_DEFAULT_SYNC_TIMEOUT_MS 10000
#define CONFIG_MIN_SYNC_TIMEOUT_MS 100
#define CONFIG_MAX_SYNC_TIMEOUT_MS 600000
/* [cluster] metrics_address: only this host's scrapers by default. */
#define CONFIG_DEFAULT_METRICS_ADDRESS "127.0.0.1"
/* [node] fence_timeout_ms: the fence command's time limit (fence.c). */
#define CONFIG_DEFAULT_FENCE_TIMEOUT_MS 60000
#define CONFIG_MIN_FENCE_TIMEOUT_MS 100
#define CONFIG_MAX_FENCE_TIMEOUT_MS 3600000
/* [node] watchdog_timeout (s) and [cluster] watchdog_margin_ms (watchdog.c). */
#define CONFIG_DEFAULT_WATCHDOG_DEVICE "/dev/watchdog"
#define CONFIG_DEFAULT_WATCHDOG_TIMEOUT_S 60
#define CONFIG_MIN_WATCHDOG_TIMEOUT_S 2
#define CONFIG_MAX_WATCHDOG_TIMEOUT_S 600
#define CONFIG_DEFAULT_WATCHDOG_MARGIN_MS 5000
#define CONFIG_MAX_WATCHDOG_MARGIN_MS 600000

/* How a lost node is known to be off before its VMs move ([node] fencing). */
enum config_fencing {
	CONFIG_FENCING_NONE,     /* no fence_command, no fencing key        */
	CONFIG_FENCING_COMMAND,  /* fence_command succeeded                 */
	CONFIG_FENCING_WATCHDOG, /* its watchdog's timeout has passed       */
	CONFIG_FENCING_BOTH,     /* whichever of the two comes first        */
};
/* [cluster] restart_grace_ms: how long a cleanly stopped hasvcd's VMs stay frozen. */
#define CONFIG_DEFAULT_RESTART_GRACE_MS 60000
#define CONFIG_MIN_RESTART_GRACE_MS 100
#define CONFIG_MAX_RESTART_GRACE_MS 3600000
/* [cluster] host_reserve_memory: what each host keeps for itself of its
 * MemTotal when its hasvcd reports its capacity (docs/hasvc-config.md). */
#define CONFIG_DEFAULT_HOST_RESERVE (1ULL << 30)
/* [cluster] alert_timeout_ms: how long an alert_command may run. */
#define CONFIG_DEFAULT_ALERT_TIMEOUT_MS 30000
#define CONFIG_MIN_ALERT_TIMEOUT_MS 100
#define CONFIG_MAX_ALERT_TIMEOUT_MS 600000

struct config_node {
	char *name;
	char *replication;      /* "host:port" as written                */
	char *replication_host; /* without brackets for IPv6 literals    */
	uint16_t replication_port;
	char *tls_ca, *tls_cert, *tls_key; /* all three or none          */
	char *tls_crl;          /* a CRL file (with TLS), or NULL        */
	char *fence_command;    /* NULL: no fencing for this node        */
	int line;               /* of the [node NAME] header             */
	enum config_fencing fencing;
	unsigned fence_timeout_ms;
	char *watchdog_device;  /* NULL: CONFIG_DEFAULT_WATCHDOG_DEVICE  */
	unsigned watchdog_timeout_s;
	uint64_t memory;        /* bytes VMs may use here; 0: not counted */
	unsigned cpus;          /* vCPUs VMs may use here; 0: not counted */
};

struct config_vm {
	char *name;
	uint64_t memory;        /* bytes                                 */
	unsigned vcpus;
	char *kernel;
	char *cmdline;          /* NULL when not given                   */
	char *initrd;           /* NULL when not given                   */
	unsigned checkpoint_interval_ms;
	bool checkpoint_output_epochs;          /* default yes */
	unsigned checkpoint_min_interval_us;    /* 0: the vmm's default (1 ms) */
	unsigned checkpoint_max_rate;           /* 0: the vmm's default (1000) */
	unsigned checkpoint_ack_timeout_ms;     /* 0: the vmm's default (10000) */
	char **preferred_nodes; /* declared node names, in order         */
	size_t n_preferred;
	int priority;           /* higher is placed first                */
	bool protect;           /* keep a hot standby                    */
	char *disk;             /* raw image path on every node, or NULL */
	uint64_t disk_size;     /* bytes; required with disk             */
	bool disk_shared;       /* the path is shared storage: never copied */
	char *bridge;           /* host bridge of the guest's NIC, or NULL */
	bool has_mac;
	uint8_t mac[6];         /* with has_mac; else hasvcd derives one */
	int line;               /* of the [vm NAME] header               */
	int preferred_line;     /* of preferred_nodes, 0 when not given  */
	unsigned max_restart;   /* fresh boots on the node where it failed */
	unsigned max_relocate;  /* moves to another node after failing   */
	char **nodes;           /* the only nodes it may use; none: any  */
	size_t n_nodes;
	char **avoid;           /* VMs its primary never shares a node with */
	size_t n_avoid;
	int nodes_line, avoid_line; /* 0 when not given                  */
};

struct config {
	char *path;             /* the name errors were reported against */
	char *cluster_name;
	bool allow_plaintext;   /* nodes without TLS files are accepted  */
	unsigned sync_timeout_ms; /* a state exchange's time limit       */
	unsigned metrics_port;  /* GET /metrics (hasvc/metrics.c); 0: off */
	char *metrics_address;  /* IP literal it listens on, or NULL:
				   CONFIG_DEFAULT_METRICS_ADDRESS        */
	unsigned watchdog_margin_ms; /* waited after a watchdog's timeout */
	bool two_node;          /* fewer than 3 nodes, knowingly         */
	bool quorum_device;     /* votequorum has a qdevice: a half view
				   decides when it says quorate (quorum.c) */
	char *alert_command;    /* run for every cluster event, or NULL */
	unsigned alert_timeout_ms;
	unsigned restart_grace_ms; /* a restarting node's VMs stay frozen */
	uint64_t host_reserve_memory; /* bytes of MemTotal not reported   */
	struct config_node *nodes;
	size_t n_nodes;
	struct config_vm *vms;
	size_t n_vms;
};

/*
 * Load and validate a file.  0 and *out set, or a negative errno with the
 * message in err (-ENOENT/-EACCES: the file could not be opened, -EINVAL: it
 * is not a valid configuration, -ENOMEM).
 */
int cluster_config__load(const char *path, struct config **out, char *err, size_t errlen);
/* The same for text in memory; name is what errors call the file. */
int cluster_config__parse_string(const char *text, const char *name, struct config **out,
				 char *err, size_t errlen);
void cluster_config__free(struct config *conf);

const struct config_node *cluster_config__node(const struct config *conf, const char *name);
const struct config_vm *cluster_config__vm(const struct config *conf, const char *name);
/* The node's fencing uses its fence command / its watchdog. */
bool cluster_config__fence_by_command(const struct config_node *n);
bool cluster_config__fence_by_watchdog(const struct config_node *n);

/* What `hactl reload` reports: VM names, each list sorted. */
struct config_diff {
	char **added;
	size_t n_added;
	char **removed;
	size_t n_removed;
	char **changed;  /* any key differs */
	size_t n_changed;
};

/* The disk and network keys of two VMs are the same. */
bool cluster_config__same_devices(const struct config_vm *a, const struct config_vm *b);
int cluster_config__diff(const struct config *old, const struct config *new_conf,
			 struct config_diff *diff);
void cluster_config__diff_free(struct config_diff *diff);

#endif
