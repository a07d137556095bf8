/*
 * hasvcd, the cluster daemon (docs/hasvc-daemon.md): the context its
 * modules share and the calls between them.
 *
 *   hasvcd.c   options, logging, the loop, start and stop
 *   cluster.c  corosync: CPG (agreed-order messages and membership),
 *              quorum, node names from cmap
 *   sync.c     a joining replica adopts the newest state before it applies
 *              anything (the state machine's replicas must stay equal)
 *   apply.c    messages and memberships become state machine events; the
 *              actions addressed to this node go to local.c and fence.c
 *   local.c    the vmm processes of this node: start, stop, protect,
 *              promote, migrate, report (local_*.c)
 *   fence.c    fence commands, and waiting out a lost node's watchdog
 *   watchdog.c this node's watchdog device (self-fencing)
 *   serve.c    hactl's requests
 *   metrics.c  GET /metrics (its own HTTP thread; local_metrics.c adds the
 *              figures of this node's primaries)
 *   notify.c   systemd's READY=1, STATUS= and WATCHDOG=1
 *   journal.c  the log in the journal, an event's line with HASVC_* fields
 *   history.c  cluster events around every step (events.c), hactl events
 *   alert.c    alert_command for each of them
 *   grace.c    a clean stop (Leaving) freezes this node's VMs for
 *              restart_grace_ms instead of being a node loss
 *   config_dist.c  one configuration text for the cluster: hactl config
 *              apply, every node's file written, what each node holds
 *
 * One struct hasvcd per daemon, no globals: everything runs on the loop's
 * thread.
 */
#ifndef HASVC_DAEMON_H
#define HASVC_DAEMON_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <qb/qbloop.h>

#include "hasvc/cluster.pb-c.h"
#include "hasvc/cluster_config.h"
#include "hasvc/fsm.h"
#include "hasvc/quorum.h"

#define CPG_VIEW_MAX 128
/*
 * Limits of the queues the group fills: messages corosync has not taken yet
 * (cluster.c), messages held during a state exchange (sync.c).
 */
#define HASVCD_SEND_QUEUE_MAX 4096
#define HASVCD_SEND_QUEUE_BYTES (64u << 20)
#define HASVCD_HELD_MAX 8192
#define HASVCD_HELD_BYTES (64u << 20)
/* How long a fresh cluster waits for every declared node (apply.c). */
#define HASVCD_FORMATION_WAIT_MS 10000

/*
 * A hasvcd in the group, as corosync names it: a message is believed to come
 * from the node corosync delivered it from, never from what it says.  One
 * member per node id is taken as that node's hasvcd; any other process that
 * joins the group from the same node id is ignored (cluster.c).
 */
struct group_member {
	char name[HASVC_NAME_MAX];   /* corosync's name of nodeid, or "nodeid-N" */
	uint32_t nodeid, pid;
	bool self;                   /* this daemon */
	/*
	 * false: nodeid had several members when this daemon first saw it, and
	 * this one is a guess until an adopted state names the right one.
	 */
	bool certain;
};

struct cluster;
struct sync;
struct local;
struct fence;
struct watchdog;
struct hasvc_ipc;
struct metrics;
struct notify;
struct history;
struct alert;
struct grace;
struct config_dist;
struct hasvc_ipc_req;

/* Figures of a VM's primary, from its reports, for hactl status. */
struct vm_figures {
	int64_t checkpoint_age_ms;
	double epochs_per_s;
	uint64_t at_ms;            /* when the report came, monotonic */
};

struct hasvcd {
	qb_loop_t *loop;
	char node[HASVC_NAME_MAX];   /* this node, as corosync names it */
	const char *config_path;
	const char *run_dir;         /* vmm sockets, logs and records */
	const char *state_dir;       /* the replica kept on disk; NULL: none */
	struct persist *persist;     /* persist.c */
	/* The replica was read back from state_dir (or adopted from one that
	 * was) and has not been through a quorate view since. */
	bool replica_saved;
	const char *vmm_path;
	const char *ipc_name;
	bool stopping;
	bool failed;                 /* stopping because of an error */

