/*
 * hasvcd's hactl server (hasvc/ipc.c) and hactl (hasvc/hactl*.c) against a
 * fake daemon: no corosync.  The server runs on a qb_loop in a thread; the
 * fake's ops run there too.  The fake answers status at once, answers
 * operator commands later from a timer (as hasvcd does once its command came
 * back through CPG) and then plays the command's effect out over the next
 * status polls, and never answers `protect silent`.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/uio.h>

#include <check.h>
#include <qb/qbdefs.h>
#include <qb/qbipc_common.h>
#include <qb/qbipcc.h>
#include <qb/qbloop.h>

#include "hasvc/hactl.h"
#include "hasvc/ipc.h"
#include "ipc/pbipc_client.h"
#include "ipc/pbipc_server.h"
#include "tests/unit/json_parse.h"

#define LOAD(x) __atomic_load_n(&(x), __ATOMIC_SEQ_CST)
#define STORE(x, v) __atomic_store_n(&(x), (v), __ATOMIC_SEQ_CST)
#define INC(x) __atomic_add_fetch(&(x), 1, __ATOMIC_SEQ_CST)

#define SERVER_TIMEOUT_MS 300  /* the server's own answer to silence */
#define ANSWER_DELAY_MS 100    /* the fake's "round trip through CPG" */

enum effect { NONE, MIGRATING, FAILING_OVER, EVACUATING, PROTECTING, STOPPING };

struct fake_vm {
	char name[16], primary[16], standby[16], state[16], migrating_to[16], target[16];
	uint64_t generation, epoch;
	enum effect effect;
	int countdown;            /* status polls until the effect is done */
};

/* A command the fake answers from a timer. */
struct later {
	struct fake *f;
	struct hasvc_ipc_req *req;
	qb_loop_timer_handle timer;
	Hasvc__Ctl__OpRequest__Op op;
	char vm[16], node[16];
};

struct fake {
	qb_loop_t *loop;
	pthread_t thread;
	int wake[2];
	bool stopped;
	struct hasvc_ipc *ipc;
	char name[64];
	struct fake_vm vms[2];
	struct hasvc_ipc_req *silent;  /* the request never answered */
	int release;                   /* answer `migrate held` now */
	int requests, replies, cancels, late_answers;
	uint32_t timeout_s;            /* of the last op */
};

static struct fake srv;

static void init_vms(struct fake *f)
{
	static const struct fake_vm web1 = {
		.name = "web1", .primary = "a", .standby = "b", .state = "protected",
		.generation = 3, .epoch = 1234,
	};
	static const struct fake_vm db1 = {
		.name = "db1", .primary = "b", .state = "unprotected", .generation = 1,
	};

	f->vms[0] = web1;
	f->vms[1] = db1;
}

static struct fake_vm *find(struct fake *f, const char *name)
{
	size_t i;

	for (i = 0; i < 2; i++)
		if (!strcmp(f->vms[i].name, name))
			return &f->vms[i];
	return NULL;
}

/* One step of a running effect, as one status poll sees it. */
static void advance(struct fake_vm *v)
{
	if (v->effect == NONE || --v->countdown > 0)
		return;
	if (v->effect == MIGRATING || v->effect == FAILING_OVER) {
		if (!strcmp(v->standby, v->target))
			memcpy(v->standby, v->primary, sizeof(v->standby));
		memcpy(v->primary, v->target, sizeof(v->primary));
		v->migrating_to[0] = '\0';
		v->generation++;
		snprintf(v->state, sizeof(v->state), "%s", v->standby[0] ? "protected" : "degraded");
	} else if (v->effect == EVACUATING) {
		if (!strcmp(v->primary, v->target))
			snprintf(v->primary, sizeof(v->primary), "c");
		if (!strcmp(v->standby, v->target))
			v->standby[0] = '\0';
	} else if (v->effect == STOPPING) {
		v->primary[0] = v->standby[0] = '\0';
		snprintf(v->state, sizeof(v->state), "stopped");
	} else if (v->effect == PROTECTING) {
		snprintf(v->standby, sizeof(v->standby), "a");
		snprintf(v->state, sizeof(v->state), "protected");
	}
	v->effect = NONE;
}

static void fill_vm(Hasvc__Ctl__Vm *out, struct fake_vm *v)
{
	advance(v);
	out->name = v->name;
	out->priority = v == &srv.vms[0] ? 10 : 0;
	out->primary = v->primary;
	out->standby = v->standby;
	out->state = v->state;
	out->protect = v->standby[0] != '\0';
	out->generation = v->generation;
	out->epoch = v->epoch;
	out->checkpoint_age_ms = v->epoch ? 85 : -1;
	out->epochs_per_s = v->epoch ? 9.5 : 0;
	out->migrating_to = v->migrating_to;
	out->waiting = v->standby[0] ? "" : "no node can take its standby";
	/* db1 as an older hasvcd sends it: no requested state. */
	out->requested = v == &srv.vms[0] ? "started" : "";
}

/* Memory as used/mem_mib from mem_source; cpus always reported. */
static void capacity(Hasvc__Ctl__Node *n, uint32_t used_mib, uint32_t mib, char *mem_source,
		     uint32_t used_cpus, uint32_t cpus)
{
	n->used_mem_mib = used_mib;
	n->mem_mib = mib;
	n->mem_source = mem_source;
	n->used_cpus = used_cpus;
	n->cpus = cpus;
	n->cpus_source = "reported";
}

