/*
 * hasvcd's hactl server (ipc.h, docs/hactl.md).
 *
 * Requests are answered asynchronously: the daemon sends an operator command
 * through the cluster and answers when its own copy came back.  So each
 * request becomes a struct hasvc_ipc_req that holds a reference on its
 * connection (the reply may come after the client left) and a timer (the
 * reply may never come).  A req ends exactly once: by the daemon's reply, or
 * by the server (timeout, stop) with ops->cancel, never both.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <qb/qbdefs.h>
#include <qb/qbipcs.h>
#include <qb/qblog.h>
#include <qb/qbloop.h>

#include "hasvc/ipc.h"
#include "hasvc/limits.h"
#include "ipc/pbipc_server.h"

struct hasvc_ipc_req {
	struct hasvc_ipc_req *next;
	struct hasvc_ipc *ipc;
	qb_ipcs_connection_t *conn;  /* referenced until the req ends        */
	bool gone;                   /* the client closed: send nothing      */
	bool timer_set;
	qb_loop_timer_handle timer;
	int pid;                     /* the client, for log lines            */
	char what[2 * HASVC_NAME_MAX + 24]; /* "migrate web1 to b"           */
};

struct hasvc_ipc {
	const struct hasvc_ipc_ops *ops;
	void *opaque;
	qb_loop_t *loop;
	struct pbipc_server *srv;
	char *name;
	unsigned timeout_ms;
	struct hasvc_ipc_req *pending;
};

static void send_failure(struct hasvc_ipc *ipc, qb_ipcs_connection_t *c, int code,
			 const char *error)
{
	Hasvc__Ctl__Response resp = HASVC__CTL__RESPONSE__INIT;

	resp.ok = false;
	resp.code = code;
	resp.error = (char *)error;
	pbipc_server__send(ipc->srv, c, &resp.base);
}

static const char *op_name(Hasvc__Ctl__OpRequest__Op op)
{
	switch (op) {
	case HASVC__CTL__OP_REQUEST__OP__MIGRATE: return "migrate";
	case HASVC__CTL__OP_REQUEST__OP__EVACUATE: return "evacuate";
	case HASVC__CTL__OP_REQUEST__OP__FAILOVER: return "failover";
	case HASVC__CTL__OP_REQUEST__OP__PROTECT: return "protect";
	case HASVC__CTL__OP_REQUEST__OP__UNPROTECT: return "unprotect";
	case HASVC__CTL__OP_REQUEST__OP__FENCE_ACK: return "fence-ack";
	case HASVC__CTL__OP_REQUEST__OP__MAINTENANCE_ON: return "maintenance on";
	case HASVC__CTL__OP_REQUEST__OP__MAINTENANCE_OFF: return "maintenance off";
	case HASVC__CTL__OP_REQUEST__OP__EVACUATE_CANCEL: return "evacuate --cancel";
	case HASVC__CTL__OP_REQUEST__OP__START: return "start";
	case HASVC__CTL__OP_REQUEST__OP__STOP: return "stop";
	case HASVC__CTL__OP_REQUEST__OP__DISABLE: return "disable";
	case HASVC__CTL__OP_REQUEST__OP__ENABLE: return "enable";
	case HASVC__CTL__OP_REQUEST__OP__CLEAR: return "clear";
	default: return NULL;
	}
}

/* Commands about a node, not a VM. */
static bool node_op(Hasvc__Ctl__OpRequest__Op op)
{
	return op == HASVC__CTL__OP_REQUEST__OP__EVACUATE ||
	       (op >= HASVC__CTL__OP_REQUEST__OP__FENCE_ACK &&
		op <= HASVC__CTL__OP_REQUEST__OP__EVACUATE_CANCEL);
}