	/* The configuration the cluster runs (the same text on every member). */
	char *conf_text;
	struct config *conf;
	uint8_t conf_digest[HASVC_DIGEST_LEN];
	uint8_t file_digest[HASVC_DIGEST_LEN]; /* this node's file, for status */

	struct fsm *fsm;
	struct fsm_actions acts;
	bool votequorum_quorate;     /* what the local corosync says */
	bool votequorum_known;       /* ... once it has said it */
	uint64_t votequorum_ring;    /* ... about this corosync ring */
	uint64_t cpg_ring;           /* the ring the group is in, or 0 */
	/* The last membership applied, as every replica saw it. */
	char members[CPG_VIEW_MAX][HASVC_NAME_MAX];
	size_t n_members;
	char *member_ptrs[CPG_VIEW_MAX];
	/* What each of members[] said of its votequorum in this view. */
	struct quorum_verdict verdicts[CPG_VIEW_MAX];
	bool formation_over, formation_timer_armed;
	qb_loop_timer_handle formation_timer;

	struct cluster *cl;
	struct sync *sync;
	struct local *loc;
	struct fence *fence;
	struct watchdog *watchdog;
	struct hasvc_ipc *ipc;
	void *serve;                 /* serve.c's pending hactl commands */
	struct vm_figures figs[HASVC_MAX_VMS];
	struct metrics *met;          /* metrics.c: GET /metrics */
	struct notify *notify;        /* notify.c: systemd readiness and watchdog */
	struct history *history;     /* cluster events (history.h) */
	struct alert *alert;         /* their alert_command runs */
	struct grace *grace;         /* grace.c: restarts that freeze VMs */
	struct config_dist *cdist;   /* config_dist.c: the text every node holds */
};

/* hasvcd.c */
uint64_t hasvcd__now_ms(void);
/* The wall clock in ms since 1970: times that other nodes compare. */
int64_t hasvcd__wall_ms(void);
/*
 * fork() for children that exec (vmm, fence commands): the child starts
 * with every signal at its default action, none of the daemon's handlers.
 */
pid_t hasvcd__fork(void);
/* SHA-256: of a configuration's text, of a replica's bytes. */
void hasvcd__digest(const void *data, size_t len, uint8_t out[HASVC_DIGEST_LEN]);
void hasvcd__hex(const uint8_t *b, size_t n, char *out, size_t outlen);
/* Parse text as the cluster's configuration and make it the current one. */
int hasvcd__set_config(struct hasvcd *d, const char *text, const char *path, char *err,
		       size_t errlen);
/* Read a whole file; NULL with errno set on failure. */
char *hasvcd__read_file(const char *path);

/* cluster.c */
int cluster__start(struct hasvcd *d);
void cluster__stop(struct hasvcd *d);
/*
 * Multicast in agreed order; the sender field is filled in.  0 or -errno:
 * -ENOBUFS when corosync has not taken the messages queued before for so
 * long that the send queue is full (the message is not sent).
 */
int cluster__send(struct hasvcd *d, Hasvc__Cluster__Msg *m);
/*
 * Take pid, a member of the group from nodeid, as the hasvcd of nodeid
 * instead of the guess (what an adopted state says).  0, or -ENOENT when
 * no such member is in the group.
 */
int cluster__trust(struct hasvcd *d, uint32_t nodeid, uint32_t pid);

/* sync.c: the cluster's CPG callbacks go through here. */
int sync__new(struct hasvcd *d);
void sync__free(struct hasvcd *d);
/*
 * A configuration change: the hasvcd of every node id in the group
 * (declared or not), and whether one of them is new.
 */
void sync__view(struct hasvcd *d, const struct group_member *members, size_t n, bool joiners);
/* m came from the member from (m->sender is from's name). */
void sync__deliver(struct hasvcd *d, Hasvc__Cluster__Msg *m, const struct group_member *from);

/* apply.c */
void apply__membership(struct hasvcd *d, const char *const *members, size_t n);
void apply__message(struct hasvcd *d, const Hasvc__Cluster__Msg *m);
/* With quorum_device = yes: tell the group what the local votequorum says. */
void apply__send_verdict(struct hasvcd *d);
/* The view just became consistent: report what this node holds. */
void apply__after_sync(struct hasvcd *d);
/* Feed one event and carry out this node's actions. */
void apply__step(struct hasvcd *d, const struct fsm_event *ev);