static void answer_status(struct fake *f, struct hasvc_ipc_req *req)
{
	Hasvc__Ctl__Response resp = HASVC__CTL__RESPONSE__INIT;
	Hasvc__Ctl__Status st = HASVC__CTL__STATUS__INIT;
	Hasvc__Ctl__Node n[3], *np[3];
	Hasvc__Ctl__Vm v[2], *vp[2];
	static const char *const names[] = { "a", "b", "c" };
	size_t i;

	for (i = 0; i < 3; i++) {
		hasvc__ctl__node__init(&n[i]);
		n[i].name = (char *)names[i];
		n[i].member = i < 2;
		n[i].ready = i < 2;
		n[i].declared = true;
		n[i].local = i == 0;
		n[i].fence = i == 2 ? "pending" : "";
		/* b runs another text; c's file holds another one, c said nothing yet. */
		n[i].config_digest = i == 2 ? "cccc" : i == 1 ? "ffee" : "00aa";
		n[i].config_running = i == 2 ? "" : i == 1 ? "ffee" : "00aa";
		np[i] = &n[i];
	}
	n[0].primaries = 1;
	n[1].primaries = 1;
	n[1].standbys = 1;
	/* a declares its memory, reports its cpus; b reports both; c: not counted. */
	capacity(&n[0], 1024, 4096, "declared", 2, 8);
	capacity(&n[1], 2048, 15000, "reported", 3, 4);
	for (i = 0; i < 2; i++) {
		hasvc__ctl__vm__init(&v[i]);
		fill_vm(&v[i], &f->vms[i]);
		vp[i] = &v[i];
	}
	st.cluster = "test";
	st.local_node = "a";
	st.quorate = true;
	st.fsm_quorate = true;
	st.config_digest = "00aa";
	st.n_nodes = 3;
	st.nodes = np;
	st.n_vms = 2;
	st.vms = vp;
	resp.ok = true;
	resp.status = &st;
	INC(f->replies);
	hasvc_ipc__reply(req, &resp);
}

/* Every copy on the node leaves it, one VM after the other. */
static void start_evacuation(struct fake *f, const char *node)
{
	size_t i;

	for (i = 0; i < 2; i++) {
		struct fake_vm *v = &f->vms[i];

		if (strcmp(v->primary, node) && strcmp(v->standby, node))
			continue;
		v->effect = EVACUATING;
		v->countdown = 3 + 2 * (int)i;
		snprintf(v->target, sizeof(v->target), "%s", node);
	}
}

static void start_effect(struct fake *f, const struct later *l)
{
	struct fake_vm *v = find(f, l->vm);

	if (l->op == HASVC__CTL__OP_REQUEST__OP__EVACUATE) {
		start_evacuation(f, l->node);
		return;
	}
	if (!v)
		return;
	v->countdown = 3;
	switch (l->op) {
	case HASVC__CTL__OP_REQUEST__OP__MIGRATE:
		v->effect = MIGRATING;
		snprintf(v->target, sizeof(v->target), "%s", l->node);
		snprintf(v->migrating_to, sizeof(v->migrating_to), "%s", l->node);
		snprintf(v->state, sizeof(v->state), "migrating");
		break;
	case HASVC__CTL__OP_REQUEST__OP__FAILOVER:
		v->effect = FAILING_OVER;
		memcpy(v->target, v->standby, sizeof(v->target));
		v->standby[0] = '\0';
		snprintf(v->state, sizeof(v->state), "stopped");
		break;
	case HASVC__CTL__OP_REQUEST__OP__PROTECT:
		v->effect = PROTECTING;
		snprintf(v->state, sizeof(v->state), "syncing");
		break;
	case HASVC__CTL__OP_REQUEST__OP__STOP:
		v->effect = STOPPING;
		snprintf(v->state, sizeof(v->state), "stopping");
		break;
	default:
		break;
	}
}

static void on_later(void *data)
{
	struct later *l = data;
	Hasvc__Ctl__Response resp = HASVC__CTL__RESPONSE__INIT;

	resp.ok = true;
	start_effect(l->f, l);
	/* Counted first: the client may look as soon as the reply is out. */
	INC(l->f->replies);
	INC(l->f->late_answers);
	hasvc_ipc__reply(l->req, &resp);
	free(l);
}

/* `migrate held`: answered once the test sets release, polled from a timer. */
static void on_held(void *data)
{
	struct later *l = data;

	if (LOAD(l->f->release)) {
		on_later(l);
		return;
	}
	ck_assert_int_eq(qb_loop_timer_add(l->f->loop, QB_LOOP_MED, 5 * QB_TIME_NS_IN_MSEC, l,
					   on_held, &l->timer), 0);
}

static void answer_later(struct fake *f, struct hasvc_ipc_req *req, const Hasvc__Ctl__OpRequest *op)
{
	struct later *l = calloc(1, sizeof(*l));

	ck_assert_ptr_nonnull(l);
	l->f = f;
	l->req = req;
	l->op = op->op;
	snprintf(l->vm, sizeof(l->vm), "%s", op->vm);
	snprintf(l->node, sizeof(l->node), "%s", op->node);
	ck_assert_int_eq(qb_loop_timer_add(f->loop, QB_LOOP_MED,
					   ANSWER_DELAY_MS * QB_TIME_NS_IN_MSEC, l,
					   strcmp(op->vm, "held") ? on_later : on_held, &l->timer), 0);
}

static void fake_op(struct fake *f, struct hasvc_ipc_req *req, const Hasvc__Ctl__OpRequest *op)
{
	STORE(f->timeout_s, op->timeout_s);
	if (op->op == HASVC__CTL__OP_REQUEST__OP__PROTECT && !strcmp(op->vm, "silent")) {
		f->silent = req;  /* lost somewhere in the cluster */
		return;
	}
	if (op->op == HASVC__CTL__OP_REQUEST__OP__EVACUATE && !strcmp(op->node, "q")) {
		INC(f->replies);
		hasvc_ipc__fail(req, EAGAIN, "the cluster is not quorate");
		return;
	}
	if (op->op != HASVC__CTL__OP_REQUEST__OP__EVACUATE && !find(f, op->vm) &&
	    strcmp(op->vm, "held")) {
		INC(f->replies);
		hasvc_ipc__fail(req, ENOENT, "no VM '%s' in the configuration", op->vm);
		return;
	}
	answer_later(f, req, op);
}