/* 0, or EINVAL with why: `name` must be given (want) or absent (!want). */
static int check_name(const char *op, const char *field, const char *name, bool want,
		      char *why, size_t len)
{
	size_t n = name ? strlen(name) : 0;

	if (want && !n) {
		snprintf(why, len, "%s: no %s given", op, field);
		return EINVAL;
	}
	if (!want && n) {
		snprintf(why, len, "%s takes no %s (got '%s')", op, field, name);
		return EINVAL;
	}
	if (n >= HASVC_NAME_MAX) {
		snprintf(why, len, "%s: %s name of %zu bytes is longer than %d", op, field, n,
			 HASVC_NAME_MAX - 1);
		return EINVAL;
	}
	return 0;
}

/* Only stop and disable shut a guest down, within a day. */
static int check_timeout(const char *name, const Hasvc__Ctl__OpRequest *op, char *why,
			 size_t len)
{
	bool takes = op->op == HASVC__CTL__OP_REQUEST__OP__STOP ||
		     op->op == HASVC__CTL__OP_REQUEST__OP__DISABLE;

	if (op->timeout_s && !takes) {
		snprintf(why, len, "%s takes no shutdown timeout (got %u s)", name, op->timeout_s);
		return EINVAL;
	}
	if (op->timeout_s > HASVC_IPC_MAX_SHUTDOWN_S) {
		snprintf(why, len, "%s: a shutdown timeout of %u s is longer than %d s", name,
			 op->timeout_s, HASVC_IPC_MAX_SHUTDOWN_S);
		return EINVAL;
	}
	return 0;
}

static int check_op(const Hasvc__Ctl__OpRequest *op, char *why, size_t len)
{
	const char *name = op_name(op->op);
	bool node_only = node_op(op->op);
	bool vm = !node_only;
	bool node = op->op == HASVC__CTL__OP_REQUEST__OP__MIGRATE || node_only;
	int code;

	if (!name) {
		snprintf(why, len, "unknown operation %d: this hasvcd does not know it", op->op);
		return EOPNOTSUPP;
	}
	code = check_name(name, "VM", op->vm, vm, why, len);
	if (!code)
		code = check_name(name, "node", op->node, node, why, len);
	if (!code)
		code = check_timeout(name, op, why, len);
	return code;
}

/* 0, or the positive errno of the refusal with why. */
static int check_request(const Hasvc__Ctl__Request *msg, char *why, size_t len)
{
	switch (msg->command_case) {
	case HASVC__CTL__REQUEST__COMMAND_STATUS:
	case HASVC__CTL__REQUEST__COMMAND_RELOAD:
	case HASVC__CTL__REQUEST__COMMAND_EVENTS:
	case HASVC__CTL__REQUEST__COMMAND_CONFIG_SHOW:
		return 0;
	case HASVC__CTL__REQUEST__COMMAND_CONFIG_APPLY:
		/* The text itself is checked by the daemon, which names its lines. */
		return 0;
	case HASVC__CTL__REQUEST__COMMAND_OP:
		return check_op(msg->op, why, len);
	default:
		/* A newer client's command arrives as an unknown field. */
		if (msg->base.n_unknown_fields) {
			snprintf(why, len, "unknown command (field %u): this hasvcd does not know it",
				 msg->base.unknown_fields[0].tag);
			return EOPNOTSUPP;
		}
		snprintf(why, len, "empty request: no command set");
		return EINVAL;
	}
}

static void describe(const Hasvc__Ctl__Request *msg, char *buf, size_t len)
{
	const Hasvc__Ctl__OpRequest *op = msg->op;

	if (msg->command_case == HASVC__CTL__REQUEST__COMMAND_STATUS)
		snprintf(buf, len, "status");
	else if (msg->command_case == HASVC__CTL__REQUEST__COMMAND_RELOAD)
		snprintf(buf, len, "reload");
	else if (msg->command_case == HASVC__CTL__REQUEST__COMMAND_EVENTS)
		snprintf(buf, len, "events");
	else if (msg->command_case == HASVC__CTL__REQUEST__COMMAND_CONFIG_SHOW)
		snprintf(buf, len, "config show");
	else if (msg->command_case == HASVC__CTL__REQUEST__COMMAND_CONFIG_APPLY)
		snprintf(buf, len, "config apply");
	else if (op->op == HASVC__CTL__OP_REQUEST__OP__MIGRATE)
		snprintf(buf, len, "migrate %s to %s", op->vm, op->node);
	else if (node_op(op->op))
		snprintf(buf, len, "%s %s", op_name(op->op), op->node);
	else
		snprintf(buf, len, "%s %s", op_name(op->op), op->vm);
}

