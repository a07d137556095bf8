/* The record of who holds the guest paused (vm_hold.h). */
#include <errno.h>
#include <stdio.h>
#include <qb/qblog.h>

#include "vmm/vm_hold.h"

static const char *const holder_names[] = {
	"operator", "epoch", "migration", "sync", "throttle", "policy", "standby",
	"save", "reset",
};

void vm_hold__init(struct vm_hold *h, const struct vm_hold_ops *ops, void *opaque)
{
	h->held = 0;
	h->ops = ops;
	h->opaque = opaque;
}

int vm_hold__take(struct vm_hold *h, unsigned holders)
{
	char names[128];
	int ret;

	if (!holders || (holders & ~VM_HOLD_ALL))
		return -EINVAL;
	/* Only the first holder stops the vCPUs: the others find them stopped. */
	if (!h->held && (ret = h->ops->stop(h->opaque))) {
		vm_hold__format(holders, names, sizeof(names));
		qb_log(LOG_DEBUG, "hold by %s: the vCPUs cannot be stopped (%d)", names, ret);
		return ret;
	}
	h->held |= holders;
	return 0;
}

int vm_hold__drop(struct vm_hold *h, unsigned holders)
{
	unsigned stray = holders & ~h->held;
	char names[128];

	if (stray) {
		vm_hold__format(stray, names, sizeof(names));
		qb_log(LOG_DEBUG, "release by %s, which does not hold the guest: nothing to do",
		       names);
	}
	if (!(holders & h->held))
		return 0;
	h->held &= ~holders;
	return h->held ? 0 : h->ops->start(h->opaque);
}

unsigned vm_hold__held(const struct vm_hold *h)
{
	return h->held;
}

void vm_hold__format(unsigned holders, char *buf, size_t len)
{
	size_t off = 0;

	if (len)
		buf[0] = '\0';
	if (!holders) {
		snprintf(buf, len, "none");
		return;
	}
	for (unsigned i = 0; i < sizeof(holder_names) / sizeof(holder_names[0]); i++) {
		int n;

		if (!(holders & (1u << i)) || off >= len)
			continue;
		n = snprintf(buf + off, len - off, "%s%s", off ? "," : "", holder_names[i]);
		off += n > 0 ? (size_t)n : 0;
	}
}
