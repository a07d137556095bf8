/*
 * The cluster events in the daemon (docs/operations.md, "Monitoring"):
 * every step of the state machine is compared with the replica before it
 * (events.h); the events go into a ring that `hactl events` reads and that a
 * joining node takes with the state (sync.c), and each is handed once to
 * alert_command (alert.c).
 */
#ifndef HASVC_HISTORY_H
#define HASVC_HISTORY_H

#include "hasvc/daemon.h"
#include "hasvc/events.h"
#include "hasvc/hactl.pb-c.h"
#include "hasvc/ipc.h"

int history__new(struct hasvcd *d);
void history__free(struct hasvcd *d);

/* Around fsm__step (apply.c): keep the replica, then derive the events. */
void history__before_step(struct hasvcd *d);
void history__after_step(struct hasvcd *d);

/*
 * The ring into st (sync.c's State), pointing into storage that stays
 * valid until the next step; -ENOMEM.  Freed with history__encoded_free.
 */
int history__encode(struct hasvcd *d, Hasvc__Cluster__State *st);
void history__encoded_free(Hasvc__Cluster__State *st);
/* An adopted state's ring replaces ours; none of it is alerted here. */
void history__adopt(struct hasvcd *d, const Hasvc__Cluster__State *st);

/* hactl events: the events above after_seq. */
void history__reply(struct hasvcd *d, struct hasvc_ipc_req *req,
		    const Hasvc__Ctl__EventsRequest *er);

/* alert.c: run alert_command for ev (queued when many run). */
int alert__new(struct hasvcd *d);
void alert__free(struct hasvcd *d);
void alert__event(struct hasvcd *d, const struct cluster_event *ev);
/* A child exited (SIGCHLD); false if it was not an alert of ours. */
bool alert__child_exited(struct hasvcd *d, pid_t pid, int status);

#endif
