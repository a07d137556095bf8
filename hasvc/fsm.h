/*
 * The cluster state machine: placement, failover, evacuation.
 *
 * Pure: no I/O, no clock, no randomness, no pointers in the state.  Every
 * member of the CPG group feeds the same events in CPG's agreed order into
 * its own replica and so computes the same actions; each node then carries
 * out only the actions addressed to itself.  docs/hasvc-state-machine.md has
 * the rules and a failover sequence.
 *
 * The state is plain data (fixed arrays, node and VM indexes) so that tests
 * can compare replicas byte for byte.  A joining node is handed a copy as
 * a Replica message, field by field (hasvc/fsm_codec.h), never these bytes.
 */
#ifndef HASVC_FSM_H
#define HASVC_FSM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hasvc/cluster_config.h"
#include "hasvc/limits.h"

enum fsm_role {
	FSM_ROLE_NONE,
	FSM_ROLE_PRIMARY,
	FSM_ROLE_STANDBY,
};

/* What a vmm says about itself in a VM_REPORT. */
enum fsm_vm_state {
	FSM_VM_STARTING,
	FSM_VM_RUNNING,   /* primary without protection yet               */
	FSM_VM_SYNCING,   /* initial copy to the standby in progress     */
	FSM_VM_PROTECTED, /* checkpointing; on a standby: has a commit   */
	FSM_VM_DEGRADED,  /* primary whose standby is gone               */
	FSM_VM_PAUSED,    /* primary self-fenced on quorum loss          */
	FSM_VM_STOPPED,
	FSM_VM_FAILED,
};

enum fsm_event_type {
	FSM_EV_CONFIG,
	FSM_EV_MEMBERSHIP,
	FSM_EV_QUORUM,
	FSM_EV_VM_REPORT,
	FSM_EV_INVENTORY_DONE, /* a node has reported every local vmm      */
	FSM_EV_OPERATOR,
	FSM_EV_FENCE_RESULT,
	FSM_EV_NODE_LEAVING,    /* a hasvcd stops cleanly: freeze its VMs   */
	FSM_EV_RESTART_EXPIRED, /* its grace is over without its return     */
};

enum fsm_op {
	FSM_OP_MIGRATE,   /* vm, node */
	FSM_OP_EVACUATE,  /* node     */
	FSM_OP_FAILOVER,  /* vm       */
	FSM_OP_PROTECT,   /* vm       */
	FSM_OP_UNPROTECT, /* vm       */
	/* node: the operator says the lost node is off (hactl fence-ack) */
	FSM_OP_FENCE_ACK = 50,
	FSM_OP_MAINTENANCE_ON = 51,  /* node: evacuate, then keep it empty  */
	FSM_OP_MAINTENANCE_OFF = 52, /* node                                */
	FSM_OP_EVACUATE_CANCEL = 53, /* node: stop placing its copies away  */
	/* The requested state (hactl start/stop/disable/enable/clear): the
	 * numbers are hactl.proto's and cluster.proto's, which skip 5..39. */
	FSM_OP_START = 40, /* vm                        */
	FSM_OP_STOP,       /* vm, timeout_s             */
	FSM_OP_DISABLE,    /* vm, timeout_s             */
	FSM_OP_ENABLE,     /* vm                        */
	FSM_OP_CLEAR,      /* vm: out of the error state */
};

/* What the operator asked a VM to be (hactl start/stop/disable/enable). */
enum fsm_request {
	FSM_REQ_STARTED,  /* run it, protected if configured so          */
	FSM_REQ_STOPPED,  /* shut it down cleanly and keep it down        */
	FSM_REQ_DISABLED, /* as stopped, and `start` is refused until enable */
};

/* The shutdown timeout of stop and disable when hactl gives none. */
#define FSM_STOP_TIMEOUT_S 60

/* Pointers are borrowed for the duration of fsm__step() only. */
struct fsm_event {
	enum fsm_event_type type;
	union {
		struct {
			const struct config *config;
			uint8_t digest[HASVC_DIGEST_LEN];
		} config;
		struct {
			const char *const *nodes; /* names of the CPG members */
			size_t n_nodes;
			bool quorate;
		} membership;
		struct {
			bool quorate;
		} quorum;
		struct {
			const char *node;       /* sender                   */
			const char *vm;
			enum fsm_role role;
			enum fsm_vm_state state;
			uint64_t generation;
			uint64_t epoch;         /* last committed checkpoint */
			bool stable;            /* has run 60 s since it started */
		} report;
		struct {
			const char *node;
			uint32_t mem_mib;       /* its host's, for VMs; 0: unknown */
			uint16_t cpus;
		} inventory;
		struct {
			const char *origin;     /* node whose hactl asked   */
			enum fsm_op op;
			const char *vm;
			const char *node;
			uint32_t timeout_s;     /* stop, disable; 0: the default */
		} op;
		struct {
			const char *node;       /* the node that was fenced */
			bool ok;
		} fence;
		struct {
			const char *node;       /* the sender, about to leave */
			int64_t deadline_ms;    /* wall clock (ms since 1970) */
		} leaving;
		struct {
			const char *node;       /* the node still away      */
		} expired;
	};
};

