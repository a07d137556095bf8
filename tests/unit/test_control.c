/*
 * The control server and client against fake VM ops: no KVM needed.  Two
 * servers (two "VMs") share one qb_loop running in a thread; the test thread
 * is the client.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>
#include <qb/qbipc_common.h>
#include <qb/qbloop.h>

#include "replication/checkpoint.h"
#include "vmm/control.h"
#include "vmm/ctl.h"
#include "vmm/ctl_cli.h"

struct fake_vm {
	unsigned vcpus;
	uint64_t mem;
	int pauses, resumes, quits;
	int pause_errno;     /* what the next pauses fail with; 0: succeed */
	bool paused;
};

struct server {
	qb_loop_t *loop;
	pthread_t thread;
	int wake[2];
	struct control *ctl[2];
	struct fake_vm vm[2];
	char name[2][64];
};

static struct server srv;

#define LOAD(x) __atomic_load_n(&(x), __ATOMIC_SEQ_CST)
#define STORE(x, v) __atomic_store_n(&(x), (v), __ATOMIC_SEQ_CST)
#define INC(x) __atomic_add_fetch(&(x), 1, __ATOMIC_SEQ_CST)

static int fake_pause(void *opaque)
{
	struct fake_vm *f = opaque;
	int err = LOAD(f->pause_errno);

	INC(f->pauses);
	if (err)
		return -err;
	STORE(f->paused, true);
	return 0;
}

static int fake_resume(void *opaque)
{
	struct fake_vm *f = opaque;

	INC(f->resumes);
	STORE(f->paused, false);
	return 0;
}

static void fake_quit(void *opaque)
{
	struct fake_vm *f = opaque;

	INC(f->quits);
}

static void fake_status(void *opaque, struct control_status *st)
{
	struct fake_vm *f = opaque;

	st->state = LOAD(f->paused) ? "paused" : "running";
	if (LOAD(f->quits)) {
		st->state = "stopped";
		snprintf(st->stop_message, sizeof(st->stop_message), "quit \"requested\"");
	}
	st->nr_vcpus = f->vcpus;
	st->mem_bytes = f->mem;
	st->nr_resets = 3;
}

/*
 * The checkpointing commands: the real checks of the typed requests
 * (checkpoint_request.c) in front of a fake engine that is "protected".
 */
static int fake_checkpoint(void *opaque, const Vmm__Control__Request *req,
			   Vmm__Control__ProtectStatus *ps, Vmm__Control__NetStatus *ns,
			   char *err, size_t errlen)
{
	struct checkpoint_params p;
	uint64_t gen = 0;
	bool set_gen;
	int ret = 0;

	(void)opaque;
	(void)ns;
	if (req->command_case == VMM__CONTROL__REQUEST__COMMAND_NET_STATUS) {
		snprintf(err, errlen, "this VM has no network device (vmm run --net)");
		return -ENODEV;
	}
	if (req->command_case == VMM__CONTROL__REQUEST__COMMAND_PROTECT)
		ret = checkpoint_request__protect(req->protect, &p, err, errlen);
	else if (req->command_case == VMM__CONTROL__REQUEST__COMMAND_ACTIVATE)
		ret = checkpoint_request__activate(req->activate, &set_gen, &gen, err, errlen);
	if (ret)
		return ret;
	ps->state = (char *)"protected";
	ps->role = (char *)"primary";
	ps->generation = gen;
	ps->peer_generation = -1;
	return 0;
}

static const struct control_ops fake_ops = {
	.pause = fake_pause,
	.resume = fake_resume,
	.quit = fake_quit,
	.status = fake_status,
	.checkpoint = fake_checkpoint,
};

/* Runs on the loop thread: the servers are stopped where they run. */
static int32_t on_wake(int32_t fd, int32_t revents, void *data)
{
	struct server *s = data;

	control__stop(s->ctl[0]);
	control__stop(s->ctl[1]);
	qb_loop_stop(s->loop);
	return -1;  /* drop this fd from the loop */
}

static void *run_loop(void *arg)
{
	qb_loop_run(arg);
	return NULL;
}

