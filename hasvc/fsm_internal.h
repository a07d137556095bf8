/*
 * Private to the state machine's files: the context of one step and the
 * helpers that emit actions and pick nodes.
 */
#ifndef HASVC_FSM_INTERNAL_H
#define HASVC_FSM_INTERNAL_H

#include "hasvc/fsm.h"

struct step {
	struct fsm *f;
	struct fsm_actions *out;
	int err;                 /* first -ENOMEM while appending       */
	bool view_changed;       /* a MEMBERSHIP event: re-send fencing */
};

/* Actions; node/peer are indexes or -1, vm an index or -1. */
/* The action, for extra fields, or NULL when out of memory. */
struct fsm_action *fsm__emit(struct step *st, enum fsm_action_type type, int node, int vm,
			     int peer, uint64_t generation);
void fsm__emit_stop_named(struct step *st, int node, const char *vm, uint64_t generation);
void fsm__emit_log(struct step *st, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void fsm__emit_reject(struct step *st, const char *origin, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Log a reason for waiting once, not at every event. */
void fsm__wait_for(struct step *st, struct fsm_vm *vm, enum fsm_wait why, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static inline bool copy_dead_state(uint8_t state)
{
	return state == FSM_VM_STOPPED || state == FSM_VM_FAILED || state == FSM_VM_PAUSED;
}

static inline bool copy_running_state(uint8_t state)
{
	return state == FSM_VM_RUNNING || state == FSM_VM_SYNCING ||
	       state == FSM_VM_PROTECTED || state == FSM_VM_DEGRADED;
}

/* A standby with a committed checkpoint can take over. */
static inline bool copy_synced(const struct fsm_copy *c)
{
	return c->live && c->role == FSM_ROLE_STANDBY &&
	       (c->state == FSM_VM_PROTECTED || c->epoch > 0);
}

void fsm__copy_set(struct fsm_copy *c, enum fsm_role role, uint64_t generation, bool incoming);
void fsm__copy_clear(struct fsm_copy *c);

/* fsm_check.c: -EPROTO, with the text in why (when why and len). */
int fsm__broken(char *why, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* fsm_place.c */
bool fsm__node_usable(const struct fsm *f, int i);      /* may hold a copy now   */
bool fsm__node_candidate(const struct fsm *f, int i);   /* may receive a new one */
/* A candidate node for a new copy of vm (its primary when primary), or -1. */
int fsm__place(const struct fsm *f, const struct fsm_vm *vm, int exclude1, int exclude2,
	       bool primary);

/* fsm_fit.c: the VM's needs against the node ([node] memory, cpus; [vm] nodes, avoid). */
/* Whether node i has room for a new copy of vm; why not in why (when why). */
bool fsm__fits(const struct fsm *f, const struct fsm_vm *vm, int i, bool primary, char *why,
	       size_t len);
/* fsm__node_candidate and fsm__fits. */
bool fsm__can_take(const struct fsm *f, const struct fsm_vm *vm, int i, bool primary);
/* "a: 8 of 40 MiB free, needs 32; b: down; ..." for every declared node. */
void fsm__explain(const struct fsm *f, const struct fsm_vm *vm, bool primary, char *out,
		  size_t len);
/* The configured nodes and avoid keys as slot masks (after every VM has a slot). */
void fsm__config_placement(struct fsm *f, const struct config *c);
void fsm__drop_copy(struct step *st, int v, int node);  /* STOP it if a member, forget it */
void fsm__reconcile(struct step *st);

/* fsm_events.c */
void fsm__on_config(struct step *st, const struct fsm_event *ev);
void fsm__on_membership(struct step *st, const struct fsm_event *ev);
void fsm__on_quorum(struct step *st, const struct fsm_event *ev);
void fsm__on_report(struct step *st, const struct fsm_event *ev);
void fsm__on_inventory(struct step *st, const struct fsm_event *ev);
void fsm__on_fence(struct step *st, const struct fsm_event *ev);
void fsm__on_leaving(struct step *st, const struct fsm_event *ev);
void fsm__on_expired(struct step *st, const struct fsm_event *ev);
void fsm__record_losses(struct step *st);
void fsm__node_fenced(struct step *st, int n);

/* fsm_operator.c */
void fsm__on_operator(struct step *st, const struct fsm_event *ev);
void fsm__start_migration(struct step *st, int v, int target);
void fsm__start_handover(struct step *st, int v);

#endif