/* local.c */
int local__new(struct hasvcd *d);
void local__free(struct hasvcd *d);
void local__act(struct hasvcd *d, const struct fsm_action *a);
/* Multicast a report of every local copy, then INVENTORY_DONE. */
void local__inventory(struct hasvcd *d);
/* Quorum is gone: pause every local primary now, drop incoming migrations. */
void local__self_fence(struct hasvcd *d);
/* A child exited (SIGCHLD); false if it was not a vmm of ours. */
bool local__child_exited(struct hasvcd *d, pid_t pid, int status);
/* A primary (or a migration's destination) vmm runs or is about to. */
bool local__runs_primary(struct hasvcd *d);

/* fence.c */
int fence__new(struct hasvcd *d);
void fence__free(struct hasvcd *d);
void fence__run(struct hasvcd *d, const char *node);
bool fence__child_exited(struct hasvcd *d, pid_t pid, int status);
/* After a membership: a node that is a member again needs no watchdog wait. */
void fence__view(struct hasvcd *d);

/* watchdog.c: this node's watchdog device, armed while it runs a primary. */
int watchdog__new(struct hasvcd *d);
void watchdog__free(struct hasvcd *d);

/* grace.c: a clean stop freezes this node's VMs; restart deadlines. */
int grace__new(struct hasvcd *d);
void grace__free(struct hasvcd *d);
/* SIGTERM: multicast Leaving; true when the stop waits for its delivery. */
bool grace__leave(struct hasvcd *d);
/* A Leaving from sender was applied: ours ends this daemon's loop. */
void grace__delivered(struct hasvcd *d, const char *sender);
/* After a step: arm the timer of the earliest restart deadline. */
void grace__check(struct hasvcd *d);
/* corosync's ring holds these nodes: a restarting node not among them is lost. */
void grace__ring(struct hasvcd *d, const char *const *names, size_t n);
/* Until a restarting node's grace ends (by this node's clock), >= 0. */
int64_t grace__left_ms(const struct fsm_node *n);

/* config_dist.c: one configuration for the cluster. */
int config_dist__new(struct hasvcd *d);
void config_dist__free(struct hasvcd *d);
/*
 * A text hactl asks the cluster to run (config apply, reload): 0, or -errno
 * with why in err (it does not parse, it is too big, it drops a node whose
 * hasvcd is in the group, it changes a running VM's shape, no quorum).
 */
int config_dist__check(struct hasvcd *d, const char *text, const char *path, char *err,
		       size_t errlen);
/*
 * The Config m was delivered and applied here (error NULL; change: what it
 * changed, for the sender's hactl) or not (error): write this node's file,
 * multicast ConfigHeld; m's sender then answers its hactl.
 */
void config_dist__applied(struct hasvcd *d, const Hasvc__Cluster__Msg *m, const char *error,
			  const char *change);
/* A state exchange adopted a text; before: the digest of the one it replaced. */
void config_dist__adopted(struct hasvcd *d, const uint8_t before[HASVC_DIGEST_LEN]);
/* After a state exchange: multicast what this node holds. */
void config_dist__after_sync(struct hasvcd *d);
/* A delivered ConfigHeld. */
void config_dist__held(struct hasvcd *d, const Hasvc__Cluster__Msg *m);
/* Hex digests of node's file and running text, "" when unknown. */
void config_dist__digests(struct hasvcd *d, const char *node, char *file, char *running,
			  size_t len);
/* hactl config show: the running text and its digest. */
void config_dist__show(struct hasvcd *d, struct hasvc_ipc_req *req);

/* serve.c */
int serve__start(struct hasvcd *d);
void serve__stop(struct hasvcd *d);
/* The cluster answered a command this node sent: reply to its hactl. */
void serve__done(struct hasvcd *d, uint64_t request, bool ok, const char *text);
/* A VM's state as hactl status shows it (protected, degraded, stopped...). */
const char *serve__vm_state(const struct fsm_vm *vm);

#endif
