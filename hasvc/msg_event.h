/*
 * Cluster messages (hasvc/cluster.proto) as state machine events: pure, so
 * the fuzzer can drive it with arbitrary bytes.  The bytes come from other
 * members through corosync; a message that is not well formed is ignored
 * by every member alike.
 */
#ifndef HASVC_MSG_EVENT_H
#define HASVC_MSG_EVENT_H

#include <stddef.h>

#include "hasvc/cluster.pb-c.h"
#include "hasvc/fsm.h"

/*
 * Report, InventoryDone, Operator, FenceResult -> ev (whose strings point
 * into m).  0, or -EINVAL with the reason in why (a field out of range, a
 * name missing or too long, a body that is not one of those four).
 */
int msg_event__convert(const Hasvc__Cluster__Msg *m, struct fsm_event *ev, char *why,
		       size_t len);

#endif
