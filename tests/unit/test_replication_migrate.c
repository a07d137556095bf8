/*
 * A pre-copy migration without KVM: the sender (replication/migrate_*.c)
 * on one fake VM, the receiver (migrate__incoming_fd) on another, over
 * TCP on the loopback, each VM behind the engine's port
 * (tests/unit/fakevm.c).  The sender's main-thread steps run on a qb loop
 * on this thread; the receiver runs on a thread of its own, as the vmm
 * runs it before its VM starts.
 *
 * The fake guest keeps writing pages while the rounds go on (many at each
 * of the first harvests of the dirty log, then a few, then none), so the
 * rounds must catch up and the switch-over carry the last few.
 */
#include "config.h"

#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <qb/qbloop.h>

#include "replication/channel.h"
#include "replication/migrate.h"
#include "tests/unit/fakevm.h"
#include "vmm/vm_hold.h"

#define SRC_MEM (4ULL << 20)
#define LIMIT_MS 20000   /* the loop ends by itself long before */
#define DIRTY_HARVESTS 3 /* the guest writes much during the first rounds */
#define DIRTY_PAGES 200  /* per round: 24 ms at 64 MiB/s, over the 10 ms limit */
#define LAST_PAGES 5     /* then a few that fit the limit: the switch-over's */

struct trip {
	qb_loop_t *loop;
	struct fakevm src, dst;
	struct migrate m;
	int lfd;
	struct mig_tls tls;
	struct mig_fence fence;
	struct mig_incoming how;
	int dst_ret;
	char dst_err[256];
	unsigned harvests;
	bool timed_out;
};

/* The guest between two harvests: pages of new data, a new device state. */
static void on_src(struct fakevm *f, const char *what, void *arg)
{
	struct trip *t = arg;
	uint64_t n;

	/* It runs only while nothing holds it (not at the switch-over's harvest). */
	if (!strcmp(what, "harvest") && !f->holders) {
		t->harvests++;
		n = t->harvests <= DIRTY_HARVESTS ? DIRTY_PAGES :
		    t->harvests == DIRTY_HARVESTS + 1 ? LAST_PAGES : 0;
		for (uint64_t i = 0; i < n; i++) {
			uint64_t v = t->harvests * 1000 + i;

			fakevm__write_locked(f, (16 + i * 4) * 4096 + 8 * t->harvests, &v, sizeof(v));
		}
		if (n)
			f->blob[1] = (uint8_t)t->harvests;
	}
	if (!strcmp(what, "stop"))
		qb_loop_stop(t->loop);
}

static void *receiver(void *arg)
{
	struct trip *t = arg;
	struct vm_port port;

	fakevm__port(&t->dst, &port);
	t->dst_ret = migrate__incoming_fd(&port, t->lfd, NULL, &t->how, NULL, t->dst_err,
					  sizeof(t->dst_err));
	return NULL;
}

static void time_limit(void *arg)
{
	struct trip *t = arg;

	t->timed_out = true;
	qb_loop_stop(t->loop);
}

/* Destination memory of dst_mem bytes; the source's RAM holds a pattern. */
static struct trip *trip_new(uint64_t dst_mem, char *uri, size_t urilen)
{
	struct trip *t = calloc(1, sizeof(*t));
	struct mig_uri u;
	const char *why;
	char err[256];

	ck_assert_ptr_nonnull(t);
	t->loop = qb_loop_create();
	ck_assert_ptr_nonnull(t->loop);
	ck_assert_int_eq(fakevm__init(&t->src, SRC_MEM), 0);
	ck_assert_int_eq(fakevm__init(&t->dst, dst_mem), 0);
	t->src.on_change = on_src;
	t->src.arg = t;
	t->dst.run = VM_PORT_OTHER;   /* created, not started */
	for (uint64_t pg = 0; pg < SRC_MEM / 4096; pg += 3)
		memset(t->src.mem + pg * 4096, (int)(pg % 251) + 1, 4096);
	memset(t->src.blob, 0x5a, sizeof(t->src.blob));
	ck_assert_int_eq(mig_uri__parse("tcp:127.0.0.1:0", &u, &why), 0);
	ck_assert_int_eq(channel__listen(&u, &t->lfd, err, sizeof(err)), 0);
	snprintf(uri, urilen, "tcp:127.0.0.1:%s", u.port);
	t->tls.none = true;
	t->how = (struct mig_incoming){ .uri = uri, .tls = &t->tls, .fence = &t->fence };
	return t;
}

/* The migration to its end: the source quits once the destination acked. */
static void trip_run(struct trip *t, const char *uri)
{
	/* Paced and with a short limit: the guest's writes take rounds to catch up. */
	struct migrate_params p = { .tls_none = true, .bandwidth_mibs = 64, .downtime_ms = 10 };
	qb_loop_timer_handle th;
	struct vm_port port;
	pthread_t rt;
	char err[256] = "";

	snprintf(p.uri, sizeof(p.uri), "%s", uri);
	fakevm__port(&t->src, &port);
	ck_assert_int_eq(migrate__init(&t->m, &port, t->loop), 0);
	ck_assert_int_eq(pthread_create(&rt, NULL, receiver, t), 0);
	ck_assert_msg(!migrate__start(&t->m, &p, err, sizeof(err)), "start: %s", err);
	ck_assert_int_eq(qb_loop_timer_add(t->loop, QB_LOOP_LOW, LIMIT_MS * 1000000ULL, t,
					   time_limit, &th), 0);
	qb_loop_run(t->loop);
	qb_loop_timer_del(t->loop, th);
	ck_assert_msg(!t->timed_out, "the migration did not end in %d ms (source: %s, "
		      "destination: %s)", LIMIT_MS, t->m.info.error, t->dst_err);
	pthread_join(rt, NULL);
}

static void trip_free(struct trip *t)
{
	migrate__exit(&t->m);
	close(t->lfd);
	qb_loop_destroy(t->loop);
	fakevm__free(&t->src);
	fakevm__free(&t->dst);
	free(t);
}

/* Rounds converge, the switch-over carries the rest, the source quits. */
START_TEST(precopy_converges_and_switches_over)
{
	char uri[64];
	struct trip *t = trip_new(SRC_MEM, uri, sizeof(uri));

	trip_run(t, uri);
	ck_assert_msg(t->dst_ret == 0, "destination: %s", t->dst_err);
	ck_assert_int_eq(t->m.info.state, MIGRATE_COMPLETED);
	/* Round 1, one round per large burst of writes, then the switch-over. */
	ck_assert_uint_ge(t->m.info.round, 1 + DIRTY_HARVESTS);
	ck_assert_uint_gt(t->m.info.pages_sent, SRC_MEM / 4096 / 3 + DIRTY_HARVESTS * DIRTY_PAGES);
	/* Every page and the device state arrived, the last few writes included. */
	ck_assert(!memcmp(t->src.mem, t->dst.mem, SRC_MEM));
	ck_assert(!memcmp(t->src.blob, t->dst.blob, sizeof(t->src.blob)));
	ck_assert_uint_eq(t->dst.applies, 1);
	/* The source was held from the switch-over on, then quit. */
	ck_assert(t->src.holders & VM_HOLD_MIGRATION);
	ck_assert_int_eq(t->src.run, VM_PORT_STOPPED);
	ck_assert_ptr_nonnull(strstr(t->src.stop_message, "migrated to tcp:127.0.0.1:"));
	trip_free(t);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("replication_migrate");
	TCase *tc = tcase_create("precopy");
	SRunner *sr;
	int failed;

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, precopy_converges_and_switches_over);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
