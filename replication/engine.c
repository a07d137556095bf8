/* See engine.h. */
#include "config.h"

#include <errno.h>
#include <stdio.h>

#include "replication/checkpoint.h"
#include "replication/engine.h"
#include "replication/migrate_cli.h"
#include "vmm/control.h"

/* A standby, or a primary paused by its standby-loss policy, must not run. */
static int may_resume(void *opaque, char *why, size_t len)
{
	struct engine *e = opaque;

	return e->ckpt ? checkpoint__may_resume(e->ckpt, why, len) : 0;
}

static int settle(void *opaque, char *why, size_t len)
{
	struct engine *e = opaque;

	return e->ckpt ? checkpoint__settle(e->ckpt, why, len) : 0;
}

static int migration(void *opaque, const Vmm__Control__Request *req,
		     Vmm__Control__MigrationInfo *info, Vmm__Control__DirtyRate *dr,
		     char *err, size_t errlen)
{
	struct engine *e = opaque;

	/*
	 * A standby's RAM is written by every checkpoint, which no dirty log
	 * sees, and its vCPU state waits for activation: nothing to migrate.
	 */
	if (e->ckpt && checkpoint__is_standby(e->ckpt) &&
	    req->command_case == VMM__CONTROL__REQUEST__COMMAND_MIGRATE) {
		snprintf(err, errlen, "this vmm is a standby: migrate its primary, or activate "
			 "it first");
		return -EINVAL;
	}

	/* A migration's hello carries this VM's fencing token. */
	if (e->ckpt)
		e->mig->generation = checkpoint__generation(e->ckpt);
	return migrate__control(e->mig, req, info, dr, err, errlen);
}

static int checkpoint(void *opaque, const Vmm__Control__Request *req,
		      Vmm__Control__ProtectStatus *ps, char *err, size_t errlen)
{
	struct engine *e = opaque;

	if (!e->ckpt) {
		snprintf(err, errlen, "this vmm has no checkpointing engine");
		return -EOPNOTSUPP;
	}
	return checkpoint__control(e->ckpt, req, ps, err, errlen);
}

static const struct control_engine_ops ops = {
	.may_resume = may_resume,
	.settle = settle,
	.migration = migration,
	.checkpoint = checkpoint,
};

const struct control_engine_ops *engine__control_ops(void)
{
	return &ops;
}