/* What the fake daemon runs, for hactl config show and diff. */
#define RUNNING_TEXT "[cluster]\nname = test\n[node a]\nreplication = 10.0.0.1:7400\n"

static void fake_request(void *opaque, struct hasvc_ipc_req *req, const Hasvc__Ctl__Request *msg)
{
	struct fake *f = opaque;
	Hasvc__Ctl__Response resp = HASVC__CTL__RESPONSE__INIT;

	INC(f->requests);
	switch (msg->command_case) {
	case HASVC__CTL__REQUEST__COMMAND_STATUS:
		answer_status(f, req);
		break;
	case HASVC__CTL__REQUEST__COMMAND_OP:
		fake_op(f, req, msg->op);
		break;
	case HASVC__CTL__REQUEST__COMMAND_CONFIG_SHOW:
		resp.ok = true;
		resp.text = (char *)RUNNING_TEXT;
		resp.config_digest = "00aa";
		INC(f->replies);
		hasvc_ipc__reply(req, &resp);
		break;
	case HASVC__CTL__REQUEST__COMMAND_CONFIG_APPLY: {
		char text[128];

		snprintf(text, sizeof(text), "%zu bytes of %s; taken by a",
			 strlen(msg->config_apply->text), msg->config_apply->path);
		resp.ok = true;
		resp.text = text;
		INC(f->replies);
		hasvc_ipc__reply(req, &resp);
		break;
	}
	default:
		resp.ok = true;
		resp.text = "configuration unchanged";
		INC(f->replies);
		hasvc_ipc__reply(req, &resp);
		break;
	}
}

static void fake_cancel(void *opaque, struct hasvc_ipc_req *req)
{
	struct fake *f = opaque;

	ck_assert_ptr_eq(req, f->silent);
	f->silent = NULL;
	INC(f->cancels);
}

static const struct hasvc_ipc_ops fake_ops = {
	.request = fake_request,
	.cancel = fake_cancel,
};

/* Runs on the loop thread: the server is stopped where it runs. */
static int32_t on_wake(int32_t fd, int32_t revents, void *data)
{
	struct fake *f = data;

	hasvc_ipc__stop(f->ipc);
	f->ipc = NULL;
	qb_loop_stop(f->loop);
	return -1;  /* drop this fd from the loop */
}

static void *run_loop(void *arg)
{
	qb_loop_run(arg);
	return NULL;
}

static void setup(void)
{
	memset(&srv, 0, sizeof(srv));
	init_vms(&srv);
	srv.loop = qb_loop_create();
	ck_assert_ptr_nonnull(srv.loop);
	snprintf(srv.name, sizeof(srv.name), "hasvc-test-hactl-%d", (int)getpid());
	ck_assert_int_eq(hasvc_ipc__start(&srv.ipc, &fake_ops, &srv, srv.loop, srv.name), 0);
	hasvc_ipc__set_timeout(srv.ipc, SERVER_TIMEOUT_MS);
	ck_assert_int_eq(pipe(srv.wake), 0);
	ck_assert_int_eq(qb_loop_poll_add(srv.loop, QB_LOOP_HIGH, srv.wake[0], POLLIN,
					  &srv, on_wake), 0);
	ck_assert_int_eq(pthread_create(&srv.thread, NULL, run_loop, srv.loop), 0);
}

static void stop_server(void)
{
	if (srv.stopped)
		return;
	srv.stopped = true;
	ck_assert_int_eq(write(srv.wake[1], "x", 1), 1);
	pthread_join(srv.thread, NULL);
}

static void teardown(void)
{
	stop_server();
	qb_loop_destroy(srv.loop);
	close(srv.wake[0]);
	close(srv.wake[1]);
}

static void sleep_ms(int ms)
{
	usleep(ms * 1000);
}

/* --- a client ------------------------------------------------------------ */

static struct pbipc_client *client(void)
{
	struct pbipc_client *cl;
	char err[256];

	ck_assert_msg(pbipc_client__connect(&cl, srv.name, "hasvcd", HASVC_IPC_MAX_MSG, 5000, err,
					    sizeof(err)) == 0, "%s", err);
	return cl;
}

static Hasvc__Ctl__Response *call(struct pbipc_client *cl, const Hasvc__Ctl__Request *req)
{
	ProtobufCMessage *m;
	char err[256];

	ck_assert_msg(pbipc_client__call(cl, &req->base, &hasvc__ctl__response__descriptor, 5000,
					 &m, err, sizeof(err)) == 0, "call failed: %s", err);
	return (Hasvc__Ctl__Response *)m;
}

static Hasvc__Ctl__Response *status(struct pbipc_client *cl)
{
	static Hasvc__Ctl__StatusRequest sr = HASVC__CTL__STATUS_REQUEST__INIT;
	Hasvc__Ctl__Request req = HASVC__CTL__REQUEST__INIT;

	req.command_case = HASVC__CTL__REQUEST__COMMAND_STATUS;
	req.status = &sr;
	return call(cl, &req);
}

