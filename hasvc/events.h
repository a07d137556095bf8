/*
 * Cluster events (docs/operations.md, "Monitoring"): what one step of the
 * state machine changed, named for operators ("node_lost",
 * "vm_promoted"), and the last EVENTS_RING of them.
 *
 * Pure: events__diff reads the replica before and after a step and the
 * step's actions.  Every member applies the same steps in the same order,
 * so every member derives the same events with the same numbers; a node
 * that joins takes the ring with the state (sync.c), and `hactl events`
 * shows the same history on every node.  Only the time differs: each node
 * stamps an event when it applied the step.
 */
#ifndef HASVC_EVENTS_H
#define HASVC_EVENTS_H

#include <stddef.h>
#include <stdint.h>

#include "hasvc/fsm.h"

#define EVENTS_RING 128      /* events every node keeps               */
#define EVENTS_PER_STEP 64   /* at most this many from one step       */

enum event_kind {
	EVENT_NODE_JOINED,
	EVENT_NODE_LOST,
	EVENT_QUORUM_LOST,
	EVENT_QUORUM_REGAINED,
	EVENT_FENCE_STARTED,
	EVENT_FENCE_SUCCEEDED,
	EVENT_FENCE_FAILED,
	EVENT_VM_PROMOTED,
	EVENT_VM_PROTECTED,
	EVENT_VM_DEGRADED,
	EVENT_MIGRATION_STARTED,
	EVENT_MIGRATION_FINISHED,
	EVENT_MIGRATION_FAILED,
	EVENT_CONFIG_RELOADED,
	EVENT_NODE_RESTARTING,  /* its hasvcd stopped cleanly: VMs frozen */
	EVENT_KINDS
};

struct cluster_event {
	uint64_t seq;              /* 1, 2, ...: the same on every node   */
	uint8_t kind;              /* enum event_kind                     */
	char node[HASVC_NAME_MAX]; /* the node it is about, or ""         */
	char vm[HASVC_NAME_MAX];   /* the VM it is about, or ""           */
	int64_t time_ms;           /* when this node applied it (epoch ms) */
};

struct events {
	struct cluster_event ring[EVENTS_RING];
	size_t n;                  /* held, at most EVENTS_RING           */
	uint64_t next_seq;         /* the number the next event gets      */
};

/* "node_lost", ...; NULL for a kind this build does not know. */
const char *events__name(unsigned kind);
/* The kind of a name, or -1. */
int events__kind(const char *name);

/*
 * The events of one step, from the replica before and after it and the
 * actions it produced, into out (at most max, seq and time unset).
 * Returns how many.
 */
size_t events__diff(const struct fsm *before, const struct fsm *after,
		    const struct fsm_actions *acts, struct cluster_event *out, size_t max);

void events__init(struct events *e);
/* Number ev (seq) and keep it, dropping the oldest when the ring is full. */
void events__push(struct events *e, struct cluster_event *ev);
/* The i-th oldest event held (i < e->n). */
const struct cluster_event *events__at(const struct events *e, size_t i);

#endif