enum fsm_action_type {
	FSM_ACT_START_PRIMARY,  /* node: boot vm as primary; peer: standby or ""  */
	FSM_ACT_START_STANDBY,  /* node: receive vm from primary peer            */
	FSM_ACT_PROTECT,        /* node (primary): checkpoint to standby peer    */
	FSM_ACT_PROMOTE,        /* node: resume vm from its last commit          */
	FSM_ACT_STOP,           /* node: stop its copy of exactly this generation */
	FSM_ACT_PAUSE_ALL_PRIMARIES, /* node: self-fence, quorum is gone        */
	FSM_ACT_FENCE,          /* node: run the fence command of peer           */
	FSM_ACT_START_INCOMING, /* node: receive a live migration from peer      */
	FSM_ACT_MIGRATE,        /* node: live-migrate vm to peer                 */
	FSM_ACT_HANDOVER,       /* node (primary): final checkpoint to the
				   standby peer, then stop                       */
	FSM_ACT_LOG,            /* node "": every node logs text                 */
	FSM_ACT_REJECT,         /* node: tell the operator why not (text)        */
	FSM_ACT_SHUTDOWN,       /* node: press the power button of its copy of
				   this generation; quit it after timeout_s      */
};

/* A LOG or REJECT text: a refusal with its reasons (fsm__explain) fits. */
#define FSM_TEXT_MAX 320

struct fsm_action {
	enum fsm_action_type type;
	char node[HASVC_NAME_MAX]; /* who carries it out                   */
	char vm[HASVC_NAME_MAX];
	char peer[HASVC_NAME_MAX];
	uint64_t generation;       /* token of the copy the action is for */
	uint64_t peer_generation;  /* token of the peer's copy: the only one
				      a stream may come from or go to     */
	char text[FSM_TEXT_MAX];   /* LOG and REJECT                      */
	uint32_t timeout_s;        /* SHUTDOWN                            */
};

struct fsm_actions {
	struct fsm_action *v;
	size_t n, cap;
};

enum fsm_fence {
	FSM_FENCE_NONE,
	FSM_FENCE_PENDING,
	FSM_FENCE_FAILED,
	FSM_FENCE_DONE,
};

struct fsm_node {
	char name[HASVC_NAME_MAX]; /* "": free slot                     */
	bool declared;             /* in the current configuration     */
	bool has_fence;
	bool member;               /* in the current CPG view          */
	bool ready;                /* inventory received since joining */
	bool gone;                 /* left while the view was quorate  */
	bool evacuating;
	uint8_t fence;             /* enum fsm_fence                   */
	bool maintenance;          /* hactl maintenance on: evacuating
				      whenever it is a member, until off */
	uint32_t mem_mib;          /* what VMs may use here; 0: not counted */
	uint16_t cpus;             /* vCPUs VMs may use here; 0: not counted */
	/* What its hasvcd read from its host (INVENTORY_DONE), counted where
	 * mem_mib / cpus are 0; 0: not reported. */
	uint32_t rep_mem_mib;
	uint16_t rep_cpus;
	/*
	 * Its hasvcd stopped cleanly (a restart, an upgrade) and its vmm
	 * processes run on: its VMs are frozen, not failed over, until it
	 * reports again or restart_deadline_ms (wall clock, for the timers
	 * of hasvc/grace.c) passes and a RESTART_EXPIRED makes it a loss.
	 */
	bool restarting;
	int64_t restart_deadline_ms;
};

/* What the machine believes one node holds of one VM. */
struct fsm_copy {
	uint8_t role;       /* enum fsm_role                                 */
	uint8_t state;      /* enum fsm_vm_state, as last reported            */
	bool live;          /* entitled to run, or may still run unfenced     */
	bool incoming;      /* destination of a live migration                */
	bool reported;      /* reported since its node last joined            */
	uint64_t generation;
	uint64_t epoch;
};