/* o of web1 with a shutdown timeout. */
static Hasvc__Ctl__Response *op_timeout(struct pbipc_client *cl, Hasvc__Ctl__OpRequest__Op o,
					uint32_t timeout_s)
{
	Hasvc__Ctl__OpRequest opr = HASVC__CTL__OP_REQUEST__INIT;
	Hasvc__Ctl__Request req = HASVC__CTL__REQUEST__INIT;

	opr.op = o;
	opr.vm = "web1";
	opr.timeout_s = timeout_s;
	req.command_case = HASVC__CTL__REQUEST__COMMAND_OP;
	req.op = &opr;
	return call(cl, &req);
}

static Hasvc__Ctl__Response *op(struct pbipc_client *cl, Hasvc__Ctl__OpRequest__Op o,
				const char *vm, const char *node)
{
	Hasvc__Ctl__OpRequest opr = HASVC__CTL__OP_REQUEST__INIT;
	Hasvc__Ctl__Request req = HASVC__CTL__REQUEST__INIT;

	opr.op = o;
	opr.vm = (char *)vm;
	opr.node = (char *)node;
	req.command_case = HASVC__CTL__REQUEST__COMMAND_OP;
	req.op = &opr;
	return call(cl, &req);
}

static void assert_refused(Hasvc__Ctl__Response *resp, int code, const char *words)
{
	ck_assert(!resp->ok);
	ck_assert_int_eq(resp->code, code);
	ck_assert_msg(strstr(resp->error, words), "error '%s' lacks '%s'", resp->error, words);
	hasvc__ctl__response__free_unpacked(resp, NULL);
}

static void assert_status_works(struct pbipc_client *cl)
{
	Hasvc__Ctl__Response *resp = status(cl);

	ck_assert(resp->ok);
	ck_assert_ptr_nonnull(resp->status);
	ck_assert_str_eq(resp->status->cluster, "test");
	hasvc__ctl__response__free_unpacked(resp, NULL);
}

/* A raw frame: header (id, claimed size) then `len` payload bytes. */
static Hasvc__Ctl__Response *raw(struct pbipc_client *cl, int32_t id, int32_t claimed,
				 const void *payload, size_t len)
{
	struct qb_ipc_request_header *hdr;
	uint8_t buf[256] __attribute__((aligned(8)));
	ProtobufCMessage *m;
	char err[256];

	ck_assert_uint_le(sizeof(*hdr) + len, sizeof(buf));
	memset(buf, 0, sizeof(buf));
	hdr = (void *)buf;
	hdr->id = id;
	hdr->size = claimed;
	if (len)
		memcpy(buf + sizeof(*hdr), payload, len);
	ck_assert_msg(pbipc_client__call_raw(cl, buf, sizeof(*hdr) + len,
					     &hasvc__ctl__response__descriptor, 5000, &m, err,
					     sizeof(err)) == 0, "raw call failed: %s", err);
	return (Hasvc__Ctl__Response *)m;
}

/* --- the server ---------------------------------------------------------- */

START_TEST(test_status)
{
	struct pbipc_client *cl = client();
	Hasvc__Ctl__Response *resp = status(cl);
	const Hasvc__Ctl__Status *st = resp->status;

	ck_assert(resp->ok);
	ck_assert_int_eq(resp->code, 0);
	ck_assert_ptr_nonnull(st);
	ck_assert_str_eq(st->local_node, "a");
	ck_assert_uint_eq(st->n_nodes, 3);
	ck_assert_str_eq(st->nodes[2]->fence, "pending");
	ck_assert_uint_eq(st->n_vms, 2);
	ck_assert_str_eq(st->vms[0]->name, "web1");
	ck_assert_str_eq(st->vms[0]->state, "protected");
	ck_assert_uint_eq(st->vms[0]->epoch, 1234);
	ck_assert_int_eq(st->vms[1]->checkpoint_age_ms, -1);
	hasvc__ctl__response__free_unpacked(resp, NULL);
	/* The connection serves more than one request. */
	assert_status_works(cl);
	pbipc_client__disconnect(cl);
}
END_TEST

START_TEST(test_async_reply)
{
	struct pbipc_client *cl = client();
	Hasvc__Ctl__Response *resp;

	resp = op(cl, HASVC__CTL__OP_REQUEST__OP__MIGRATE, "web1", "c");
	ck_assert_msg(resp->ok, "%s", resp->error);
	hasvc__ctl__response__free_unpacked(resp, NULL);
	ck_assert_int_eq(LOAD(srv.late_answers), 1);
	/* Refusals from the daemon come back with its code and words. */
	assert_refused(op(cl, HASVC__CTL__OP_REQUEST__OP__EVACUATE, "", "q"), EAGAIN,
		       "not quorate");
	assert_refused(op(cl, HASVC__CTL__OP_REQUEST__OP__FAILOVER, "nosuch", ""), ENOENT,
		       "no VM 'nosuch'");
	assert_status_works(cl);
	pbipc_client__disconnect(cl);
}
END_TEST

START_TEST(test_timeout)
{
	struct pbipc_client *cl = client();

	assert_refused(op(cl, HASVC__CTL__OP_REQUEST__OP__PROTECT, "silent", ""), ETIMEDOUT,
		       "no answer from the cluster in 300 ms");
	ck_assert_int_eq(LOAD(srv.cancels), 1);
	/* The connection is usable again, and a second silence times out too. */
	assert_status_works(cl);
	assert_refused(op(cl, HASVC__CTL__OP_REQUEST__OP__PROTECT, "silent", ""), ETIMEDOUT,
		       "no answer");
	ck_assert_int_eq(LOAD(srv.cancels), 2);
	pbipc_client__disconnect(cl);
}
END_TEST