static void setup(void)
{
	int i;

	memset(&srv, 0, sizeof(srv));
	srv.loop = qb_loop_create();
	ck_assert_ptr_nonnull(srv.loop);
	for (i = 0; i < 2; i++) {
		srv.vm[i].vcpus = 2 + 2 * i;
		srv.vm[i].mem = (1ULL << 30) << i;
		snprintf(srv.name[i], sizeof(srv.name[i]), "vmm-test-control-%d-%d",
			 (int)getpid(), i);
		ck_assert_int_eq(control__start_ops(&srv.ctl[i], &fake_ops, &srv.vm[i],
						    srv.loop, srv.name[i]), 0);
	}
	ck_assert_int_eq(pipe(srv.wake), 0);
	ck_assert_int_eq(qb_loop_poll_add(srv.loop, QB_LOOP_HIGH, srv.wake[0], POLLIN,
					  &srv, on_wake), 0);
	ck_assert_int_eq(pthread_create(&srv.thread, NULL, run_loop, srv.loop), 0);
}

static void teardown(void)
{
	ck_assert_int_eq(write(srv.wake[1], "x", 1), 1);
	pthread_join(srv.thread, NULL);
	qb_loop_destroy(srv.loop);
	close(srv.wake[0]);
	close(srv.wake[1]);
}

/* Send one command by name to server i; the reply must have arrived. */
static Vmm__Control__Response *command(int i, Vmm__Control__Request__CommandCase cmd)
{
	static Vmm__Control__StatusRequest status = VMM__CONTROL__STATUS_REQUEST__INIT;
	static Vmm__Control__PauseRequest pause = VMM__CONTROL__PAUSE_REQUEST__INIT;
	static Vmm__Control__ResumeRequest resume = VMM__CONTROL__RESUME_REQUEST__INIT;
	static Vmm__Control__QuitRequest quit = VMM__CONTROL__QUIT_REQUEST__INIT;
	Vmm__Control__Request req = VMM__CONTROL__REQUEST__INIT;
	Vmm__Control__Response *resp;
	char err[256];

	req.command_case = cmd;
	switch (cmd) {
	case VMM__CONTROL__REQUEST__COMMAND_STATUS: req.status = &status; break;
	case VMM__CONTROL__REQUEST__COMMAND_PAUSE: req.pause = &pause; break;
	case VMM__CONTROL__REQUEST__COMMAND_RESUME: req.resume = &resume; break;
	case VMM__CONTROL__REQUEST__COMMAND_QUIT: req.quit = &quit; break;
	default: break;
	}
	ck_assert_msg(ctl__request(srv.name[i], &req, &resp, err, sizeof(err)) == 0,
		      "request failed: %s", err);
	ck_assert_ptr_nonnull(resp);
	ck_assert_ptr_nonnull(resp->status);
	return resp;
}

/* A raw frame: header (id, claimed size) then `len` payload bytes. */
static Vmm__Control__Response *raw(struct ctl_conn *conn, int32_t id, int32_t claimed,
				   const void *payload, size_t len)
{
	struct qb_ipc_request_header *hdr;
	Vmm__Control__Response *resp;
	uint8_t buf[256] __attribute__((aligned(8)));
	char err[256];

	ck_assert_uint_le(sizeof(*hdr) + len, sizeof(buf));
	memset(buf, 0, sizeof(buf));
	hdr = (void *)buf;
	hdr->id = id;
	hdr->size = claimed;
	if (len)
		memcpy(buf + sizeof(*hdr), payload, len);
	ck_assert_msg(ctl__call_raw(conn, buf, sizeof(*hdr) + len, &resp, err,
				    sizeof(err)) == 0, "raw call failed: %s", err);
	return resp;
}

static void assert_refused(Vmm__Control__Response *resp, int code, const char *words)
{
	ck_assert(!resp->ok);
	ck_assert_int_eq(resp->code, code);
	ck_assert_msg(strstr(resp->error, words), "error '%s' lacks '%s'", resp->error, words);
	ck_assert_ptr_nonnull(resp->status);  /* status comes with every reply */
	vmm__control__response__free_unpacked(resp, NULL);
}

