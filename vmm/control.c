/*
 * The control server (see control.h and docs/control.md): run the command a
 * Request names, answer with a Response that carries the VM's status.  The
 * transport, the framing and the checks of bad frames are pbipc_server.c's;
 * a bad frame arrives here as a reason, and gets an answer like any refusal.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <qb/qbipcs.h>
#include <qb/qblog.h>
#include <qb/qbloop.h>

#include "ipc/pbipc_server.h"
#include "vmm/control.h"
#include "vmm/control.pb-c.h"
#include "vmm/ctl.h"

struct control {
	const struct control_ops *ops;
	void *opaque;
	struct pbipc_server *srv;
	char *name;
	uint64_t start_ns;
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* --- requests ------------------------------------------------------------ */

struct reply {
	Vmm__Control__Response resp;
	Vmm__Control__Status status;
	struct control_status st;
	char error[256];
	Vmm__Control__MigrationInfo mig;
	Vmm__Control__DirtyRate dr;
	char mig_error[256];
	Vmm__Control__ProtectStatus ps;
	Vmm__Control__NetStatus ns;
	char ck_error[CONTROL_CK_ERROR_LEN];
	char ck_digest[CONTROL_CK_DIGEST_LEN];
	char mac[CONTROL_MAC_LEN];
};

static void __attribute__((format(printf, 3, 4)))
fail(struct reply *r, int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(r->error, sizeof(r->error), fmt, ap);
	va_end(ap);
	r->resp.ok = false;
	r->resp.code = code;
	r->resp.error = r->error;
}

static void run_save(struct control *ctl, const Vmm__Control__SaveRequest *save,
		     struct reply *r)
{
	char err[256] = "";
	uint64_t bytes = 0;
	int rc;

	if (!ctl->ops->save) {
		fail(r, EOPNOTSUPP, "save is not supported by this server");
		return;
	}
	if (!save->path || !save->path[0]) {
		fail(r, EINVAL, "save: no file path given");
		return;
	}
	rc = ctl->ops->save(ctl->opaque, save->path, (int)save->after, &bytes, err, sizeof(err));
	if (rc < 0)
		fail(r, -rc, "save to %s failed: %s", save->path, err[0] ? err : strerror(-rc));
	else
		r->resp.saved_bytes = bytes;
}

static void run_migration(struct control *ctl, const Vmm__Control__Request *req,
			  struct reply *r)
{
	char err[256] = "";
	int rc;

	if (!ctl->ops->migration) {
		fail(r, EOPNOTSUPP, "migration is not supported by this server");
		return;
	}
	vmm__control__migration_info__init(&r->mig);
	vmm__control__dirty_rate__init(&r->dr);
	r->mig_error[0] = '\0';
	r->mig.error = r->mig_error;
	rc = ctl->ops->migration(ctl->opaque, req, &r->mig, &r->dr, err, sizeof(err));
	if (rc < 0)
		fail(r, -rc, "%s: %s", ctl__command_name(req->command_case),
		     err[0] ? err : strerror(-rc));
	if (req->command_case == VMM__CONTROL__REQUEST__COMMAND_DIRTY_RATE)
		r->resp.dirty_rate = &r->dr;
	else
		r->resp.migration = &r->mig;
}

static void run_checkpoint(struct control *ctl, const Vmm__Control__Request *req,
			   struct reply *r)
{
	char err[256] = "";
	int rc;

	if (!ctl->ops->checkpoint) {
		fail(r, EOPNOTSUPP, "checkpointing is not supported by this server");
		return;
	}
	vmm__control__protect_status__init(&r->ps);
	vmm__control__net_status__init(&r->ns);
	r->ck_error[0] = r->ck_digest[0] = r->mac[0] = '\0';
	r->ps.error = r->ck_error;
	r->ps.disk_digest = r->ck_digest;
	r->ns.mac = r->mac;
	rc = ctl->ops->checkpoint(ctl->opaque, req, &r->ps, &r->ns, err, sizeof(err));
	if (rc < 0)
		fail(r, -rc, "%s: %s", ctl__command_name(req->command_case),
		     err[0] ? err : strerror(-rc));
	else if (req->command_case == VMM__CONTROL__REQUEST__COMMAND_NET_STATUS)
		r->resp.net_status = &r->ns;
	else
		r->resp.protect_status = &r->ps;
}

#define SHUTDOWN_DEFAULT_TIMEOUT_S 60

static void run_shutdown(struct control *ctl, const Vmm__Control__ShutdownRequest *sd,
			 struct reply *r)
{
	char err[256] = "";
	int rc;

	if (!ctl->ops->shutdown) {
		fail(r, EOPNOTSUPP, "this vmm cannot shut its guest down");
		return;
	}
	rc = ctl->ops->shutdown(ctl->opaque, sd->timeout_s ? sd->timeout_s : SHUTDOWN_DEFAULT_TIMEOUT_S,
				err, sizeof(err));
	if (rc < 0)
		fail(r, -rc, "shutdown: %s", err[0] ? err : strerror(-rc));
}

static void run_command(struct control *ctl, const Vmm__Control__Request *req,
			struct reply *r)
{
	int rc;

