/*
 * The control server (see control.h and docs/control.md).
 *
 * Two parts: the glue that lets a libqb IPC service live on a given qb_loop
 * (libqb's poll handlers carry no context, see `current` below), and the
 * request handling: check the frame, decode the Request, call the op, answer
 * with a Response.  Bad input always gets an answer, never a crash.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/uio.h>

#include <qb/qbipcs.h>
#include <qb/qblog.h>
#include <qb/qbloop.h>

#include "vmm/control.h"
#include "vmm/control.pb-c.h"

#define CONTROL_NAME_MAX 100  /* an abstract sun_path has 107 usable bytes */

/* An fd libqb asked us to watch, registered in the loop with this as data. */
struct poll_entry {
	struct poll_entry *next;
	struct control *ctl;
	uint64_t serial;         /* tells a re-added fd from the one before */
	int32_t fd;
	qb_ipcs_dispatch_fn_t fn;
	void *data;
};

/* A one-shot job libqb queued; kept so control__stop can cancel it. */
struct job_entry {
	struct job_entry *next;
	struct control *ctl;
	enum qb_loop_priority prio;
	qb_loop_job_dispatch_fn fn;
	void *data;
};

struct control {
	const struct control_ops *ops;
	void *opaque;
	qb_loop_t *loop;
	qb_ipcs_service_t *service;
	char *name;
	uint64_t start_ns;
	uint64_t next_serial;
	struct poll_entry *polls;
	struct job_entry *jobs;
};

/*
 * libqb calls the poll handlers below with no context pointer, so they cannot
 * tell which control, hence which loop, they serve.  `current` names it for
 * the duration of each call into libqb that may add or drop fds: qb_ipcs_run,
 * every dispatch, qb_ipcs_destroy.  Per thread and scoped to one call, it does
 * not stop two VMs (two services, two loops) from sharing a process.
 */
static __thread struct control *current;

static struct control *enter(struct control *ctl)
{
	struct control *prev = current;

	current = ctl;
	return prev;
}

