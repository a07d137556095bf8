/*
 * Private to local*.c: this node's copies of VMs (one vmm process each)
 * and what hasvcd still wants from each.
 */
#ifndef HASVC_LOCAL_H
#define HASVC_LOCAL_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "hasvc/daemon.h"
#include "vmm/control.pb-c.h"

struct ctl_conn;

#define LOCAL_MAX_COPIES (2 * HASVC_MAX_VMS)
#define LOCAL_CONTROL_MAX 96
#define LVMM_POLL_TIMEOUT_MS 1000  /* status calls of the poll */

/* What the vmm's control service says, for one poll. */
struct vmm_view {
	bool up;                 /* the control service answered */
	char vm_state[16];       /* running, paused, created, stopped */
	char ck_state[16];       /* checkpoint state: none, syncing, protected, ... */
	char mig_state[16];      /* migration job: none, active, completed, failed */
	uint64_t committed_epoch;
	uint64_t generation;     /* the token the vmm runs under */
	int64_t age_ms;
	double eps;
	/* The rest of protect-status, for GET /metrics (local_metrics.c). */
	bool ck_primary;         /* role primary */
	uint64_t epochs, bytes_last, held_bytes, held_frames;
	double pause_us_p50, pause_us_p99, pause_us_mean, ack_us_mean, ack_us_max;
	double bytes_per_epoch, disk_bytes_per_epoch;
};

struct copy {
	bool used;
	char vm[HASVC_NAME_MAX];
	uint64_t gen;
	uint8_t role;            /* enum fsm_role */
	bool incoming;           /* a live migration's destination */
	char control[LOCAL_CONTROL_MAX];
	struct ctl_conn *conn;   /* to its control service, kept between calls */
	pid_t pid;
	bool child;              /* ours (SIGCHLD), else adopted after a restart */
	bool exited;
	int status;
	bool up;                 /* its control service answered once */
	struct vmm_view view;
	uint8_t state;           /* enum fsm_vm_state, as derived */
	/* The last report sent. */
	bool reported;
	uint8_t rep_state, rep_role;
	uint64_t rep_gen, rep_epoch, rep_ms;
	/* Intents, carried out (and retried) by the poll. */
	bool want_protect;
	bool protect_sent;        /* accepted by the vmm; retried if the sync fails */
	bool want_migrate;
	bool migrating;           /* a migration job runs: its end goes to the metrics */
	char peer[HASVC_NAME_MAX];
	uint64_t peer_gen;
	uint64_t retry_ms;
	bool handover;
	uint64_t handover_epoch;
	uint64_t promote_ms;     /* keep_promote's next try (local.c) */
	bool stopping;
	uint64_t stop_deadline_ms;
	bool fenced;             /* paused because quorum was lost */
	/* The restart back-off (local_backoff.c). */
	bool fresh;              /* a primary booted afresh by this hasvcd */
	uint64_t started_ms;     /* when its vmm was spawned, or it was promoted */
	bool rep_stable;         /* the last report said it has run 60 s */
	bool pending;            /* no vmm (no pid) yet: the poll spawns it at due_ms */
	uint64_t due_ms;
};

/* Quick failures in a row of one VM's fresh boots on this node. */
struct backoff {
	char vm[HASVC_NAME_MAX];
	unsigned fails;          /* 0: a free entry */
	uint64_t last_ms;        /* when the last one ended */
};

struct local {
	struct hasvcd *d;
	struct copy c[LOCAL_MAX_COPIES];
	struct backoff bo[HASVC_MAX_VMS];
	qb_loop_timer_handle timer;
	uint64_t prune_due_ms;     /* next look for logs of VMs gone (0: now) */
};

/* local_vmm.c: processes and control calls. */
int local_vmm__spawn(struct hasvcd *d, struct copy *c, const char *const *args);
/* The last line of the copy's vmm log (why it ended), for hasvcd's own log. */
void local_vmm__last_words(struct hasvcd *d, const struct copy *c, char *out, size_t len);
/* Bound the copy's log (hasvc/vmmlog.h); each poll, while it runs. */
void local_vmm__bound_log(struct hasvcd *d, const struct copy *c);
/*
 * After a copy of vm ended: only the newest ended copies keep their logs,
 * and none once vm has left the configuration.
 */
