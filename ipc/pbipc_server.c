/*
 * A protobuf-c service over libqb IPC on a caller's qb_loop (pbipc_server.h).
 *
 * Two parts: the glue that lets a libqb IPC service live on a given qb_loop
 * (libqb's poll handlers carry no context, see `current` below), and the
 * framing: check the header, decode the request, pack and send a reply.
 * Bad input always reaches the user's request() as a reason, never a crash.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/uio.h>

#include <qb/qbipcs.h>
#include <qb/qblog.h>
#include <qb/qbloop.h>

#include "ipc/pbipc_server.h"

#define PBIPC_NAME_MAX 100  /* an abstract sun_path has 107 usable bytes */

/* An fd libqb asked us to watch, registered in the loop with this as data. */
struct poll_entry {
	struct poll_entry *next;
	struct pbipc_server *srv;
	uint64_t serial;         /* tells a re-added fd from the one before */
	int32_t fd;
	qb_ipcs_dispatch_fn_t fn;
	void *data;
};

/* A one-shot job libqb queued; kept so pbipc_server__stop can cancel it. */
struct job_entry {
	struct job_entry *next;
	struct pbipc_server *srv;
	enum qb_loop_priority prio;
	qb_loop_job_dispatch_fn fn;
	void *data;
};

struct pbipc_server {
	const struct pbipc_server_ops *ops;
	void *opaque;
	qb_loop_t *loop;
	qb_ipcs_service_t *service;
	char *name;
	char *what;
	const ProtobufCMessageDescriptor *request;
	size_t max_msg;
	uint64_t next_serial;
	struct poll_entry *polls;
	struct job_entry *jobs;
};

/*
 * libqb calls the poll handlers below with no context pointer, so they cannot
 * tell which server, hence which loop, they serve.  `current` names it for
 * the duration of each call into libqb that may add or drop fds: qb_ipcs_run,
 * every dispatch, qb_ipcs_destroy.  Per thread and scoped to one call, it does
 * not stop two servers (two VMs, or two loops) from sharing a process.
 */
static __thread struct pbipc_server *current;

static struct pbipc_server *enter(struct pbipc_server *srv)
{
	struct pbipc_server *prev = current;

	current = srv;
	return prev;
}

static void leave(struct pbipc_server *prev)
{
	current = prev;
}

static struct poll_entry **find_poll(struct pbipc_server *srv, int32_t fd)
{
	struct poll_entry **pp;

	for (pp = &srv->polls; *pp; pp = &(*pp)->next)
		if ((*pp)->fd == fd)
			return pp;
	return NULL;
}

/* The loop forgot the registration on its own (dispatch returned < 0). */
static void drop_serial(struct pbipc_server *srv, uint64_t serial)
{
	struct poll_entry **pp, *e;

	for (pp = &srv->polls; *pp; pp = &(*pp)->next) {
		if ((*pp)->serial == serial) {
			e = *pp;
			*pp = e->next;
			free(e);
			return;
		}
	}
}

static int32_t poll_trampoline(int32_t fd, int32_t revents, void *arg)
{
	struct poll_entry *e = arg;
	struct pbipc_server *srv = e->srv, *prev;
	uint64_t serial = e->serial;
	int32_t rc;

	/* fn may drop (and free) e: read nothing from it afterwards. */
	prev = enter(srv);
	rc = e->fn(fd, revents, e->data);
	leave(prev);
	if (rc < 0)
		drop_serial(srv, serial);
	return rc;
}

static int32_t dispatch_add(enum qb_loop_priority p, int32_t fd, int32_t events,
			    void *data, qb_ipcs_dispatch_fn_t fn)
{
	struct pbipc_server *srv = current;
	struct poll_entry *e;
	int32_t rc;

	if (!srv) {
		qb_log(LOG_ERR, "pbipc: libqb added fd %d outside a server call", fd);
		return -EINVAL;
	}
	e = calloc(1, sizeof(*e));
	if (!e)
		return -ENOMEM;
	e->srv = srv;
	e->serial = ++srv->next_serial;
	e->fd = fd;
	e->fn = fn;
	e->data = data;
	rc = qb_loop_poll_add(srv->loop, p, fd, events, e, poll_trampoline);
	if (rc < 0) {
		free(e);
		return rc;
	}
	e->next = srv->polls;
	srv->polls = e;
	return 0;
}

