/*
 * A bounded FIFO of packed cluster messages (hasvc/cluster.proto): the
 * messages corosync could not take yet (cluster.c) and those held back
 * during a state exchange (sync.c).  Both queues are fed by the network, so
 * both have a limit on the number of messages and on their bytes; a push
 * beyond it fails with -ENOBUFS and the caller decides what that means.
 * Pure (no corosync, no loop): unit-tested by tests/unit/test_hasvc_msgq.c.
 */
#ifndef HASVC_MSGQ_H
#define HASVC_MSGQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <qb/qblist.h>

#include "hasvc/cluster.pb-c.h"

struct msgq_item {
	struct qb_list_head list;
	size_t len;
	uint8_t buf[];
};

struct msgq {
	struct qb_list_head items;   /* struct msgq_item, oldest first */
	size_t n, bytes;
	size_t max_n, max_bytes;
};

void msgq__init(struct msgq *q, size_t max_n, size_t max_bytes);
/*
 * Append m, packed.  0; -ENOBUFS when it would pass either limit (nothing
 * is added); -ENOMEM.
 */
int msgq__push(struct msgq *q, const Hasvc__Cluster__Msg *m);
/* The oldest message, or NULL when empty. */
const struct msgq_item *msgq__first(const struct msgq *q);
void msgq__drop_first(struct msgq *q);
/* Drop every message for which drop(item, arg) is true; how many went. */
size_t msgq__drop_if(struct msgq *q, bool (*drop)(const struct msgq_item *, void *), void *arg);
void msgq__clear(struct msgq *q);

#endif
