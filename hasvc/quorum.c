/* The decision quorum of a group view (quorum.h). */
#include "config.h"

#include <errno.h>
#include <string.h>

#include "hasvc/quorum.h"

static size_t declared_in(const struct config *c, const char *const *members, size_t n)
{
	size_t in = 0;

	for (size_t i = 0; i < n; i++)
		in += cluster_config__node(c, members[i]) != NULL;
	return in;
}

/* Two disjoint views cannot both hold a strict majority. */
bool quorum__majority(const struct config *c, const char *const *members, size_t n)
{
	return c && declared_in(c, members, n) * 2 > c->n_nodes;
}

/*
 * Two disjoint halves can both hold half the nodes: only the device's
 * vote, which votequorum counts in one partition at most, tells them
 * apart.  A verdict delivered before the view began may be about an older
 * ring (quorum.h), so only those since count; all must be about the same
 * ring, so that a member whose votequorum has not caught up with the
 * membership yet holds the view back.
 */
static bool device_says_quorate(const struct config *c, const char *const *members, size_t n,
				const struct quorum_verdict *v)
{
	bool first = true;
	uint64_t ring = 0;

	for (size_t i = 0; i < n; i++) {
		if (!cluster_config__node(c, members[i]))
			continue;
		if (!v[i].said || !v[i].quorate || (!first && v[i].ring_seq != ring))
			return false;
		ring = v[i].ring_seq;
		first = false;
	}
	return !first;
}

bool quorum__view(const struct config *c, const char *const *members, size_t n,
		  const struct quorum_verdict *v)
{
	if (!c)
		return false;
	if (quorum__majority(c, members, n))
		return true;
	return c->quorum_device && declared_in(c, members, n) * 2 == c->n_nodes &&
	       device_says_quorate(c, members, n, v);
}

int quorum__record(const struct config *c, const char *const *members, size_t n,
		   struct quorum_verdict *v, const char *sender, bool quorate, uint64_t ring_seq)
{
	if (!c || !cluster_config__node(c, sender))
		return -ENOENT;
	for (size_t i = 0; i < n; i++) {
		if (strcmp(members[i], sender))
			continue;
		v[i].said = true;
		v[i].quorate = quorate;
		v[i].ring_seq = ring_seq;
		return 0;
	}
	return -ENOENT;
}