static int32_t dispatch_mod(enum qb_loop_priority p, int32_t fd, int32_t events,
			    void *data, qb_ipcs_dispatch_fn_t fn)
{
	struct pbipc_server *srv = current;
	struct poll_entry **pp;

	if (!srv || !(pp = find_poll(srv, fd)))
		return -EBADF;
	(*pp)->fn = fn;
	(*pp)->data = data;
	return qb_loop_poll_mod(srv->loop, p, fd, events, *pp, poll_trampoline);
}

static int32_t dispatch_del(int32_t fd)
{
	struct pbipc_server *srv = current;
	struct poll_entry **pp, *e;
	int32_t rc;

	if (!srv || !(pp = find_poll(srv, fd)))
		return -EBADF;
	e = *pp;
	*pp = e->next;
	rc = qb_loop_poll_del(srv->loop, fd);
	free(e);
	return rc;
}

static void job_trampoline(void *arg)
{
	struct job_entry *j = arg, **pp;
	struct pbipc_server *srv = j->srv, *prev;
	qb_loop_job_dispatch_fn fn = j->fn;
	void *data = j->data;

	for (pp = &srv->jobs; *pp; pp = &(*pp)->next) {
		if (*pp == j) {
			*pp = j->next;
			break;
		}
	}
	free(j);
	prev = enter(srv);
	fn(data);
	leave(prev);
}

static int32_t job_add(enum qb_loop_priority p, void *data,
		       qb_loop_job_dispatch_fn fn)
{
	struct pbipc_server *srv = current;
	struct job_entry *j;
	int32_t rc;

	if (!srv)
		return -EINVAL;
	j = calloc(1, sizeof(*j));
	if (!j)
		return -ENOMEM;
	j->srv = srv;
	j->prio = p;
	j->fn = fn;
	j->data = data;
	rc = qb_loop_job_add(srv->loop, p, j, job_trampoline);
	if (rc < 0) {
		free(j);
		return rc;
	}
	j->next = srv->jobs;
	srv->jobs = j;
	return 0;
}

/* Forget whatever libqb left registered in the loop, so nothing calls us. */
static void release_loop(struct pbipc_server *srv)
{
	struct poll_entry *e;
	struct job_entry *j;

	while ((j = srv->jobs)) {
		srv->jobs = j->next;
		qb_loop_job_del(srv->loop, j->prio, j, job_trampoline);
		free(j);
	}
	while ((e = srv->polls)) {
		srv->polls = e->next;
		qb_loop_poll_del(srv->loop, e->fd);
		free(e);
	}
}

/* --- framing ------------------------------------------------------------- */

/*
 * Check one frame and decode its payload; on failure *msg stays NULL and
 * why says what was wrong.  Returns 0 or the positive errno for the refusal.
 */
static int decode(struct pbipc_server *srv, const void *data, size_t size, size_t bufsize,
		  ProtobufCMessage **msg, char *why, size_t whylen)
{
	const struct qb_ipc_request_header *hdr = data;

	*msg = NULL;
	if (size < sizeof(*hdr)) {
		snprintf(why, whylen, "truncated message: %zu bytes, shorter than the %zu-byte header",
			 size, sizeof(*hdr));
		return EBADMSG;
	}
	if (size > srv->max_msg || size > bufsize) {
		/* As the header says it: a negative size reads better than 2^64 - 5. */
		snprintf(why, whylen, "message of %d bytes is larger than the %zu-byte limit",
			 hdr->size, srv->max_msg);
		return EMSGSIZE;
	}
	if (hdr->id != PBIPC_MSG_REQUEST) {
		snprintf(why, whylen, "unknown message id %d (a request is id %d)",
			 hdr->id, PBIPC_MSG_REQUEST);
		return EBADMSG;
	}
	*msg = protobuf_c_message_unpack(srv->request, NULL, size - sizeof(*hdr),
					 (const uint8_t *)data + sizeof(*hdr));
	if (!*msg) {
		snprintf(why, whylen, "garbage request: %zu bytes do not decode as %s",
			 size - sizeof(*hdr), srv->request->name);
		return EBADMSG;
	}
	return 0;
}

