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

int checkpoint__control(struct checkpoint *ck, const Vmm__Control__Request *req,
			Vmm__Control__ProtectStatus *ps, char *err, size_t errlen)
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
	default:
		snprintf(err, errlen, "not a checkpointing command");
		return -EINVAL;
	}
	if (!ret)
		checkpoint__fill_status(ck, ps);
	return ret;
}