START_TEST(test_bad_frames)
{
	static const uint8_t garbage[] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
	static const uint8_t future[] = { 0x4a, 0x00 };       /* field 9: a later command */
	static const uint8_t no_vm[] = { 0x12, 0x02, 0x08, 0x02 };      /* op{FAILOVER} */
	static const uint8_t bad_op[] = { 0x12, 0x04, 0x08, 0x63, 0x12, 0x00 }; /* op 99 */
	static const uint8_t extra[] = { 0x12, 0x05, 0x1a, 0x03, 'a', 'b', 'c' }; /* migrate, no vm */
	const int32_t h = sizeof(struct qb_ipc_request_header);
	struct pbipc_client *cl = client();

	assert_refused(raw(cl, PBIPC_MSG_REQUEST, h + sizeof(garbage), garbage, sizeof(garbage)),
		       EBADMSG, "do not decode as hasvc.ctl.Request");
	assert_status_works(cl);
	assert_refused(raw(cl, PBIPC_MSG_REQUEST, h - 8, garbage, sizeof(garbage)), EBADMSG,
		       "truncated");
	assert_refused(raw(cl, PBIPC_MSG_REQUEST, HASVC_IPC_MAX_MSG + 1000, NULL, 0), EMSGSIZE,
		       "larger than");
	assert_refused(raw(cl, PBIPC_MSG_REQUEST, -5, NULL, 0), EMSGSIZE, "larger than");
	assert_refused(raw(cl, 7, h, NULL, 0), EBADMSG, "unknown message id 7");
	assert_refused(raw(cl, PBIPC_MSG_REQUEST, h, NULL, 0), EINVAL, "empty request");
	assert_refused(raw(cl, PBIPC_MSG_REQUEST, h + sizeof(future), future, sizeof(future)),
		       EOPNOTSUPP, "unknown command (field 9)");
	assert_refused(raw(cl, PBIPC_MSG_REQUEST, h + sizeof(no_vm), no_vm, sizeof(no_vm)),
		       EINVAL, "failover: no VM given");
	assert_refused(raw(cl, PBIPC_MSG_REQUEST, h + sizeof(bad_op), bad_op, sizeof(bad_op)),
		       EOPNOTSUPP, "unknown operation 99");
	assert_refused(raw(cl, PBIPC_MSG_REQUEST, h + sizeof(extra), extra, sizeof(extra)),
		       EINVAL, "migrate: no VM given");
	assert_refused(op(cl, HASVC__CTL__OP_REQUEST__OP__UNPROTECT, "web1", "b"), EINVAL,
		       "unprotect takes no node");
	assert_refused(op_timeout(cl, HASVC__CTL__OP_REQUEST__OP__START, 5), EINVAL,
		       "start takes no shutdown timeout (got 5 s)");
	assert_refused(op_timeout(cl, HASVC__CTL__OP_REQUEST__OP__STOP, 86401), EINVAL,
		       "stop: a shutdown timeout of 86401 s is longer than 86400 s");
	assert_refused(op(cl, HASVC__CTL__OP_REQUEST__OP__PROTECT,
			  "a-name-that-is-much-longer-than-sixty-three-bytes-which-is-the-limit",
			  ""), EINVAL, "longer than 63");
	assert_status_works(cl);
	pbipc_client__disconnect(cl);

	/* None of it reached the daemon but the status calls; new clients are served. */
	ck_assert_int_eq(LOAD(srv.requests), 2);
	cl = client();
	assert_status_works(cl);
	pbipc_client__disconnect(cl);
}
END_TEST

START_TEST(test_client_gone)
{
	Hasvc__Ctl__OpRequest opr = HASVC__CTL__OP_REQUEST__INIT;
	Hasvc__Ctl__Request req = HASVC__CTL__REQUEST__INIT;
	struct pbipc_client *cl = client();
	ProtobufCMessage *m;
	char err[256];

	opr.op = HASVC__CTL__OP_REQUEST__OP__PROTECT;
	opr.vm = "db1";
	req.command_case = HASVC__CTL__REQUEST__COMMAND_OP;
	req.op = &opr;
	/* Give up long before the fake answers, and leave. */
	ck_assert_int_eq(pbipc_client__call(cl, &req.base, &hasvc__ctl__response__descriptor, 10,
					    &m, err, sizeof(err)), -ETIMEDOUT);
	pbipc_client__disconnect(cl);
	sleep_ms(ANSWER_DELAY_MS * 3);
	ck_assert_int_eq(LOAD(srv.late_answers), 1);  /* answered into the void */

	/* The same for a request that then times out in the server. */
	cl = client();
	opr.vm = "silent";
	ck_assert_int_eq(pbipc_client__call(cl, &req.base, &hasvc__ctl__response__descriptor, 10,
					    &m, err, sizeof(err)), -ETIMEDOUT);
	pbipc_client__disconnect(cl);
	sleep_ms(SERVER_TIMEOUT_MS * 2);
	ck_assert_int_eq(LOAD(srv.cancels), 1);

	cl = client();
	assert_status_works(cl);
	pbipc_client__disconnect(cl);
}
END_TEST

/* Receive one reply on a bare libqb connection. */
static Hasvc__Ctl__Response *recv_reply(qb_ipcc_connection_t *c)
{
	static uint64_t buf[HASVC_IPC_MAX_MSG / 8];
	const struct qb_ipc_response_header *rh = (const void *)buf;
	ssize_t n = qb_ipcc_recv(c, buf, sizeof(buf), 5000);

	ck_assert_int_gt(n, (ssize_t)sizeof(*rh));
	return hasvc__ctl__response__unpack(NULL, rh->size - sizeof(*rh),
					    (const uint8_t *)buf + sizeof(*rh));
}