static int32_t msg_process(qb_ipcs_connection_t *c, void *data, size_t size)
{
	struct pbipc_server *srv = qb_ipcs_connection_service_context_get(c);
	int32_t bufsize = qb_ipcs_connection_get_buffer_size(c);
	ProtobufCMessage *msg;
	char why[256];
	size_t used;
	int code;

	code = decode(srv, data, size, bufsize > 0 ? (size_t)bufsize : 0, &msg, why, sizeof(why));
	if (code)
		qb_log(LOG_WARNING, "%s %s: %s", srv->what, srv->name, why);
	srv->ops->request(srv->opaque, c, msg, code, code ? why : NULL);
	if (msg)
		protobuf_c_message_free_unpacked(msg, NULL);

	/*
	 * libqb hands us the size the header claims, not the size that arrived:
	 * a short datagram would be "completed" by an earlier request's bytes
	 * still in the connection's buffer.  Zeroing what we read makes that tail
	 * zeros, which never decode (field number 0 is invalid).
	 */
	used = size < sizeof(struct qb_ipc_request_header) ?
	       sizeof(struct qb_ipc_request_header) : size;
	if (bufsize > 0 && used > (size_t)bufsize)
		used = bufsize;
	if (bufsize > 0)
		memset(data, 0, used);
	return 0;
}

int pbipc_server__send(struct pbipc_server *srv, qb_ipcs_connection_t *c,
		       const ProtobufCMessage *msg)
{
	struct qb_ipc_response_header rh;
	struct pbipc_server *prev;
	struct iovec iov[2];
	uint8_t *payload;
	size_t len;
	ssize_t rc;

	len = protobuf_c_message_get_packed_size(msg);
	if (sizeof(rh) + len > srv->max_msg) {
		qb_log(LOG_ERR, "%s %s: a %zu-byte reply is over the %zu-byte limit",
		       srv->what, srv->name, sizeof(rh) + len, srv->max_msg);
		return -EMSGSIZE;
	}
	payload = malloc(len ? len : 1);
	if (!payload) {
		qb_log(LOG_ERR, "%s %s: no memory for a %zu-byte reply", srv->what, srv->name, len);
		return -ENOMEM;
	}
	protobuf_c_message_pack(msg, payload);
	memset(&rh, 0, sizeof(rh));
	rh.id = PBIPC_MSG_REQUEST;
	rh.size = sizeof(rh) + len;
	rh.error = 0;
	iov[0].iov_base = &rh;
	iov[0].iov_len = sizeof(rh);
	iov[1].iov_base = payload;
	iov[1].iov_len = len;
	/* A reply sent later, from a timer, may also make libqb touch its fds. */
	prev = enter(srv);
	rc = qb_ipcs_response_sendv(c, iov, 2);
	leave(prev);
	free(payload);
	if (rc < 0) {
		qb_log(LOG_WARNING, "%s %s: cannot send the reply: %s",
		       srv->what, srv->name, strerror((int)-rc));
		return (int)rc;
	}
	return 0;
}

int pbipc_server__client_pid(qb_ipcs_connection_t *c)
{
	struct qb_ipcs_connection_stats stats;

	memset(&stats, 0, sizeof(stats));
	qb_ipcs_connection_stats_get(c, &stats, 0);
	return stats.client_pid;
}