static void assert_status_works(struct ctl_conn *conn)
{
	static const uint8_t status[] = { 0x0a, 0x00 };  /* Request{status{}} */
	Vmm__Control__Response *resp;

	resp = raw(conn, CONTROL_MSG_REQUEST,
		   sizeof(struct qb_ipc_request_header) + sizeof(status), status, sizeof(status));
	ck_assert(resp->ok);
	ck_assert_str_eq(resp->status->state, "running");
	vmm__control__response__free_unpacked(resp, NULL);
}

START_TEST(test_status)
{
	Vmm__Control__Response *resp;

	resp = command(0, VMM__CONTROL__REQUEST__COMMAND_STATUS);
	ck_assert(resp->ok);
	ck_assert_str_eq(resp->error, "");
	ck_assert_int_eq(resp->code, 0);
	ck_assert_str_eq(resp->status->state, "running");
	ck_assert_uint_eq(resp->status->vcpus, 2);
	ck_assert_uint_eq(resp->status->memory_bytes, 1ULL << 30);
	ck_assert_uint_eq(resp->status->resets, 3);
	ck_assert_int_eq(resp->status->pid, getpid());
	ck_assert_uint_lt(resp->status->uptime_ms, 60000);
	ck_assert_str_eq(resp->status->stop_message, "");
	vmm__control__response__free_unpacked(resp, NULL);

	/* The second VM in the process answers for itself. */
	resp = command(1, VMM__CONTROL__REQUEST__COMMAND_STATUS);
	ck_assert_uint_eq(resp->status->vcpus, 4);
	ck_assert_uint_eq(resp->status->memory_bytes, 2ULL << 30);
	vmm__control__response__free_unpacked(resp, NULL);
	ck_assert_int_eq(LOAD(srv.vm[0].pauses) + LOAD(srv.vm[1].pauses), 0);
}
END_TEST

START_TEST(test_pause_resume)
{
	Vmm__Control__Response *resp;

	resp = command(0, VMM__CONTROL__REQUEST__COMMAND_PAUSE);
	ck_assert(resp->ok);
	ck_assert_str_eq(resp->status->state, "paused");
	vmm__control__response__free_unpacked(resp, NULL);
	ck_assert_int_eq(LOAD(srv.vm[0].pauses), 1);
	ck_assert_int_eq(LOAD(srv.vm[1].pauses), 0);

	resp = command(0, VMM__CONTROL__REQUEST__COMMAND_RESUME);
	ck_assert(resp->ok);
	ck_assert_str_eq(resp->status->state, "running");
	vmm__control__response__free_unpacked(resp, NULL);
	ck_assert_int_eq(LOAD(srv.vm[0].resumes), 1);
}
END_TEST

START_TEST(test_pause_failure)
{
	STORE(srv.vm[0].pause_errno, EBUSY);
	assert_refused(command(0, VMM__CONTROL__REQUEST__COMMAND_PAUSE), EBUSY,
		       "pause failed");
	ck_assert_int_eq(LOAD(srv.vm[0].pauses), 1);
}
END_TEST

START_TEST(test_quit)
{
	Vmm__Control__Response *resp;

	resp = command(1, VMM__CONTROL__REQUEST__COMMAND_QUIT);
	ck_assert(resp->ok);
	ck_assert_str_eq(resp->status->state, "stopped");
	ck_assert_str_eq(resp->status->stop_message, "quit \"requested\"");
	vmm__control__response__free_unpacked(resp, NULL);
	ck_assert_int_eq(LOAD(srv.vm[1].quits), 1);
	ck_assert_int_eq(LOAD(srv.vm[0].quits), 0);
}
END_TEST

START_TEST(test_connect_error)
{
	Vmm__Control__Request req = VMM__CONTROL__REQUEST__INIT;
	Vmm__Control__Response *resp = (void *)&req;
	char name[64], err[256], want[128];

	snprintf(name, sizeof(name), "vmm-test-control-%d-nobody", (int)getpid());
	snprintf(want, sizeof(want), "cannot connect to vmm control '%s': ", name);
	ck_assert_int_lt(ctl__request(name, &req, &resp, err, sizeof(err)), 0);
	ck_assert_ptr_null(resp);
	ck_assert_msg(!strncmp(err, want, strlen(want)), "unexpected error '%s'", err);
}
END_TEST

