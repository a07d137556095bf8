/*
 * The decision quorum: may the members of a group view decide?
 *
 * A view that holds a strict majority of the declared nodes decides.  With
 * quorum_device = yes in [cluster], corosync's votequorum also counts a
 * quorum device's vote (corosync-qdevice and corosync-qnetd), which at most
 * one partition gets: a view that holds exactly half the declared nodes
 * then decides once every declared member of it has said, in the group's
 * order and since the view began, that its votequorum is quorate in the
 * same ring.  Every replica records the same verdicts at the same point of
 * the order, so every replica reaches the same answer (apply.c).
 *
 * Pure: no corosync, no daemon; tests/unit/test_hasvc_quorum.c.
 */
#ifndef HASVC_QUORUM_H
#define HASVC_QUORUM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hasvc/cluster_config.h"

/* What one member of the view said of its local votequorum. */
struct quorum_verdict {
	bool said;         /* delivered since the view began */
	bool quorate;
	uint64_t ring_seq; /* the corosync ring the verdict is about */
};

/* A strict majority of the declared nodes is in members[]. */
bool quorum__majority(const struct config *c, const char *const *members, size_t n);

/*
 * The view decides: a majority, or exactly half with quorum_device = yes
 * and a quorate verdict in v[i] (for members[i]) from every declared
 * member, all about one ring.
 */
bool quorum__view(const struct config *c, const char *const *members, size_t n,
		  const struct quorum_verdict *v);

/*
 * Record sender's verdict in v[] (indexed like members[]).  -ENOENT when
 * the sender is not a declared member of the view: its word counts for
 * nothing.
 */
int quorum__record(const struct config *c, const char *const *members, size_t n,
		   struct quorum_verdict *v, const char *sender, bool quorate, uint64_t ring_seq);

#endif
