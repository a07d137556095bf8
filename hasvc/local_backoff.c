/*
 * The restart back-off of this node: a VM whose fresh boots keep failing
 * soon after they start is started again later and later.  Kept here, per
 * node, not in the replicated state machine: the replicas and the cluster
 * protocol stay as they are, and the state machine still sees every copy
 * start and end as it always did, only later.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "hasvc/local.h"

#define QUICK_MS 60000ULL       /* a copy that ends sooner failed quickly */
#define MAX_DELAY_MS 60000ULL

static struct backoff *lookup(struct local *l, const char *vm, bool add)
{
	struct backoff *free_one = NULL, *oldest = NULL;

	for (size_t i = 0; i < HASVC_MAX_VMS; i++) {
		struct backoff *b = &l->bo[i];

		if (b->fails && !strcmp(b->vm, vm))
			return b;
		if (!b->fails && !free_one)
			free_one = b;
		if (!oldest || b->last_ms < oldest->last_ms)
			oldest = b;
	}
	if (!add)
		return NULL;
	/* Full only with VMs removed while failing: forget the stalest. */
	if (!free_one)
		free_one = oldest;
	memset(free_one, 0, sizeof(*free_one));
	snprintf(free_one->vm, sizeof(free_one->vm), "%s", vm);
	return free_one;
}

uint64_t local_backoff__due_ms(struct local *l, const char *vm, unsigned *fails)
{
	const struct backoff *b = lookup(l, vm, false);
	unsigned shift;

	*fails = b ? b->fails : 0;
	if (!b)
		return 0;
	shift = b->fails - 1 < 6 ? b->fails - 1 : 6;
	return b->last_ms + (1000ULL << shift < MAX_DELAY_MS ? 1000ULL << shift : MAX_DELAY_MS);
}

void local_backoff__ended(struct local *l, const struct copy *c, uint64_t now)
{
	struct backoff *b;
	bool quick = now - c->started_ms < QUICK_MS;

	if (!c->fresh || (c->stopping && quick))
		return;
	if (!quick) {
		/* It ran long enough: whatever ended it, the count starts over. */
		if ((b = lookup(l, c->vm, false)))
			b->fails = 0;
		return;
	}
	b = lookup(l, c->vm, true);
	b->fails++;
	b->last_ms = now;
}