START_TEST(test_bad_frames)
{
	static const uint8_t garbage[] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
	static const uint8_t empty[] = { 0 };
	static const uint8_t future[] = { 0x4a, 0x00 };  /* field 9: a later command */
	const int32_t h = sizeof(struct qb_ipc_request_header);
	struct ctl_conn *conn;
	char err[256];

	ck_assert_msg(ctl__connect(&conn, srv.name[0], CTL_TIMEOUT_MS, err, sizeof(err)) == 0, "%s", err);

	assert_refused(raw(conn, CONTROL_MSG_REQUEST, h + sizeof(garbage), garbage,
			   sizeof(garbage)), EBADMSG, "do not decode");
	assert_status_works(conn);
	assert_refused(raw(conn, CONTROL_MSG_REQUEST, h - 8, garbage, sizeof(garbage)),
		       EBADMSG, "truncated");
	assert_refused(raw(conn, CONTROL_MSG_REQUEST, 100000, NULL, 0), EMSGSIZE,
		       "larger than");
	assert_refused(raw(conn, CONTROL_MSG_REQUEST, -5, NULL, 0), EMSGSIZE,
		       "larger than");
	assert_refused(raw(conn, 7, h, NULL, 0), EBADMSG, "unknown message id 7");
	assert_refused(raw(conn, CONTROL_MSG_REQUEST, h, empty, 0), EINVAL,
		       "empty request");
	assert_refused(raw(conn, CONTROL_MSG_REQUEST, h + sizeof(future), future,
			   sizeof(future)), EOPNOTSUPP, "unknown command (field 9)");
	assert_status_works(conn);
	ctl__disconnect(conn);

	/* Nothing reached the VM, and the server still serves new clients. */
	ck_assert_int_eq(LOAD(srv.vm[0].pauses) + LOAD(srv.vm[0].resumes) +
			 LOAD(srv.vm[0].quits), 0);
	vmm__control__response__free_unpacked(
		command(0, VMM__CONTROL__REQUEST__COMMAND_STATUS), NULL);
}
END_TEST

/*
 * Bad checkpointing requests as raw bytes, as another process could send
 * them: each is refused with its field named, nothing crashes, the
 * connection serves on; the old argv request (field 12) is an unknown one.
 */
START_TEST(test_checkpoint_replays)
{
	/* Request{protect{uri "x", on_standby_loss 5}} */
	static const uint8_t bad_enum[] = { 0x82, 0x01, 0x05, 0x0a, 0x01, 'x', 0x18, 0x05 };
	/* Request{protect{interval_ms 60001}}: no uri either; interval checked after */
	static const uint8_t no_uri[] = { 0x82, 0x01, 0x04, 0x10, 0xe1, 0xd4, 0x03 };
	/* Request{protect{uri "x", interval_ms 60001}} */
	static const uint8_t long_interval[] = { 0x82, 0x01, 0x07, 0x0a, 0x01, 'x',
						 0x10, 0xe1, 0xd4, 0x03 };
	/* Request{protect{uri "x", peer_generation 3}}: without check_peer_generation */
	static const uint8_t peer_alone[] = { 0x82, 0x01, 0x05, 0x0a, 0x01, 'x', 0x28, 0x03 };
	/* Request{activate{generation 5}}: without set_generation */
	static const uint8_t gen_alone[] = { 0x9a, 0x01, 0x02, 0x10, 0x05 };
	/* Request{12: CheckpointRequest{args "protect"}}: the removed argv form */
	static const uint8_t argv_form[] = { 0x62, 0x09, 0x0a, 0x07, 'p', 'r', 'o', 't', 'e',
					     'c', 't' };
	/* Request{protect{uri: 3 bytes claimed, 1 there}}: does not decode */
	static const uint8_t cut[] = { 0x82, 0x01, 0x03, 0x0a, 0x03, 'x' };
	const int32_t h = sizeof(struct qb_ipc_request_header);
	struct ctl_conn *conn;
	char err[256];

	ck_assert_msg(ctl__connect(&conn, srv.name[0], CTL_TIMEOUT_MS, err, sizeof(err)) == 0, "%s", err);
#define REPLAY(b, code, words) \
	assert_refused(raw(conn, CONTROL_MSG_REQUEST, h + sizeof(b), b, sizeof(b)), code, words)
	REPLAY(bad_enum, EINVAL, "protect: on_standby_loss 5 is neither DEGRADE (0) nor PAUSE (1)");
	REPLAY(no_uri, EINVAL, "protect: uri is empty");
	REPLAY(long_interval, EINVAL, "protect: interval_ms 60001 is out of range");
	REPLAY(peer_alone, EINVAL, "protect: peer_generation 3 is given without "
	       "check_peer_generation");
	REPLAY(gen_alone, EINVAL, "activate: generation 5 is given without set_generation");
	REPLAY(argv_form, EOPNOTSUPP, "unknown command (field 12)");
	REPLAY(cut, EBADMSG, "do not decode");
	REPLAY(cut, EBADMSG, "do not decode");
#undef REPLAY
	assert_status_works(conn);
	ctl__disconnect(conn);
}
END_TEST