static int32_t connection_accept(qb_ipcs_connection_t *c, uid_t uid, gid_t gid)
{
	struct pbipc_server *srv = qb_ipcs_connection_service_context_get(c);

	if (uid == 0 || uid == geteuid())
		return 0;
	qb_log(LOG_WARNING, "%s %s: refused a client with uid %u", srv->what, srv->name,
	       (unsigned)uid);
	return -EACCES;
}

static int32_t connection_closed(qb_ipcs_connection_t *c)
{
	struct pbipc_server *srv = qb_ipcs_connection_service_context_get(c);

	if (srv->ops->closed)
		srv->ops->closed(srv->opaque, c);
	return 0;
}

static int check_conf(const struct pbipc_server_conf *conf, const struct pbipc_server_ops *ops)
{
	if (!conf || !ops || !ops->request || !conf->request || !conf->name || !conf->name[0] ||
	    conf->max_msg <= sizeof(struct qb_ipc_request_header) ||
	    conf->max_msg > PBIPC_RECV_BUFFER)
		return -EINVAL;
	if (strlen(conf->name) > PBIPC_NAME_MAX)
		return -ENAMETOOLONG;
	return 0;
}

int pbipc_server__start(struct pbipc_server **out, const struct pbipc_server_conf *conf,
			const struct pbipc_server_ops *ops, void *opaque, qb_loop_t *loop)
{
	struct qb_ipcs_service_handlers handlers = {
		.connection_accept = connection_accept,
		.msg_process = msg_process,
		.connection_closed = connection_closed,
	};
	struct qb_ipcs_poll_handlers poll_handlers = {
		.job_add = job_add,
		.dispatch_add = dispatch_add,
		.dispatch_mod = dispatch_mod,
		.dispatch_del = dispatch_del,
	};
	struct pbipc_server *srv, *prev;
	int rc;

	*out = NULL;
	rc = check_conf(conf, ops);
	if (rc < 0 || !loop)
		return rc < 0 ? rc : -EINVAL;

	srv = calloc(1, sizeof(*srv));
	if (!srv)
		return -ENOMEM;
	srv->ops = ops;
	srv->opaque = opaque;
	srv->loop = loop;
	srv->request = conf->request;
	srv->max_msg = conf->max_msg;
	srv->name = strdup(conf->name);
	srv->what = strdup(conf->what ? conf->what : "ipc");
	if (!srv->name || !srv->what) {
		rc = -ENOMEM;
		goto err_free;
	}

	errno = 0;
	srv->service = qb_ipcs_create(conf->name, 0, QB_IPC_SOCKET, &handlers);
	if (!srv->service) {
		rc = errno ? -errno : -ENOMEM;
		goto err_free;
	}
	qb_ipcs_service_context_set(srv->service, srv);
	qb_ipcs_poll_handlers_set(srv->service, &poll_handlers);
	qb_ipcs_enforce_buffer_size(srv->service, PBIPC_RECV_BUFFER);

	prev = enter(srv);
	rc = qb_ipcs_run(srv->service);  /* destroys the service on failure */
	leave(prev);
	if (rc < 0)
		goto err_loop;

	qb_log(LOG_INFO, "%s: serving '%s'", srv->what, srv->name);
	*out = srv;
	return 0;

err_loop:
	release_loop(srv);
err_free:
	free(srv->what);
	free(srv->name);
	free(srv);
	return rc;
}

void pbipc_server__stop(struct pbipc_server *srv)
{
	struct pbipc_server *prev;

	if (!srv)
		return;
	prev = enter(srv);
	qb_ipcs_destroy(srv->service);
	leave(prev);
	/*
	 * Clients still in the middle of the connection handshake keep fds in
	 * the loop after qb_ipcs_destroy; unhook them so a late event cannot
	 * reach freed memory.
	 */
	release_loop(srv);
	qb_log(LOG_INFO, "%s: stopped serving '%s'", srv->what, srv->name);
	free(srv->what);
	free(srv->name);
	free(srv);
}
