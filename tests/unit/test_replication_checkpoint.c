/*
 * The checkpoint loop without KVM: a primary and a standby checkpoint
 * (replication/checkpoint*.c) over a socket pair, each on a fake VM
 * (tests/unit/fakevm.c) behind the engine's port, both served by one
 * qb loop on this thread.
 *
 * The fake guest runs whenever no holder remains: it emits one unit of
 * output and writes its count into RAM (page 0) and into its device state
 * (the blob), so every checkpoint carries the output it may release.  The
 * invariant checked at every release of output on the primary: the
 * standby already applied a state holding that output (Remus's output
 * commit), i.e. output is let out only after its epoch's ack.
 */
#include "config.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <qb/qbloop.h>

#include "replication/channel.h"
#include "replication/checkpoint.h"
#include "tests/unit/fakevm.h"
#include "vmm/vm_hold.h"

#define MEM (4ULL << 20)
#define LIMIT_MS 20000   /* the loop ends by itself long before */

struct pair {
	qb_loop_t *loop;
	struct fakevm pv, sv;           /* primary's and standby's VMs */
	struct checkpoint p, s;
	uint64_t target;                /* stop once the standby applied this many */
	bool stop_on_policy;            /* stop once the primary's policy paused it */
	bool stop_on_open;              /* stop once the primary let all output out */
	uint64_t releases, violations;
	bool timed_out;
};

static uint64_t counter(struct fakevm *f)
{
	uint64_t v;

	memcpy(&v, f->mem, sizeof(v));
	return v;
}

/* The guest ran: one unit of output, its count in RAM and in the device state. */
static void guest_runs(struct fakevm *f)
{
	uint64_t n;

	fakevm__emit_locked(f);
	n = f->emitted;
	fakevm__write_locked(f, 0, &n, sizeof(n));
	fakevm__write_locked(f, (1 + n % 8) * 4096, &n, sizeof(n));
	f->blob[0] = (uint8_t)n;
}

static void on_primary(struct fakevm *f, const char *what, void *arg)
{
	struct pair *t = arg;

	if (!strcmp(what, "release") && f->run == VM_PORT_RUNNING && f->holding)
		guest_runs(f);
	if (!strcmp(what, "output")) {
		t->releases++;
		pthread_mutex_lock(&t->sv.lock);
		if (f->released > counter(&t->sv))
			t->violations++;
		pthread_mutex_unlock(&t->sv.lock);
		if (t->stop_on_open && f->released == f->emitted)
			qb_loop_stop(t->loop);
	}
	if (!strcmp(what, "hold") && t->stop_on_policy && (f->holders & VM_HOLD_POLICY))
		qb_loop_stop(t->loop);
}

static void on_standby(struct fakevm *f, const char *what, void *arg)
{
	struct pair *t = arg;

	if (!strcmp(what, "apply") && t->target && f->applies >= t->target)
		qb_loop_stop(t->loop);
}

static void time_limit(void *arg)
{
	struct pair *t = arg;

	t->timed_out = true;
	qb_loop_stop(t->loop);
}

/*
 * Both sides up: the standby at generation sgen (fence as given), the
 * primary at pgen with params pp; then the loop runs until a hook stops it
 * and both threads are joined.
 */
static void run_pair(struct pair *t, uint64_t pgen, const struct mig_fence *fence,
		     const struct checkpoint_params *pp)
{
	struct vm_port port;
	qb_loop_timer_handle th;
	struct chan *pc, *sc;
	char err[256] = "";
	int sv[2];

	t->loop = qb_loop_create();
	ck_assert_ptr_nonnull(t->loop);
	ck_assert_int_eq(fakevm__init(&t->pv, MEM), 0);
	ck_assert_int_eq(fakevm__init(&t->sv, MEM), 0);
	t->pv.on_change = on_primary;
	t->sv.on_change = on_standby;
	t->pv.arg = t->sv.arg = t;
	/* The standby is paused and holds what the sync gave it: the same RAM. */
	t->sv.run = VM_PORT_PAUSED;
	t->sv.holders = VM_HOLD_STANDBY;
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	ck_assert_int_eq(channel__wrap_fd(&pc, sv[0], 10000), 0);
	ck_assert_int_eq(channel__wrap_fd(&sc, sv[1], 10000), 0);
	fakevm__port(&t->sv, &port);
	ck_assert_int_eq(checkpoint__init(&t->s, &port, t->loop, fence->generation), 0);
	ck_assert_int_eq(checkpoint__standby_start(&t->s, sc, fence, false), 0);
	fakevm__port(&t->pv, &port);
	ck_assert_int_eq(checkpoint__init(&t->p, &port, t->loop, pgen), 0);
	ck_assert_int_eq(checkpoint__protect_synced(&t->p, pp, pc, err, sizeof(err)), 0);
	ck_assert_int_eq(qb_loop_timer_add(t->loop, QB_LOOP_LOW, LIMIT_MS * 1000000ULL, t,
					   time_limit, &th), 0);
	qb_loop_run(t->loop);
	ck_assert_msg(!t->timed_out, "the checkpoint loop did not get there in %d ms "
		      "(primary: %s, standby: %s)", LIMIT_MS, t->p.error, t->s.error);
	qb_loop_timer_del(t->loop, th);
	checkpoint__stop_thread(&t->p);
	checkpoint__stop_thread(&t->s);
}