	switch (req->command_case) {
	case VMM__CONTROL__REQUEST__COMMAND_STATUS:
		break;
	case VMM__CONTROL__REQUEST__COMMAND_PAUSE:
		rc = ctl->ops->pause(ctl->opaque);
		if (rc < 0)
			fail(r, -rc, "pause failed: %s", strerror(-rc));
		break;
	case VMM__CONTROL__REQUEST__COMMAND_RESUME:
		rc = ctl->ops->resume(ctl->opaque);
		if (rc < 0)
			fail(r, -rc, "resume failed: %s", strerror(-rc));
		break;
	case VMM__CONTROL__REQUEST__COMMAND_QUIT:
		ctl->ops->quit(ctl->opaque);
		break;
	case VMM__CONTROL__REQUEST__COMMAND_SAVE:
		run_save(ctl, req->save, r);
		break;
	case VMM__CONTROL__REQUEST__COMMAND_MIGRATE:
	case VMM__CONTROL__REQUEST__COMMAND_MIGRATE_STATUS:
	case VMM__CONTROL__REQUEST__COMMAND_MIGRATE_CANCEL:
	case VMM__CONTROL__REQUEST__COMMAND_MIGRATE_SET_DOWNTIME:
	case VMM__CONTROL__REQUEST__COMMAND_MIGRATE_POSTCOPY:
	case VMM__CONTROL__REQUEST__COMMAND_MIGRATE_RESUME:
	case VMM__CONTROL__REQUEST__COMMAND_DIRTY_RATE:
		run_migration(ctl, req, r);
		break;
	case VMM__CONTROL__REQUEST__COMMAND_PROTECT:
	case VMM__CONTROL__REQUEST__COMMAND_UNPROTECT:
	case VMM__CONTROL__REQUEST__COMMAND_PROTECT_STATUS:
	case VMM__CONTROL__REQUEST__COMMAND_ACTIVATE:
	case VMM__CONTROL__REQUEST__COMMAND_NET_STATUS:
		run_checkpoint(ctl, req, r);
		break;
	case VMM__CONTROL__REQUEST__COMMAND_SHUTDOWN:
		run_shutdown(ctl, req->shutdown, r);
		break;
	default:
		/* A newer client's command arrives as an unknown field. */
		if (req->base.n_unknown_fields)
			fail(r, EOPNOTSUPP, "unknown command (field %u): this vmm does not know it",
			     req->base.unknown_fields[0].tag);
		else
			fail(r, EINVAL, "empty request: no command set");
		break;
	}
}

static void fill_status(struct control *ctl, struct reply *r)
{
	memset(&r->st, 0, sizeof(r->st));
	r->st.state = "unknown";
	r->st.uptime_ms = (now_ns() - ctl->start_ns) / 1000000;
	ctl->ops->status(ctl->opaque, &r->st);
	if (!r->st.state)
		r->st.state = "unknown";
	r->st.stop_message[sizeof(r->st.stop_message) - 1] = '\0';
	r->st.held_by[sizeof(r->st.held_by) - 1] = '\0';

	r->status.state = (char *)r->st.state;
	r->status.vcpus = r->st.nr_vcpus;
	r->status.memory_bytes = r->st.mem_bytes;
	r->status.resets = r->st.nr_resets;
	r->status.uptime_ms = r->st.uptime_ms;
	r->status.pid = getpid();
	r->status.stop_message = r->st.stop_message;
	r->status.held_by = r->st.held_by;
	r->resp.status = &r->status;
}

static void on_request(void *opaque, qb_ipcs_connection_t *c, const ProtobufCMessage *msg,
		       int code, const char *why)
{
	struct control *ctl = opaque;
	const Vmm__Control__Request *req = (const Vmm__Control__Request *)msg;
	struct reply *r;

	r = calloc(1, sizeof(*r));
	if (!r)
		return;  /* the client times out; nothing better to do */
	vmm__control__response__init(&r->resp);
	vmm__control__status__init(&r->status);
	r->resp.ok = true;

	if (!req) {
		fail(r, code, "%s", why);
	} else {
		qb_log(LOG_INFO, "control %s: %s from pid %d", ctl->name,
		       ctl__command_name(req->command_case), pbipc_server__client_pid(c));
		run_command(ctl, req, r);
		if (!r->resp.ok)
			qb_log(LOG_WARNING, "control %s: %s", ctl->name, r->error);
	}
	fill_status(ctl, r);
	pbipc_server__send(ctl->srv, c, &r->resp.base);
	free(r);
}

int control__start_ops(struct control **out, const struct control_ops *ops,
		       void *opaque, qb_loop_t *loop, const char *name)
{
	static const struct pbipc_server_ops server_ops = {
		.request = on_request,
	};
	struct pbipc_server_conf conf = {
		.name = name,
		.what = "control",
		.request = &vmm__control__request__descriptor,
		.max_msg = CONTROL_MAX_MSG,
	};
	struct control *ctl;
	int rc;

	*out = NULL;
	if (!ops || !ops->pause || !ops->resume || !ops->quit || !ops->status ||
	    !loop || !name || !name[0])
		return -EINVAL;

	ctl = calloc(1, sizeof(*ctl));
	if (!ctl)
		return -ENOMEM;
	ctl->ops = ops;
	ctl->opaque = opaque;
	ctl->start_ns = now_ns();
	ctl->name = strdup(name);
	if (!ctl->name) {
		rc = -ENOMEM;
		goto err_free;
	}
	rc = pbipc_server__start(&ctl->srv, &conf, &server_ops, ctl, loop);
	if (rc < 0)
		goto err_name;
	*out = ctl;
	return 0;

err_name:
	free(ctl->name);
err_free:
	free(ctl);
	return rc;
}

void control__stop(struct control *ctl)
{
	if (!ctl)
		return;
	pbipc_server__stop(ctl->srv);
	free(ctl->name);
	free(ctl);
}