/* The typed requests of the client API, through the server, and their replies. */
START_TEST(test_checkpoint_typed)
{
	Vmm__Control__Response *resp;
	struct ctl_conn *conn;
	struct ctl_req r;
	char err[256], uri[600];

	ck_assert_msg(ctl__connect(&conn, srv.name[0], CTL_TIMEOUT_MS, err, sizeof(err)) == 0, "%s", err);
	ck_assert_int_eq(ctl__req_init(&r, VMM__CONTROL__REQUEST__COMMAND_PROTECT), 0);
	r.u.protect.uri = (char *)"tcp:127.0.0.1:7000";
	r.u.protect.tls_none = true;
	ck_assert_msg(ctl__run(conn, &r, &resp, err, sizeof(err)) == 0, "%s", err);
	ck_assert_ptr_nonnull(resp->protect_status);
	ck_assert_str_eq(resp->protect_status->state, "protected");
	ck_assert_ptr_null(resp->net_status);
	vmm__control__response__free_unpacked(resp, NULL);

	/* A URI longer than the engine holds: refused by name, not cut. */
	memset(uri, 'a', sizeof(uri) - 1);
	uri[sizeof(uri) - 1] = '\0';
	r.u.protect.uri = uri;
	ck_assert_int_eq(ctl__run(conn, &r, &resp, err, sizeof(err)), -ENAMETOOLONG);
	ck_assert_ptr_null(resp);
	ck_assert_msg(strstr(err, "protect: uri is too long (599 bytes, at most 511)"), "%s", err);

	ck_assert_int_eq(ctl__req_init(&r, VMM__CONTROL__REQUEST__COMMAND_ACTIVATE), 0);
	r.u.activate.set_generation = true;
	r.u.activate.generation = 12;
	ck_assert_msg(ctl__run(conn, &r, &resp, err, sizeof(err)) == 0, "%s", err);
	ck_assert_uint_eq(resp->protect_status->generation, 12);
	vmm__control__response__free_unpacked(resp, NULL);

	ck_assert_int_eq(ctl__req_init(&r, VMM__CONTROL__REQUEST__COMMAND_NET_STATUS), 0);
	ck_assert_int_eq(ctl__run(conn, &r, &resp, err, sizeof(err)), -ENODEV);
	ck_assert_str_eq(err, "net-status: this VM has no network device (vmm run --net)");
	ctl__disconnect(conn);
}
END_TEST