void local_vmm__prune_logs(struct local *l, const char *vm);
/* The logs of VMs neither in the configuration nor running here. */
void local_vmm__prune_gone(struct local *l);
/*
 * Control commands through the typed requests of vmm/ctl.h: 0, or -errno
 * with the reason (the vmm's refusal, or the transport's) in err.
 * local_vmm__ctl: a command without fields (pause, resume, quit, unprotect,
 * migrate-cancel...).
 */
int local_vmm__ctl(struct copy *c, Vmm__Control__Request__CommandCase cmd, char *err,
		   size_t errlen);
/* Press the copy's power button; its vmm quits after timeout_s. */
int local_vmm__shutdown(struct copy *c, uint32_t timeout_s, char *err, size_t errlen);
/* Run the copy under generation gen. */
int local_vmm__activate(struct copy *c, uint64_t gen, char *err, size_t errlen);
/* Checkpoint to the standby at uri (c->peer, at c->peer_gen), as cv's checkpoint_* keys say. */
struct config_vm;
int local_vmm__protect(struct hasvcd *d, struct copy *c, const char *uri,
		       const struct config_vm *cv, char *err, size_t errlen);
/*
 * The migration job's state (none, active, completed, failed...) into out,
 * and its downtime once completed.
 */
int local_vmm__migration_state(struct copy *c, char *out, size_t len, uint64_t *downtime_ms,
			       char *err, size_t errlen);
/* Read status and protect-status into c->view. */
void local_vmm__view(struct copy *c);
/* Drop the copy's control connection (it went away, or is forgotten). */
void local_vmm__close(struct copy *c);
int local_vmm__migrate(struct hasvcd *d, struct copy *c, char *err, size_t errlen);
/* host:port of node's replication listener for vm (standby or incoming). */
int local_vmm__peer_uri(struct hasvcd *d, const char *node, const char *vm, bool incoming,
			char *out, size_t len);
/*
 * TLS options of this node, for vmm run, with peer the node the other end
 * must be; NULL-terminated.
 */
void local_vmm__tls_args(struct hasvcd *d, const char *peer, const char **args, size_t *n);
void local_vmm__record(struct hasvcd *d, const struct copy *c);
void local_vmm__unrecord(struct hasvcd *d, const struct copy *c);
/* Copies left running by an earlier hasvcd, from the run directory. */
void local_vmm__adopt_records(struct local *l);

/* local_metrics.c: this node's primaries, as lines of GET /metrics. */
struct metrics_out;
void local_metrics__render(struct hasvcd *d, struct metrics_out *o);

/* local_backoff.c: the restart back-off of fresh boots. */
/* When vm may boot afresh again (0: at once); fails: its quick failures. */
uint64_t local_backoff__due_ms(struct local *l, const char *vm, unsigned *fails);
/* c's vmm ended (or could not start) at now: count it, or start over. */
void local_backoff__ended(struct local *l, const struct copy *c, uint64_t now);

/*
 * local_launch.c: spawn c's vmm.  peer_gen: the primary's token, for a
 * standby or a destination.  0, or -errno (logged) when it cannot start.
 */
int local_launch__run(struct hasvcd *d, struct copy *c, uint64_t peer_gen);

/* This host's memory for VMs and online CPUs, into inv (local_host.c). */
void local_host__capacity(const struct hasvcd *d, Hasvc__Cluster__InventoryDone *inv);

/* local_dev.c: a VM's disk and network interface. */
struct config_vm;
/* Create the image (sparse, disk_size) if missing; refuse another size. */
int local_dev__disk_prepare(const struct config_vm *cv, char *err, size_t errlen);
/* The configured mac, or the one derived from the cluster and VM names. */
void local_dev__mac(const struct hasvcd *d, const struct config_vm *cv, uint8_t mac[6]);
/* The value of `vmm run --net` for generation gen. */
void local_dev__net_arg(const struct hasvcd *d, const struct config_vm *cv, uint64_t gen,
			char *out, size_t len);

#endif