static bool busy(const struct hasvc_ipc *ipc, const qb_ipcs_connection_t *c)
{
	const struct hasvc_ipc_req *req;

	for (req = ipc->pending; req; req = req->next)
		if (req->conn == c && !req->gone)
			return true;
	return false;
}

/* The end of every req, whoever ends it. */
static void finish(struct hasvc_ipc_req *req)
{
	struct hasvc_ipc *ipc = req->ipc;
	struct hasvc_ipc_req **pp;

	for (pp = &ipc->pending; *pp; pp = &(*pp)->next) {
		if (*pp == req) {
			*pp = req->next;
			break;
		}
	}
	if (req->timer_set)
		qb_loop_timer_del(ipc->loop, req->timer);
	qb_ipcs_connection_unref(req->conn);
	free(req);
}

static void on_timeout(void *data)
{
	struct hasvc_ipc_req *req = data;
	struct hasvc_ipc *ipc = req->ipc;
	char error[96];

	req->timer_set = false;  /* a fired timer is gone from the loop */
	if (ipc->timeout_ms % 1000)
		snprintf(error, sizeof(error), "no answer from the cluster in %u ms",
			 ipc->timeout_ms);
	else
		snprintf(error, sizeof(error), "no answer from the cluster in %u s",
			 ipc->timeout_ms / 1000);
	qb_log(LOG_WARNING, "hactl %s: %s from pid %d: %s", ipc->name, req->what, req->pid,
	       error);
	/* The daemon forgets req before the client can hear of it. */
	ipc->ops->cancel(ipc->opaque, req);
	if (!req->gone)
		send_failure(ipc, req->conn, ETIMEDOUT, error);
	finish(req);
}

static struct hasvc_ipc_req *new_req(struct hasvc_ipc *ipc, qb_ipcs_connection_t *c,
				     const Hasvc__Ctl__Request *msg)
{
	struct hasvc_ipc_req *req;

	req = calloc(1, sizeof(*req));
	if (!req)
		return NULL;
	if (qb_loop_timer_add(ipc->loop, QB_LOOP_MED,
			      (uint64_t)ipc->timeout_ms * QB_TIME_NS_IN_MSEC, req, on_timeout,
			      &req->timer) < 0) {
		free(req);
		return NULL;
	}
	req->timer_set = true;
	req->ipc = ipc;
	req->conn = c;
	qb_ipcs_connection_ref(c);
	req->pid = pbipc_server__client_pid(c);
	describe(msg, req->what, sizeof(req->what));
	req->next = ipc->pending;
	ipc->pending = req;
	return req;
}

static void on_request(void *opaque, qb_ipcs_connection_t *c, const ProtobufCMessage *m,
		       int code, const char *why)
{
	const Hasvc__Ctl__Request *msg = (const Hasvc__Ctl__Request *)m;
	struct hasvc_ipc *ipc = opaque;
	struct hasvc_ipc_req *req;
	char reason[256];

	if (!msg) {
		send_failure(ipc, c, code, why);
		return;
	}
	code = check_request(msg, reason, sizeof(reason));
	if (code) {
		qb_log(LOG_WARNING, "hactl %s: refused a request from pid %d: %s", ipc->name,
		       pbipc_server__client_pid(c), reason);
		send_failure(ipc, c, code, reason);
		return;
	}
	/* libqb's client waits for each reply; only a raw client gets here. */
	if (busy(ipc, c)) {
		send_failure(ipc, c, EBUSY,
			     "a request is already waiting for its answer on this connection");
		return;
	}
	req = new_req(ipc, c, msg);
	if (!req) {
		send_failure(ipc, c, ENOMEM, "hasvcd is out of memory");
		return;
	}
	qb_log(LOG_INFO, "hactl %s: %s from pid %d", ipc->name, req->what, req->pid);
	ipc->ops->request(ipc->opaque, req, msg);
}

