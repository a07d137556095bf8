/*
 * The control client API (ctl.h): typed requests of vmm.control, one per
 * command, and the connection calls that send them (pbipc_client.c's typed
 * for vmm.control).  `vmm ctl` (ctl_cli.c, checkpoint_cli.c, migrate_cli.c)
 * and hasvcd (hasvc/local_vmm.c) both build their requests here.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ipc/pbipc_client.h"
#include "vmm/control.h"
#include "vmm/ctl.h"

struct ctl_conn {
	struct pbipc_client *cl;
	int timeout_ms;
};

int ctl__connect(struct ctl_conn **out, const char *name, int timeout_ms, char *err,
		 size_t errlen)
{
	struct ctl_conn *conn;
	int rc;

	*out = NULL;
	conn = calloc(1, sizeof(*conn));
	if (!conn) {
		snprintf(err, errlen, "cannot connect to vmm control '%s': %s",
			 name, strerror(ENOMEM));
		return -ENOMEM;
	}
	conn->timeout_ms = timeout_ms;
	rc = pbipc_client__connect(&conn->cl, name, "vmm control", CONTROL_MAX_MSG, timeout_ms,
				   err, errlen);
	if (rc < 0) {
		free(conn);
		return rc;
	}
	*out = conn;
	return 0;
}

void ctl__disconnect(struct ctl_conn *conn)
{
	if (!conn)
		return;
	pbipc_client__disconnect(conn->cl);
	free(conn);
}

int ctl__call(struct ctl_conn *conn, const Vmm__Control__Request *req,
	      Vmm__Control__Response **resp, char *err, size_t errlen)
{
	ProtobufCMessage *m;
	int rc;

	rc = pbipc_client__call(conn->cl, &req->base, &vmm__control__response__descriptor,
				conn->timeout_ms, &m, err, errlen);
	*resp = (Vmm__Control__Response *)m;
	return rc;
}

int ctl__call_raw(struct ctl_conn *conn, const void *msg, size_t len,
		  Vmm__Control__Response **resp, char *err, size_t errlen)
{
	ProtobufCMessage *m;
	int rc;

	rc = pbipc_client__call_raw(conn->cl, msg, len, &vmm__control__response__descriptor,
				    CTL_TIMEOUT_MS, &m, err, errlen);
	*resp = (Vmm__Control__Response *)m;
	return rc;
}

void ctl__set_timeout(struct ctl_conn *conn, int timeout_ms)
{
	conn->timeout_ms = timeout_ms;
}

int ctl__request(const char *name, const Vmm__Control__Request *req,
		 Vmm__Control__Response **resp, char *err, size_t errlen)
{
	return ctl__request_within(name, req, 0, resp, err, errlen);
}

int ctl__request_within(const char *name, const Vmm__Control__Request *req, int timeout_ms,
			Vmm__Control__Response **resp, char *err, size_t errlen)
{
	struct ctl_conn *conn;
	int rc;

	*resp = NULL;
	rc = ctl__connect(&conn, name, timeout_ms > 0 ? timeout_ms : CTL_TIMEOUT_MS, err, errlen);
	if (rc < 0)
		return rc;
	if (timeout_ms <= 0 && req->command_case == VMM__CONTROL__REQUEST__COMMAND_SAVE)
		ctl__set_timeout(conn, CTL_SAVE_TIMEOUT_MS);
	rc = ctl__call(conn, req, resp, err, errlen);
	ctl__disconnect(conn);
	return rc;
}

/* --- typed requests ------------------------------------------------------ */

#define CMD(c, n, d) { VMM__CONTROL__REQUEST__COMMAND_##c, n, &vmm__control__##d##__descriptor }

static const struct command {
	Vmm__Control__Request__CommandCase cmd;
	const char *name;                     /* as `vmm ctl NAME` spells it */
	const ProtobufCMessageDescriptor *body;
} commands[] = {
	CMD(STATUS, "status", status_request),
	CMD(PAUSE, "pause", pause_request),
	CMD(RESUME, "resume", resume_request),
	CMD(QUIT, "quit", quit_request),
	CMD(SHUTDOWN, "shutdown", shutdown_request),
	CMD(SAVE, "save", save_request),
	CMD(MIGRATE, "migrate", migrate_request),
	CMD(MIGRATE_STATUS, "migrate-status", migrate_status_request),
	CMD(MIGRATE_CANCEL, "migrate-cancel", migrate_cancel_request),
	CMD(MIGRATE_SET_DOWNTIME, "migrate-set-downtime", migrate_set_downtime_request),
	CMD(MIGRATE_POSTCOPY, "migrate-postcopy", migrate_postcopy_request),
	CMD(MIGRATE_RESUME, "migrate-resume", migrate_resume_request),
	CMD(DIRTY_RATE, "dirty-rate", dirty_rate_request),
	CMD(PROTECT, "protect", protect_request),
	CMD(UNPROTECT, "unprotect", unprotect_request),
	CMD(PROTECT_STATUS, "protect-status", protect_status_request),
	CMD(ACTIVATE, "activate", activate_request),
	CMD(NET_STATUS, "net-status", net_status_request),
};

#define NR_COMMANDS (sizeof(commands) / sizeof(commands[0]))

static const struct command *find(Vmm__Control__Request__CommandCase cmd)
{
	for (size_t i = 0; i < NR_COMMANDS; i++)
		if (commands[i].cmd == cmd)
			return &commands[i];
	return NULL;
}

const char *ctl__command_name(Vmm__Control__Request__CommandCase cmd)
{
	const struct command *c = find(cmd);

	return c ? c->name : "unknown";
}

Vmm__Control__Request__CommandCase ctl__command_by_name(const char *name)
{
	for (size_t i = 0; i < NR_COMMANDS; i++)
		if (!strcmp(commands[i].name, name))
			return commands[i].cmd;
	return VMM__CONTROL__REQUEST__COMMAND__NOT_SET;
}

int ctl__req_init(struct ctl_req *r, Vmm__Control__Request__CommandCase cmd)
{
	const struct command *c = find(cmd);

	vmm__control__request__init(&r->req);
	if (!c)
		return -EINVAL;
	protobuf_c_message_init(c->body, &r->u);
	r->req.command_case = cmd;
	/* The oneof's pointers share one slot: any member's name sets it. */
	r->req.status = &r->u.status;
	return 0;
}

int ctl__check_reply(Vmm__Control__Response **resp, char *err, size_t errlen)
{
	int rc;

	if ((*resp)->ok)
		return 0;
	snprintf(err, errlen, "%s", (*resp)->error[0] ? (*resp)->error : "refused without a reason");
	rc = (*resp)->code > 0 ? -(*resp)->code : -EINVAL;
	vmm__control__response__free_unpacked(*resp, NULL);
	*resp = NULL;
	return rc;
}

int ctl__run(struct ctl_conn *conn, const struct ctl_req *r, Vmm__Control__Response **resp,
	     char *err, size_t errlen)
{
	int rc = ctl__call(conn, &r->req, resp, err, errlen);

	return rc < 0 ? rc : ctl__check_reply(resp, err, errlen);
}