/* A datagram shorter than its header claims must not borrow earlier bytes. */
START_TEST(test_short_datagram)
{
	/* status{} plus an unknown field 9 of 4 bytes: decodes, status ok. */
	static const uint8_t full[] = { 0x0a, 0x00, 0x4a, 0x04, 'a', 'b', 'c', 'd' };
	const int32_t h = sizeof(struct qb_ipc_request_header);
	Vmm__Control__Response *resp;
	struct ctl_conn *conn;
	char err[256];

	ck_assert_msg(ctl__connect(&conn, srv.name[0], CTL_TIMEOUT_MS, err, sizeof(err)) == 0, "%s", err);
	resp = raw(conn, CONTROL_MSG_REQUEST, h + sizeof(full), full, sizeof(full));
	ck_assert(resp->ok);
	vmm__control__response__free_unpacked(resp, NULL);
	/* Same claim, only the first 2 payload bytes sent. */
	assert_refused(raw(conn, CONTROL_MSG_REQUEST, h + sizeof(full), full, 2),
		       EBADMSG, "do not decode");
	assert_status_works(conn);
	ctl__disconnect(conn);
}
END_TEST

START_TEST(test_ctl_main)
{
	char *no_args[] = { "ctl", NULL };
	char *no_cmd[] = { "ctl", srv.name[0], NULL };
	char *bogus[] = { "ctl", srv.name[0], "bogus", NULL };
	char *extra[] = { "ctl", srv.name[0], "status", "more", NULL };
	char *bad_opt[] = { "ctl", "--bogus", srv.name[0], "status", NULL };
	char *help[] = { "ctl", "--help", NULL };
	char *status[] = { "ctl", srv.name[0], "status", NULL };
	char *json[] = { "ctl", srv.name[1], "status", "--json", NULL };
	char *pause[] = { "ctl", srv.name[0], "pause", NULL };
	char *nobody[] = { "ctl", "vmm-test-control-nobody", "status", NULL };

	ck_assert_int_eq(ctl_cli__main(1, no_args), 2);
	ck_assert_int_eq(ctl_cli__main(2, no_cmd), 2);
	ck_assert_int_eq(ctl_cli__main(3, bogus), 2);
	ck_assert_int_eq(ctl_cli__main(4, extra), 2);
	ck_assert_int_eq(ctl_cli__main(4, bad_opt), 2);
	ck_assert_int_eq(ctl_cli__main(2, help), 0);
	ck_assert_int_eq(ctl_cli__main(3, status), 0);
	ck_assert_int_eq(ctl_cli__main(4, json), 0);
	ck_assert_int_eq(ctl_cli__main(3, pause), 0);
	ck_assert_int_eq(LOAD(srv.vm[0].pauses), 1);
	STORE(srv.vm[0].pause_errno, EIO);
	ck_assert_int_eq(ctl_cli__main(3, pause), 1);
	ck_assert_int_eq(ctl_cli__main(3, nobody), 1);
	fflush(stdout);
}
END_TEST

/* Without a running loop thread: names are exclusive and released on stop. */
START_TEST(test_name_in_use)
{
	struct fake_vm f = { .vcpus = 1 };
	struct control *a, *b;
	qb_loop_t *loop = qb_loop_create();
	char name[64];

	snprintf(name, sizeof(name), "vmm-test-control-%d-dup", (int)getpid());
	ck_assert_int_eq(control__start_ops(&a, &fake_ops, &f, loop, name), 0);
	ck_assert_int_lt(control__start_ops(&b, &fake_ops, &f, loop, name), 0);
	ck_assert_ptr_null(b);
	control__stop(a);
	ck_assert_int_eq(control__start_ops(&b, &fake_ops, &f, loop, name), 0);
	control__stop(b);
	ck_assert_int_eq(control__start_ops(&b, &fake_ops, &f, loop, ""), -EINVAL);
	qb_loop_destroy(loop);
}
END_TEST

static Suite *control_suite(void)
{
	Suite *s = suite_create("control");
	TCase *tc = tcase_create("server");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_status);
	tcase_add_test(tc, test_pause_resume);
	tcase_add_test(tc, test_pause_failure);
	tcase_add_test(tc, test_quit);
	tcase_add_test(tc, test_connect_error);
	tcase_add_test(tc, test_bad_frames);
	tcase_add_test(tc, test_short_datagram);
	tcase_add_test(tc, test_checkpoint_replays);
	tcase_add_test(tc, test_checkpoint_typed);
	tcase_add_test(tc, test_ctl_main);
	suite_add_tcase(s, tc);

	tc = tcase_create("lifecycle");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_name_in_use);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(control_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
