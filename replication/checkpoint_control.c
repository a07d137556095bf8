/*
 * The control server's checkpointing commands (checkpoint.h): typed
 * requests, checked by checkpoint_request.c, answered with the status as a
 * message.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "replication/checkpoint.h"
#include "vmm/control.h"
#include "vmm/vm.h"

static int protect(struct checkpoint *ck, const Vmm__Control__ProtectRequest *r, char *err,
		   size_t errlen)
{
	struct checkpoint_params p;
	int ret = checkpoint_request__protect(r, &p, err, errlen);

	return ret ? ret : checkpoint__protect(ck, &p, err, errlen);
}

static int activate(struct checkpoint *ck, const Vmm__Control__ActivateRequest *r, char *err,
		    size_t errlen)
{
	bool set_gen;
	uint64_t gen;
	int ret = checkpoint_request__activate(r, &set_gen, &gen, err, errlen);

	return ret ? ret : checkpoint__activate(ck, set_gen, gen, err, errlen);
}

/* The network device's counters: not checkpointing, but served the same way. */
static int net_status(struct checkpoint *ck, Vmm__Control__NetStatus *ns, char *err,
		      size_t errlen)
{
	struct net_counters c;
	const uint8_t *m;

	if (!ck->vm->net) {
		snprintf(err, errlen, "this VM has no network device (vmm run --net)");
		return -ENODEV;
	}
	virtio_net__counters(ck->vm->net, &c);
	m = virtio_net__mac(ck->vm->net);
	snprintf(ns->mac, CONTROL_MAC_LEN, "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2],
		 m[3], m[4], m[5]);
	ns->rx_frames = c.rx_frames;
	ns->rx_bytes = c.rx_bytes;
	ns->tx_frames = c.tx_frames;
	ns->tx_bytes = c.tx_bytes;
	ns->rx_dropped = c.rx_dropped;
	ns->tx_dropped = c.tx_dropped;
	ns->held_frames = c.held_frames;
	ns->released_frames = c.released_frames;
	ns->hold_dropped = c.hold_dropped;
	ns->announces = c.announces;
	return 0;
}

int checkpoint__control(struct checkpoint *ck, const Vmm__Control__Request *req,
			Vmm__Control__ProtectStatus *ps, Vmm__Control__NetStatus *ns,
			char *err, size_t errlen)
{
	int ret;

	switch (req->command_case) {
	case VMM__CONTROL__REQUEST__COMMAND_PROTECT:
		ret = protect(ck, req->protect, err, errlen);
		break;
	case VMM__CONTROL__REQUEST__COMMAND_ACTIVATE:
		ret = activate(ck, req->activate, err, errlen);
		break;
	case VMM__CONTROL__REQUEST__COMMAND_UNPROTECT:
		ret = checkpoint__unprotect(ck, err, errlen);
		break;
	case VMM__CONTROL__REQUEST__COMMAND_PROTECT_STATUS:
		ret = 0;
		break;
	case VMM__CONTROL__REQUEST__COMMAND_NET_STATUS:
		return net_status(ck, ns, err, errlen);
	default:
		snprintf(err, errlen, "not a checkpointing command");
		return -EINVAL;
	}
	if (!ret)
		checkpoint__fill_status(ck, ps);
	return ret;
}