static void end_pair(struct pair *t)
{
	checkpoint__exit(&t->p);
	checkpoint__exit(&t->s);
	qb_loop_destroy(t->loop);
	fakevm__free(&t->pv);
	fakevm__free(&t->sv);
	free(t);
}

static struct checkpoint_params params(bool pause_on_loss)
{
	struct checkpoint_params p = { .interval_ms = 1, .pause_on_loss = pause_on_loss };

	snprintf(p.mp.uri, sizeof(p.mp.uri), "tcp:127.0.0.1:1");
	p.mp.tls_none = true;
	return p;
}

/* Epochs commit in order; output leaves only after the standby holds it. */
START_TEST(epochs_commit_and_release_after_ack)
{
	struct pair *t = calloc(1, sizeof(*t));
	struct mig_fence fence = { .generation = 1 };
	struct checkpoint_params pp = params(false);

	t->target = 6;
	run_pair(t, 1, &fence, &pp);
	ck_assert_str_eq(t->p.error, "");
	ck_assert_uint_ge(t->s.st.committed_epoch, 6);
	ck_assert_uint_eq(t->s.st.committed_epoch, t->sv.applies);
	ck_assert_uint_eq(t->s.st.refused, 0);
	/* The primary saw acks for all but at most the one in flight. */
	ck_assert_uint_ge(t->p.st.committed_epoch + 1, t->s.st.committed_epoch);
	ck_assert_uint_gt(t->releases, 0);
	ck_assert_uint_eq(t->violations, 0);
	ck_assert_uint_gt(t->pv.released, 0);
	/* Held: what the guest emitted after the last acked capture. */
	ck_assert_uint_lt(t->pv.released, t->pv.emitted);
	/* RAM and device state of one epoch arrive together. */
	ck_assert_uint_eq((uint8_t)counter(&t->sv), t->sv.blob[0]);
	ck_assert_uint_ge(counter(&t->sv), t->pv.released);
	end_pair(t);
}
END_TEST

/* An ack the primary must not take (the standby is not the expected copy). */
START_TEST(ack_from_another_generation_releases_nothing)
{
	struct pair *t = calloc(1, sizeof(*t));
	struct mig_fence fence = { .generation = 8 };
	struct checkpoint_params pp = params(true);

	pp.check_peer_generation = true;
	pp.peer_generation = 7;
	t->stop_on_policy = true;
	run_pair(t, 9, &fence, &pp);
	ck_assert_int_eq(t->p.state, CKPT_PAUSED);
	ck_assert_ptr_nonnull(strstr(t->p.error, "standby has generation 8, expected 7"));
	/* The standby applied checkpoint 1, but its ack was refused: nothing left. */
	ck_assert_uint_eq(t->sv.applies, 1);
	ck_assert_uint_gt(t->pv.emitted, 0);
	ck_assert_uint_eq(t->pv.released, 0);
	ck_assert_uint_eq(t->releases, 0);
	ck_assert(t->pv.holders & VM_HOLD_POLICY);
	ck_assert_uint_eq(t->p.st.committed_epoch, 0);
	end_pair(t);
}
END_TEST

/* A primary of an older generation: the standby refuses its first checkpoint. */
START_TEST(stale_generation_refused_policy_pause)
{
	struct pair *t = calloc(1, sizeof(*t));
	struct mig_fence fence = { .generation = 5 };
	struct checkpoint_params pp = params(true);

	t->stop_on_policy = true;
	run_pair(t, 3, &fence, &pp);
	ck_assert_ptr_nonnull(strstr(t->p.error, "refused checkpoint 1: refused: stale "
				     "generation 3 (this standby is at 5)"));
	ck_assert_int_eq(t->p.state, CKPT_PAUSED);
	ck_assert_int_eq(t->s.state, CKPT_LOST);
	ck_assert_uint_eq(t->sv.applies, 0);
	ck_assert_uint_eq(t->s.st.committed_epoch, 0);
	ck_assert_uint_gt(t->pv.emitted, 0);
	ck_assert_uint_eq(t->pv.released, 0);
	end_pair(t);
}
END_TEST

/* The same refusal with --on-standby-loss degrade: the guest runs on, output leaves. */
START_TEST(stale_generation_refused_degrade)
{
	struct pair *t = calloc(1, sizeof(*t));
	struct mig_fence fence = { .generation = 5 };
	struct checkpoint_params pp = params(false);

	t->stop_on_open = true;
	run_pair(t, 3, &fence, &pp);
	ck_assert_int_eq(t->p.state, CKPT_DEGRADED);
	ck_assert_uint_eq(t->sv.applies, 0);
	ck_assert_uint_gt(t->pv.emitted, 0);
	ck_assert_uint_eq(t->pv.released, t->pv.emitted);
	ck_assert(!(t->pv.holders & VM_HOLD_POLICY));
	end_pair(t);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("replication_checkpoint");
	TCase *tc = tcase_create("loop");
	SRunner *sr;
	int failed;

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, epochs_commit_and_release_after_ack);
	tcase_add_test(tc, ack_from_another_generation_releases_nothing);
	tcase_add_test(tc, stale_generation_refused_policy_pause);
	tcase_add_test(tc, stale_generation_refused_degrade);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