static void send_request(qb_ipcc_connection_t *c, const Hasvc__Ctl__Request *req)
{
	struct qb_ipc_request_header hdr = { .id = PBIPC_MSG_REQUEST };
	uint8_t payload[256];
	struct iovec iov[2] = {
		{ .iov_base = &hdr, .iov_len = sizeof(hdr) },
		{ .iov_base = payload, .iov_len = hasvc__ctl__request__pack(req, payload) },
	};

	hdr.size = sizeof(hdr) + iov[1].iov_len;
	ck_assert_int_eq(qb_ipcc_sendv(c, iov, 2), hdr.size);
}

/* A client that does not wait for its answer gets EBUSY for the next request. */
START_TEST(test_busy)
{
	static Hasvc__Ctl__StatusRequest sr = HASVC__CTL__STATUS_REQUEST__INIT;
	Hasvc__Ctl__OpRequest opr = HASVC__CTL__OP_REQUEST__INIT;
	Hasvc__Ctl__Request silent = HASVC__CTL__REQUEST__INIT;
	Hasvc__Ctl__Request status = HASVC__CTL__REQUEST__INIT;
	qb_ipcc_connection_t *c = qb_ipcc_connect(srv.name, HASVC_IPC_MAX_MSG);

	ck_assert_ptr_nonnull(c);
	opr.op = HASVC__CTL__OP_REQUEST__OP__PROTECT;
	opr.vm = "silent";
	silent.command_case = HASVC__CTL__REQUEST__COMMAND_OP;
	silent.op = &opr;
	status.command_case = HASVC__CTL__REQUEST__COMMAND_STATUS;
	status.status = &sr;
	send_request(c, &silent);
	send_request(c, &status);
	assert_refused(recv_reply(c), EBUSY, "already waiting for its answer");
	assert_refused(recv_reply(c), ETIMEDOUT, "no answer from the cluster");
	ck_assert_int_eq(LOAD(srv.requests), 1);
	qb_ipcc_disconnect(c);
}
END_TEST

struct slow_call {
	Hasvc__Ctl__Response *resp;
	int done;
};

static void *slow_client(void *arg)
{
	struct slow_call *s = arg;
	struct pbipc_client *cl = client();

	s->resp = op(cl, HASVC__CTL__OP_REQUEST__OP__MIGRATE, "held", "a");
	STORE(s->done, 1);
	pbipc_client__disconnect(cl);
	return NULL;
}

START_TEST(test_two_clients)
{
	struct slow_call s = { 0 };
	struct pbipc_client *cl;
	pthread_t t;
	int i;

	ck_assert_int_eq(pthread_create(&t, NULL, slow_client, &s), 0);
	while (LOAD(srv.requests) < 1)
		sleep_ms(1);
	/* While the first waits for the cluster, the second is served. */
	cl = client();
	for (i = 0; i < 3; i++)
		assert_status_works(cl);
	ck_assert_int_eq(LOAD(s.done), 0);
	STORE(srv.release, 1);
	pthread_join(t, NULL);
	ck_assert(s.resp->ok);
	hasvc__ctl__response__free_unpacked(s.resp, NULL);
	pbipc_client__disconnect(cl);
}
END_TEST

static void *silent_client(void *arg)
{
	struct slow_call *s = arg;
	struct pbipc_client *cl = client();
	Hasvc__Ctl__OpRequest opr = HASVC__CTL__OP_REQUEST__INIT;
	Hasvc__Ctl__Request req = HASVC__CTL__REQUEST__INIT;
	ProtobufCMessage *m = NULL;
	char err[256];

	opr.op = HASVC__CTL__OP_REQUEST__OP__PROTECT;
	opr.vm = "silent";
	req.command_case = HASVC__CTL__REQUEST__COMMAND_OP;
	req.op = &opr;
	if (pbipc_client__call(cl, &req.base, &hasvc__ctl__response__descriptor, 5000, &m, err,
			       sizeof(err)) == 0)
		s->resp = (Hasvc__Ctl__Response *)m;
	STORE(s->done, 1);
	pbipc_client__disconnect(cl);
	return NULL;
}

START_TEST(test_stop_with_pending)
{
	struct slow_call s = { 0 };
	pthread_t t;

	ck_assert_int_eq(pthread_create(&t, NULL, silent_client, &s), 0);
	while (LOAD(srv.requests) < 1)
		sleep_ms(1);
	stop_server();
	pthread_join(t, NULL);
	ck_assert_int_eq(LOAD(srv.cancels), 1);
	ck_assert_ptr_nonnull(s.resp);
	assert_refused(s.resp, ESHUTDOWN, "hasvcd is stopping");
}
END_TEST

/* --- hactl --------------------------------------------------------------- */

/* hactl__main with stdout into out; returns its exit status. */
static int hactl(char *out, size_t len, const char *const *args)
{
	char *argv[16];
	int argc = 0, saved, rc;
	FILE *tmp;
	size_t n;

	argv[argc++] = "hactl";
	argv[argc++] = "-s";
	argv[argc++] = srv.name;
	for (; *args; args++)
		argv[argc++] = (char *)*args;
	argv[argc] = NULL;
	fflush(stdout);
	tmp = tmpfile();
	ck_assert_ptr_nonnull(tmp);
	saved = dup(1);
	dup2(fileno(tmp), 1);
	rc = hactl__main(argc, argv);
	fflush(stdout);
	dup2(saved, 1);
	close(saved);
	rewind(tmp);
	n = fread(out, 1, len - 1, tmp);
	out[n] = '\0';
	fclose(tmp);
	return rc;
}

#define HACTL(...) hactl(out, sizeof(out), (const char *const[]){ __VA_ARGS__, NULL })

static void assert_has(const char *out, const char *words)
{
	ck_assert_msg(strstr(out, words), "output lacks '%s':\n%s", words, out);
}