enum fsm_wait {
	FSM_WAIT_NONE,
	FSM_WAIT_FENCE,
	FSM_WAIT_NO_NODE,
	FSM_WAIT_NO_STANDBY_NODE,
	FSM_WAIT_NO_EVACUATION_NODE,
	FSM_WAIT_FROZEN,          /* a node of it restarts its hasvcd    */
};

struct fsm_vm {
	bool used;
	char name[HASVC_NAME_MAX];
	int priority;
	bool protect;             /* what the machine enforces now       */
	bool conf_protect;        /* what the configuration says         */
	uint8_t n_preferred;
	int8_t preferred[HASVC_MAX_NODES];
	uint64_t generation;      /* current activation; 0 never started */
	uint64_t issued;          /* highest token handed out: every copy
				     started gets a new one, so no two
				     copies ever share a token            */
	int8_t primary, standby;  /* node index or -1                    */
	int8_t migrate_to;        /* -1 unless a live migration runs     */
	int8_t avoid;             /* node whose standby failed, or -1    */
	uint64_t migrate_gen;
	bool handover;            /* primary stops after a final commit  */
	bool failover_asked;      /* ... and that is `hactl failover`, not
				     a planned move (events, metrics)     */
	uint8_t waiting;          /* enum fsm_wait last logged           */
	struct fsm_copy copies[HASVC_MAX_NODES];
	/* The lifecycle (docs/hasvc-state-machine.md, "Requested state"). */
	uint8_t request;          /* enum fsm_request                    */
	bool error;               /* failed past its limits: kept down   */
	uint8_t max_restart;      /* fresh boots on the node that failed */
	uint8_t max_relocate;     /* moves to another node after failing */
	uint8_t restarts;         /* ... used since it last ran stably   */
	uint8_t relocations;
	int8_t home;              /* where it was stopped: its disk is the
				     newest there; -1                     */
	uint32_t stop_timeout_s;  /* of the last stop or disable         */
	uint64_t shutdown_gen;    /* the activation SHUTDOWN went to     */
	/* Placement (hasvc/fsm_fit.c): what each copy takes from its node. */
	uint32_t mem_mib;
	uint16_t vcpus;
	uint32_t nodes_mask;      /* node slots it may use; 0: any       */
	uint64_t apart[(HASVC_MAX_VMS + 63) / 64]; /* VM slots its primary
				     never shares a node with (avoid = ...) */
	bool wait_room;           /* why no node has room was logged    */
};

struct fsm {
	bool configured;
	uint8_t digest[HASVC_DIGEST_LEN];
	bool have_view;           /* a MEMBERSHIP event arrived          */
	bool quorate;
	/* Events handled while quorate: of two diverged replicas (a partition
	 * that healed), the one with the larger count is the newer. */
	uint64_t quorate_events;
	struct fsm_node nodes[HASVC_MAX_NODES];
	struct fsm_vm vms[HASVC_MAX_VMS];
};

struct fsm *fsm__new(void);
void fsm__free(struct fsm *fsm);
void fsm__init(struct fsm *fsm);

/*
 * Apply one event; actions are appended to out.  0, or -ENOMEM when out
 * could not grow: the replica may then differ from its peers and the
 * daemon must leave the group and rejoin with a fresh copy.
 */
int fsm__step(struct fsm *fsm, const struct fsm_event *ev, struct fsm_actions *out);

/* 0, or -EPROTO with a description of the first broken rule in why. */
int fsm__check_invariants(const struct fsm *fsm, char *why, size_t len);

void fsm__actions_init(struct fsm_actions *a);
void fsm__actions_clear(struct fsm_actions *a);
void fsm__actions_free(struct fsm_actions *a);

const char *fsm__action_name(enum fsm_action_type type);
const char *fsm__state_name(enum fsm_vm_state state);
const char *fsm__request_name(enum fsm_request request);
/* "PROMOTE node=b vm=web1 gen=4", for logs and test failure messages. */
void fsm__format_action(const struct fsm_action *a, char *buf, size_t len);

int fsm__node_index(const struct fsm *fsm, const char *name);
/* The restarting node that freezes vm (holds its primary or standby), or -1. */
int fsm__frozen_by(const struct fsm *f, const struct fsm_vm *vm);
int fsm__vm_index(const struct fsm *fsm, const char *name);

/*
 * What node slot i gives VMs: the declared figure, or the reported one where
 * none is declared (0: not counted), and what its live copies take.
 */
struct fsm_capacity {
	uint32_t mem_mib;
	bool mem_declared;
	unsigned cpus;
	bool cpus_declared;
	uint32_t used_mem_mib;
	unsigned used_cpus;
};
void fsm__capacity(const struct fsm *f, int i, struct fsm_capacity *cap);

#endif