static void on_closed(void *opaque, qb_ipcs_connection_t *c)
{
	struct hasvc_ipc *ipc = opaque;
	struct hasvc_ipc_req *req;

	for (req = ipc->pending; req; req = req->next)
		if (req->conn == c)
			req->gone = true;
}

void hasvc_ipc__reply(struct hasvc_ipc_req *req, const Hasvc__Ctl__Response *resp)
{
	struct hasvc_ipc *ipc = req->ipc;

	if (!resp->ok)
		qb_log(LOG_WARNING, "hactl %s: %s from pid %d refused: %s", ipc->name, req->what,
		       req->pid, resp->error ? resp->error : "");
	if (req->gone)
		qb_log(LOG_INFO, "hactl %s: pid %d left before the answer to %s", ipc->name,
		       req->pid, req->what);
	else
		pbipc_server__send(ipc->srv, req->conn, &resp->base);
	finish(req);
}

void hasvc_ipc__fail(struct hasvc_ipc_req *req, int code, const char *fmt, ...)
{
	Hasvc__Ctl__Response resp = HASVC__CTL__RESPONSE__INIT;
	char error[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(error, sizeof(error), fmt, ap);
	va_end(ap);
	resp.ok = false;
	resp.code = code;
	resp.error = error;
	hasvc_ipc__reply(req, &resp);
}

void hasvc_ipc__set_timeout(struct hasvc_ipc *ipc, unsigned ms)
{
	ipc->timeout_ms = ms ? ms : 1;
}

int hasvc_ipc__start(struct hasvc_ipc **out, const struct hasvc_ipc_ops *ops, void *opaque,
		     qb_loop_t *loop, const char *name)
{
	static const struct pbipc_server_ops server_ops = {
		.request = on_request,
		.closed = on_closed,
	};
	struct pbipc_server_conf conf = {
		.name = name,
		.what = "hactl",
		.request = &hasvc__ctl__request__descriptor,
		.max_msg = HASVC_IPC_MAX_MSG,
	};
	struct hasvc_ipc *ipc;
	int rc;

	*out = NULL;
	if (!ops || !ops->request || !ops->cancel || !loop || !name || !name[0])
		return -EINVAL;
	ipc = calloc(1, sizeof(*ipc));
	if (!ipc)
		return -ENOMEM;
	ipc->ops = ops;
	ipc->opaque = opaque;
	ipc->loop = loop;
	ipc->timeout_ms = HASVC_IPC_TIMEOUT_MS;
	ipc->name = strdup(name);
	if (!ipc->name) {
		rc = -ENOMEM;
		goto err_free;
	}
	rc = pbipc_server__start(&ipc->srv, &conf, &server_ops, ipc, loop);
	if (rc < 0)
		goto err_name;
	*out = ipc;
	return 0;

err_name:
	free(ipc->name);
err_free:
	free(ipc);
	return rc;
}

void hasvc_ipc__stop(struct hasvc_ipc *ipc)
{
	struct hasvc_ipc_req *req;

	if (!ipc)
		return;
	for (req = ipc->pending; req; req = req->next)
		if (!req->gone)
			send_failure(ipc, req->conn, ESHUTDOWN,
				     "hasvcd is stopping: no answer from the cluster");
	/* Closing the service marks every req gone (on_closed). */
	pbipc_server__stop(ipc->srv);
	while ((req = ipc->pending)) {
		ipc->ops->cancel(ipc->opaque, req);
		finish(req);
	}
	free(ipc->name);
	free(ipc);
}