START_TEST(test_hactl_status)
{
	char out[8192];

	ck_assert_int_eq(HACTL("status"), 0);
	assert_has(out, "cluster test, local node a, quorate, configuration 00aa\n");
	assert_has(out, "NODE       MEMBER  READY  PRIMARIES  STANDBYS  FENCE    EVACUATING  "
		   "MEMORY                  CPUS           CONFIG\n");
	assert_has(out, "a (local)  yes     yes    1          0         -        no          "
		   "1024M/4096M(declared)   2/8(reported)  00aa\n");
	assert_has(out, "b          yes     yes    1          1         -        no          "
		   "2048M/15000M(reported)  3/4(reported)  ffee\n");
	assert_has(out, "c          no      no     0          0         pending  no          "
		   "0M/-                    0/-            -\n");
	assert_has(out, "note: b runs another configuration (ffee)\n");
	assert_has(out, "note: c's configuration file holds another text (cccc)\n");
	assert_has(out, "VM    PRIMARY  STANDBY  STATE        REQUESTED  GEN  EPOCH  CKPT AGE  EPOCHS/S  PRIO  WAITING\n");
	assert_has(out, "web1  a        b        protected    started    3    1234   85ms      9.5       10    -\n");
	assert_has(out, "db1   b        -        unprotected  -          1    0      -         -         0     no node can take its standby\n");

	ck_assert_int_eq(HACTL("--json", "status"), 0);
	assert_has(out, "{\"ok\":true,\"error\":\"\",\"code\":0,\"status\":{\"cluster\":\"test\"");
	assert_has(out, "\"checkpoint_age_ms\":-1,\"epochs_per_s\":0,");
	assert_has(out, "\"epochs_per_s\":9.5,");
	assert_has(out, "\"mem_mib\":4096,\"mem_source\":\"declared\",\"cpus\":8,"
		   "\"cpus_source\":\"reported\",\"used_mem_mib\":1024,\"used_cpus\":2");
	assert_has(out, "\"text\":\"\",\"events\":[],\"events_next_seq\":0,\"config_digest\":\"\"}\n");
}
END_TEST

START_TEST(test_hactl_commands)
{
	char out[8192];

	ck_assert_int_eq(HACTL("migrate", "web1", "c", "--wait", "--timeout", "10"), 0);
	assert_has(out, "migrate web1 to c: accepted\n");
	assert_has(out, "web1: state migrating, primary a, standby b, migrating to c\n");
	assert_has(out, "web1: state protected, primary c, standby b\n");

	ck_assert_int_eq(HACTL("failover", "web1", "--wait"), 0);
	assert_has(out, "failover web1: accepted\n");
	assert_has(out, "web1: state degraded, primary b, standby none");

	ck_assert_int_eq(HACTL("protect", "db1", "--wait"), 0);
	assert_has(out, "db1: state protected, primary b, standby a\n");

	ck_assert_int_eq(HACTL("evacuate", "b", "--wait"), 0);
	assert_has(out, "b: web1 (primary), db1 (primary) left\n");
	assert_has(out, "b: db1 (primary) left\n");

	ck_assert_int_eq(HACTL("reload"), 0);
	ck_assert_str_eq(out, "configuration unchanged\n");

	/* stop: --timeout is the shutdown's limit, rounded up. */
	ck_assert_int_eq(HACTL("stop", "web1", "--timeout", "4.2", "--wait"), 0);
	assert_has(out, "stop web1: accepted\n");
	assert_has(out, "web1: state stopped, primary none, standby none");
	ck_assert_uint_eq(LOAD(srv.timeout_s), 5);
	ck_assert_int_eq(HACTL("start", "db1"), 0);
	ck_assert_uint_eq(LOAD(srv.timeout_s), 0);
	ck_assert_int_eq(HACTL("--json", "unprotect", "web1"), 0);
	assert_has(out, "{\"ok\":true,");

	/* Refusals and silence: exit 1. */
	ck_assert_int_eq(HACTL("evacuate", "q"), 1);
	ck_assert_int_eq(HACTL("--json", "failover", "nosuch"), 1);
	assert_has(out, "\"ok\":false,\"error\":\"no VM 'nosuch' in the configuration\",\"code\":2,");
	/* The operator's words come back in the error: valid JSON whatever they hold. */
	ck_assert_int_eq(HACTL("--json", "failover", "w\"e\\b\001\n\377"), 1);
	assert_json_error(out, "no VM 'w\"e\\b\001\n\xef\xbf\xbd' in the configuration");
	ck_assert_int_eq(HACTL("protect", "silent"), 1);
	/* The effect never shows: --wait gives up after --timeout. */
	ck_assert_int_eq(HACTL("migrate", "db1", "c", "--wait", "--timeout", "0.1"), 1);
}
END_TEST

/* path holds text (len bytes); fails the test when it cannot. */
static void put_file(const char *path, const char *text, size_t len)
{
	FILE *f = fopen(path, "w");

	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(fwrite(text, 1, len, f), len);
	ck_assert_int_eq(fclose(f), 0);
}

#define OTHER_TEXT RUNNING_TEXT "[vm web1]\nmemory = 32M\n"