static void leave(struct control *prev)
{
	current = prev;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static struct poll_entry **find_poll(struct control *ctl, int32_t fd)
{
	struct poll_entry **pp;

	for (pp = &ctl->polls; *pp; pp = &(*pp)->next)
		if ((*pp)->fd == fd)
			return pp;
	return NULL;
}

/* The loop forgot the registration on its own (dispatch returned < 0). */
static void drop_serial(struct control *ctl, uint64_t serial)
{
	struct poll_entry **pp, *e;

	for (pp = &ctl->polls; *pp; pp = &(*pp)->next) {
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
	struct control *ctl = e->ctl, *prev;
	uint64_t serial = e->serial;
	int32_t rc;

	/* fn may drop (and free) e: read nothing from it afterwards. */
	prev = enter(ctl);
	rc = e->fn(fd, revents, e->data);
	leave(prev);
	if (rc < 0)
		drop_serial(ctl, serial);
	return rc;
}

static int32_t dispatch_add(enum qb_loop_priority p, int32_t fd, int32_t events,
			    void *data, qb_ipcs_dispatch_fn_t fn)
{
	struct control *ctl = current;
	struct poll_entry *e;
	int32_t rc;

	if (!ctl) {
		qb_log(LOG_ERR, "control: libqb added fd %d outside a control call", fd);
		return -EINVAL;
	}
	e = calloc(1, sizeof(*e));
	if (!e)
		return -ENOMEM;
	e->ctl = ctl;
	e->serial = ++ctl->next_serial;
	e->fd = fd;
	e->fn = fn;
	e->data = data;
	rc = qb_loop_poll_add(ctl->loop, p, fd, events, e, poll_trampoline);
	if (rc < 0) {
		free(e);
		return rc;
	}
	e->next = ctl->polls;
	ctl->polls = e;
	return 0;
}

static int32_t dispatch_mod(enum qb_loop_priority p, int32_t fd, int32_t events,
			    void *data, qb_ipcs_dispatch_fn_t fn)
{
	struct control *ctl = current;
	struct poll_entry **pp;

	if (!ctl || !(pp = find_poll(ctl, fd)))
		return -EBADF;
	(*pp)->fn = fn;
	(*pp)->data = data;
	return qb_loop_poll_mod(ctl->loop, p, fd, events, *pp, poll_trampoline);
}

static int32_t dispatch_del(int32_t fd)
{
	struct control *ctl = current;
	struct poll_entry **pp, *e;
	int32_t rc;

	if (!ctl || !(pp = find_poll(ctl, fd)))
		return -EBADF;
	e = *pp;
	*pp = e->next;
	rc = qb_loop_poll_del(ctl->loop, fd);
	free(e);
	return rc;
}

static void job_trampoline(void *arg)
{
	struct job_entry *j = arg, **pp;
	struct control *ctl = j->ctl, *prev;
	qb_loop_job_dispatch_fn fn = j->fn;
	void *data = j->data;

	for (pp = &ctl->jobs; *pp; pp = &(*pp)->next) {
		if (*pp == j) {
			*pp = j->next;
			break;
		}
	}
	free(j);
	prev = enter(ctl);
	fn(data);
	leave(prev);
}

static int32_t job_add(enum qb_loop_priority p, void *data,
		       qb_loop_job_dispatch_fn fn)
{
	struct control *ctl = current;
	struct job_entry *j;
	int32_t rc;

	if (!ctl)
		return -EINVAL;
	j = calloc(1, sizeof(*j));
	if (!j)
		return -ENOMEM;
	j->ctl = ctl;
	j->prio = p;
	j->fn = fn;
	j->data = data;
	rc = qb_loop_job_add(ctl->loop, p, j, job_trampoline);
	if (rc < 0) {
		free(j);
		return rc;
	}
	j->next = ctl->jobs;
	ctl->jobs = j;
	return 0;
}

/* Forget whatever libqb left registered in the loop, so nothing calls us. */
static void release_loop(struct control *ctl)
{
	struct poll_entry *e;
	struct job_entry *j;

	while ((j = ctl->jobs)) {
		ctl->jobs = j->next;
		qb_loop_job_del(ctl->loop, j->prio, j, job_trampoline);
		free(j);
	}
	while ((e = ctl->polls)) {
		ctl->polls = e->next;
		qb_loop_poll_del(ctl->loop, e->fd);
		free(e);
	}
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
	char text[8192];
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

static const char *command_name(Vmm__Control__Request__CommandCase cmd)
{
	switch (cmd) {
	case VMM__CONTROL__REQUEST__COMMAND_STATUS: return "status";
	case VMM__CONTROL__REQUEST__COMMAND_PAUSE: return "pause";
	case VMM__CONTROL__REQUEST__COMMAND_RESUME: return "resume";
	case VMM__CONTROL__REQUEST__COMMAND_QUIT: return "quit";
	case VMM__CONTROL__REQUEST__COMMAND_SAVE: return "save";
	case VMM__CONTROL__REQUEST__COMMAND_MIGRATE: return "migrate";
	case VMM__CONTROL__REQUEST__COMMAND_MIGRATE_STATUS: return "migrate-status";
	case VMM__CONTROL__REQUEST__COMMAND_MIGRATE_CANCEL: return "migrate-cancel";
	case VMM__CONTROL__REQUEST__COMMAND_MIGRATE_SET_DOWNTIME: return "migrate-set-downtime";
	case VMM__CONTROL__REQUEST__COMMAND_DIRTY_RATE: return "dirty-rate";
	case VMM__CONTROL__REQUEST__COMMAND_CHECKPOINT: return "checkpoint";
	default: return "unknown";
	}
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
		fail(r, -rc, "%s: %s", command_name(req->command_case),
		     err[0] ? err : strerror(-rc));
	if (req->command_case == VMM__CONTROL__REQUEST__COMMAND_DIRTY_RATE)
		r->resp.dirty_rate = &r->dr;
	else
		r->resp.migration = &r->mig;
}

static void run_checkpoint(struct control *ctl, const Vmm__Control__CheckpointRequest *c,
			   struct reply *r)
{
	char err[256] = "";
	int rc;

	if (!ctl->ops->checkpoint) {
		fail(r, EOPNOTSUPP, "checkpointing is not supported by this server");
		return;
	}
	if (!c->n_args) {
		fail(r, EINVAL, "checkpoint: no command given");
		return;
	}
	r->text[0] = '\0';
	rc = ctl->ops->checkpoint(ctl->opaque, c->n_args, c->args, r->text, sizeof(r->text),
				  err, sizeof(err));
	if (rc < 0)
		fail(r, -rc, "%s: %s", c->args[0], err[0] ? err : strerror(-rc));
	else
		r->resp.text = r->text;
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
	case VMM__CONTROL__REQUEST__COMMAND_DIRTY_RATE:
		run_migration(ctl, req, r);
		break;
	case VMM__CONTROL__REQUEST__COMMAND_CHECKPOINT:
		run_checkpoint(ctl, req->checkpoint, r);
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

/* Decode one framed request into *r; every way it can be wrong gets a reason. */
static void handle(struct control *ctl, qb_ipcs_connection_t *c,
		   const void *data, size_t size, size_t bufsize, struct reply *r)
{
	const struct qb_ipc_request_header *hdr = data;
	Vmm__Control__Request *req;
	struct qb_ipcs_connection_stats stats;

	if (size < sizeof(*hdr)) {
		fail(r, EBADMSG, "truncated message: %zu bytes, shorter than the %zu-byte header",
		     size, sizeof(*hdr));
		return;
	}
	if (size > CONTROL_MAX_MSG || size > bufsize) {
		/* As the header says it: a negative size reads better than 2^64 - 5. */
		fail(r, EMSGSIZE, "message of %d bytes is larger than the %d-byte limit",
		     hdr->size, CONTROL_MAX_MSG);
		return;
	}
	if (hdr->id != CONTROL_MSG_REQUEST) {
		fail(r, EBADMSG, "unknown message id %d (a Request is id %d)",
		     hdr->id, CONTROL_MSG_REQUEST);
		return;
	}
	req = vmm__control__request__unpack(NULL, size - sizeof(*hdr),
					    (const uint8_t *)data + sizeof(*hdr));
	if (!req) {
		fail(r, EBADMSG, "garbage request: %zu bytes do not decode as vmm.control.Request",
		     size - sizeof(*hdr));
		return;
	}
	memset(&stats, 0, sizeof(stats));
	qb_ipcs_connection_stats_get(c, &stats, 0);
	qb_log(LOG_INFO, "control %s: %s from pid %d", ctl->name,
	       command_name(req->command_case), stats.client_pid);
	run_command(ctl, req, r);
	vmm__control__request__free_unpacked(req, NULL);
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

	r->status.state = (char *)r->st.state;
	r->status.vcpus = r->st.nr_vcpus;
	r->status.memory_bytes = r->st.mem_bytes;
	r->status.resets = r->st.nr_resets;
	r->status.uptime_ms = r->st.uptime_ms;
	r->status.pid = getpid();
	r->status.stop_message = r->st.stop_message;
	r->resp.status = &r->status;
}

static void send_reply(struct control *ctl, qb_ipcs_connection_t *c,
		       const struct reply *r)
{
	struct qb_ipc_response_header rh;
	struct iovec iov[2];
	uint8_t *payload;
	size_t len;
	ssize_t rc;

	len = vmm__control__response__get_packed_size(&r->resp);
	payload = malloc(len ? len : 1);
	if (!payload) {
		qb_log(LOG_ERR, "control %s: no memory for a %zu-byte reply", ctl->name, len);
		return;
	}
	vmm__control__response__pack(&r->resp, payload);
	memset(&rh, 0, sizeof(rh));
	rh.id = CONTROL_MSG_REQUEST;
	rh.size = sizeof(rh) + len;
	rh.error = 0;
	iov[0].iov_base = &rh;
	iov[0].iov_len = sizeof(rh);
	iov[1].iov_base = payload;
	iov[1].iov_len = len;
	rc = qb_ipcs_response_sendv(c, iov, 2);
	if (rc < 0)
		qb_log(LOG_WARNING, "control %s: cannot send the reply: %s",
		       ctl->name, strerror((int)-rc));
	free(payload);
}

static int32_t msg_process(qb_ipcs_connection_t *c, void *data, size_t size)
{
	struct control *ctl = qb_ipcs_connection_service_context_get(c);
	int32_t bufsize = qb_ipcs_connection_get_buffer_size(c);
	size_t used;
	struct reply *r;

	r = calloc(1, sizeof(*r));
	if (!r)
		return 0;  /* the client times out; nothing better to do */
	vmm__control__response__init(&r->resp);
	vmm__control__status__init(&r->status);
	r->resp.ok = true;

	handle(ctl, c, data, size, bufsize > 0 ? (size_t)bufsize : 0, r);
	if (!r->resp.ok)
		qb_log(LOG_WARNING, "control %s: %s", ctl->name, r->error);
	fill_status(ctl, r);
	send_reply(ctl, c, r);
	free(r);

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

static int32_t connection_accept(qb_ipcs_connection_t *c, uid_t uid, gid_t gid)
{
	struct control *ctl = qb_ipcs_connection_service_context_get(c);

	if (uid == 0 || uid == geteuid())
		return 0;
	qb_log(LOG_WARNING, "control %s: refused a client with uid %u", ctl->name,
	       (unsigned)uid);
	return -EACCES;
}

int control__start_ops(struct control **out, const struct control_ops *ops,
		       void *opaque, qb_loop_t *loop, const char *name)
{
	struct qb_ipcs_service_handlers handlers = {
		.connection_accept = connection_accept,
		.msg_process = msg_process,
	};
	struct qb_ipcs_poll_handlers poll_handlers = {
		.job_add = job_add,
		.dispatch_add = dispatch_add,
		.dispatch_mod = dispatch_mod,
		.dispatch_del = dispatch_del,
	};
	struct control *ctl, *prev;
	int rc;

	*out = NULL;
	if (!ops || !ops->pause || !ops->resume || !ops->quit || !ops->status ||
	    !loop || !name || !name[0])
		return -EINVAL;
	if (strlen(name) > CONTROL_NAME_MAX)
		return -ENAMETOOLONG;

	ctl = calloc(1, sizeof(*ctl));
	if (!ctl)
		return -ENOMEM;
	ctl->ops = ops;
	ctl->opaque = opaque;
	ctl->loop = loop;
	ctl->start_ns = now_ns();
	ctl->name = strdup(name);
	if (!ctl->name) {
		rc = -ENOMEM;
		goto err_free;
	}

	errno = 0;
	ctl->service = qb_ipcs_create(name, 0, QB_IPC_SOCKET, &handlers);
	if (!ctl->service) {
		rc = errno ? -errno : -ENOMEM;
		goto err_name;
	}
	qb_ipcs_service_context_set(ctl->service, ctl);
	qb_ipcs_poll_handlers_set(ctl->service, &poll_handlers);
	qb_ipcs_enforce_buffer_size(ctl->service, CONTROL_RECV_BUFFER);

	prev = enter(ctl);
	rc = qb_ipcs_run(ctl->service);  /* destroys the service on failure */
	leave(prev);
	if (rc < 0)
		goto err_loop;

	qb_log(LOG_INFO, "control: serving '%s'", name);
	*out = ctl;
	return 0;

err_loop:
	release_loop(ctl);
err_name:
	free(ctl->name);
err_free:
	free(ctl);
	return rc;
}

void control__stop(struct control *ctl)
{
	struct control *prev;

	if (!ctl)
		return;
	prev = enter(ctl);
	qb_ipcs_destroy(ctl->service);
	leave(prev);
	/*
	 * Clients still in the middle of the connection handshake keep fds in
	 * the loop after qb_ipcs_destroy; unhook them so a late event cannot
	 * reach freed memory.
	 */
	release_loop(ctl);
	qb_log(LOG_INFO, "control: stopped serving '%s'", ctl->name);
	free(ctl->name);
	free(ctl);
}