START_TEST(test_hactl_config)
{
	char out[8192], same[] = "/tmp/hactl-config-same.XXXXXX", other[64], big[64], want[128];
	static char huge[200 * 1024];
	int fd = mkstemp(same);
	uint32_t before;

	ck_assert_int_ge(fd, 0);
	close(fd);
	snprintf(other, sizeof(other), "%s.other", same);
	snprintf(big, sizeof(big), "%s.big", same);
	put_file(same, RUNNING_TEXT, strlen(RUNNING_TEXT));
	put_file(other, OTHER_TEXT, strlen(OTHER_TEXT));
	memset(huge, '#', sizeof(huge));
	put_file(big, huge, sizeof(huge));

	ck_assert_int_eq(HACTL("config", "show"), 0);
	ck_assert_str_eq(out, RUNNING_TEXT);
	ck_assert_int_eq(HACTL("config", "diff", same), 0);
	ck_assert_str_eq(out, "");
	ck_assert_int_eq(HACTL("config", "diff", other), 1);
	assert_has(out, "--- running (configuration 00aa)\n");
	assert_has(out, "@@ -2,3 +2,5 @@\n name = test\n [node a]\n"
		   " replication = 10.0.0.1:7400\n+[vm web1]\n+memory = 32M\n");
	ck_assert_int_eq(HACTL("config", "diff", "/nonexistent/hasvc.conf"), 2);
	ck_assert_int_eq(HACTL("config", "apply", other), 0);
	snprintf(want, sizeof(want), "%zu bytes of %s; taken by a\n", strlen(OTHER_TEXT), other);
	assert_has(out, want);
	/* Too big: refused by hactl, nothing sent. */
	before = LOAD(srv.requests);
	ck_assert_int_eq(HACTL("config", "apply", big), 1);
	ck_assert_uint_eq(LOAD(srv.requests), before);
	/* Usage: exit 2. */
	ck_assert_int_eq(HACTL("config"), 2);
	ck_assert_int_eq(HACTL("config", "frob"), 2);
	ck_assert_int_eq(HACTL("config", "apply"), 2);
	ck_assert_int_eq(HACTL("config", "show", same), 2);
	ck_assert_int_eq(HACTL("config", "apply", same, "--wait"), 2);
	unlink(same);
	unlink(other);
	unlink(big);
}
END_TEST

START_TEST(test_hactl_usage)
{
	char out[8192];

	ck_assert_int_eq(HACTL("frob"), 2);
	ck_assert_int_eq(HACTL("migrate", "web1"), 2);
	ck_assert_int_eq(HACTL("status", "extra"), 2);
	ck_assert_int_eq(HACTL("unprotect", "web1", "--wait"), 2);
	ck_assert_int_eq(HACTL("--timeout", "soon", "status"), 2);
	ck_assert_int_eq(HACTL("--bogus", "status"), 2);
	ck_assert_int_eq(HACTL("--help"), 0);
	assert_has(out, "usage: hactl");
	ck_assert_int_eq(LOAD(srv.requests), 0);
}
END_TEST

START_TEST(test_hactl_no_daemon)
{
	char *argv[] = { "hactl", "-s", "hasvc-test-hactl-nobody", "--json", "status", NULL };

	ck_assert_int_eq(hactl__main(5, argv), 1);
}
END_TEST

START_TEST(test_json_format_age)
{
	char buf[32];

	hactl__format_age(buf, sizeof(buf), -1);
	ck_assert_str_eq(buf, "-");
	hactl__format_age(buf, sizeof(buf), 999);
	ck_assert_str_eq(buf, "999ms");
	hactl__format_age(buf, sizeof(buf), 4250);
	ck_assert_str_eq(buf, "4.2s");
	hactl__format_age(buf, sizeof(buf), 185000);
	ck_assert_str_eq(buf, "3m05s");
	hactl__format_age(buf, sizeof(buf), 7500000);
	ck_assert_str_eq(buf, "2h05m");
}
END_TEST

/* Without a loop thread: names are exclusive and released on stop. */
START_TEST(test_name_in_use)
{
	static const struct hasvc_ipc_ops no_cancel = { .request = fake_request };
	qb_loop_t *loop = qb_loop_create();
	struct hasvc_ipc *a, *b;
	char name[64];

	snprintf(name, sizeof(name), "hasvc-test-hactl-%d-dup", (int)getpid());
	ck_assert_int_eq(hasvc_ipc__start(&a, &fake_ops, &srv, loop, name), 0);
	ck_assert_int_eq(hasvc_ipc__start(&b, &fake_ops, &srv, loop, name), -EADDRINUSE);
	ck_assert_ptr_null(b);
	hasvc_ipc__stop(a);
	ck_assert_int_eq(hasvc_ipc__start(&b, &fake_ops, &srv, loop, name), 0);
	hasvc_ipc__stop(b);
	ck_assert_int_eq(hasvc_ipc__start(&b, &no_cancel, &srv, loop, name), -EINVAL);
	ck_assert_int_eq(hasvc_ipc__start(&b, &fake_ops, &srv, loop, ""), -EINVAL);
	qb_loop_destroy(loop);
}
END_TEST

static Suite *hactl_suite(void)
{
	Suite *s = suite_create("hactl");
	TCase *tc = tcase_create("server");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_status);
	tcase_add_test(tc, test_async_reply);
	tcase_add_test(tc, test_timeout);
	tcase_add_test(tc, test_bad_frames);
	tcase_add_test(tc, test_client_gone);
	tcase_add_test(tc, test_two_clients);
	tcase_add_test(tc, test_busy);
	tcase_add_test(tc, test_stop_with_pending);
	suite_add_tcase(s, tc);

	tc = tcase_create("hactl");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_hactl_status);
	tcase_add_test(tc, test_hactl_commands);
	tcase_add_test(tc, test_hactl_usage);
	tcase_add_test(tc, test_hactl_config);
	tcase_add_test(tc, test_hactl_no_daemon);
	suite_add_tcase(s, tc);

	tc = tcase_create("lifecycle");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_json_format_age);
	tcase_add_test(tc, test_name_in_use);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(hactl_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
