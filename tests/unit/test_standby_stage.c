/*
 * A standby's staging (replication/checkpoint_standby.c) against a
 * checkpoint larger than any checkpoint of its VM can be: refused with
 * ENOMEM and a message (its status, its log, a negative Ack), the stream
 * ended at once, the standby lost (not killed, its last state kept).  A real standby object on a KVM VM
 * and a TCP loopback channel, the test as its primary.  Needs /dev/kvm.
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <qb/qbloop.h>

#include "replication/channel.h"
#include "replication/checkpoint.h"
#include "replication/wire.h"
#include "vmm/stream.h"
#include "vmm/vm.h"
#include "vmm/vm_state.h"
#include "tests/unit/kvmtest.h"

#define MIB (1ULL << 20)

static char kernel[512];

/* A connected pair: *srv the standby's end, *cli the test's. */
static void loopback(struct chan **srv, struct chan **cli)
{
	struct mig_uri u;
	const char *why = NULL;
	char err[256] = "";
	int lfd;

	ck_assert_int_eq(mig_uri__parse("tcp:127.0.0.1:0", &u, &why), 0);
	ck_assert_msg(chan__listen(&u, &lfd, err, sizeof(err)) == 0, "listen: %s", err);
	ck_assert_msg(chan__connect(cli, &u, NULL, 10000, err, sizeof(err)) == 0, "connect: %s",
		      err);
	ck_assert_msg(chan__accept(srv, lfd, NULL, 10000, 10000, err, sizeof(err)) == 0,
		      "accept: %s", err);
	close(lfd);
}

/* Checkpoint 1's message, then a state stream of page frames that never ends. */
static void send_oversized(struct chan *c, size_t frames)
{
	Replication__Message m = REPLICATION__MESSAGE__INIT;
	Replication__Checkpoint cp = REPLICATION__CHECKPOINT__INIT;
	size_t body = 4 + 16 + STREAM_BATCH_PAGES * STREAM_PAGE_SIZE;
	uint8_t hdr[16], *junk = calloc(1, body);

	cp.epoch = 1;
	m.msg_case = REPLICATION__MESSAGE__MSG_CHECKPOINT;
	m.checkpoint = &cp;
	ck_assert_int_eq(wire__write_msg(c, &m), 0);
	stream__put_le32(hdr, WIRE_FRAME_STATE);
	stream__put_le32(hdr + 4, 0);
	ck_assert_int_eq(chan__write(c, hdr, 8), 0);
	memcpy(hdr, STREAM_MAGIC, STREAM_MAGIC_LEN);
	memset(hdr + 8, 0, 8);
	hdr[8] = VM_STATE_MAJOR;
	hdr[10] = VM_STATE_MINOR;
	ck_assert_int_eq(chan__write(c, hdr, STREAM_PRELUDE_LEN), 0);
	/* The standby stops reading at its limit: the writes then fail. */
	for (size_t i = 0; i < frames; i++) {
		stream__put_le32(hdr, STREAM_FRAME_PAGES);
		stream__put_le32(hdr + 4, (uint32_t)body);
		if (chan__write(c, hdr, 8) || chan__write(c, junk, body))
			break;
	}
	chan__flush(c);
	free(junk);
}

START_TEST(oversized_checkpoint_refused)
{
	struct vm_config cfg = {
		.mem_size = 32 * MIB, .nr_vcpus = 1, .kernel_path = kernel,
		.serial = { SERIAL_NONE, NULL },
	};
	struct checkpoint *ck = calloc(1, sizeof(*ck));
	struct mig_fence fence = { 0 };
	qb_loop_t *loop = qb_loop_create();
	uint8_t *buf = malloc(WIRE_FRAME_MAX);
	struct chan *srv, *cli;
	const char *why = "";
	uint32_t type, len;
	struct vm vm;
	char status[4096];

	ck_assert_int_eq(vm__create(&vm, &cfg, &why), 0);
	ck_assert_int_eq(checkpoint__init(ck, &vm, loop, 0), 0);
	loopback(&srv, &cli);
	ck_assert_int_eq(checkpoint__standby_start(ck, srv, &fence, false), 0);
	/* Over the staging limit (RAM, 1/64 of it, 64 MiB: 96.5 MiB) by 24 MiB. */
	send_oversized(cli, (vm_state__staging_limit(&vm) >> 20) + 24);

	for (int i = 0; i < 200 && !atomic_load(&ck->thread_done); i++)
		kvmtest__sleep_ms(50);
	ck_assert_msg(atomic_load(&ck->thread_done), "the standby is still reading");
	checkpoint__format_status(ck, true, status, sizeof(status));
	ck_assert_msg(strstr(status, "\"state\":\"lost\"") &&
		      strstr(status, "\"error\":\"checkpoint 1 refused (ENOMEM): it is larger "
			     "than any checkpoint of this VM can be (RAM and disk: at most 96 MiB)"),
		      "status: %s", status);
	/*
	 * The stream was ended at once: the negative Ack sent before may be
	 * lost to the reset that the unread rest of the stream causes.
	 */
	ck_assert_int_ne(wire__read_frame(cli, buf, &type, &len, &why) ||
			 wire__read_frame(cli, buf, &type, &len, &why), 0);
	checkpoint__exit(ck);
	chan__close(cli);
	vm__destroy(&vm);
	qb_loop_destroy(loop);
	free(ck);
	free(buf);
}
END_TEST

static Suite *stage_suite(void)
{
	Suite *s = suite_create("standby_stage");
	TCase *tc = tcase_create("kvm");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, oversized_checkpoint_refused);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	/* A write to the standby after it ended the stream must fail, not kill. */
	signal(SIGPIPE, SIG_IGN);
	return kvmtest__main("test_standby_stage", "counter.elf", kernel, sizeof(kernel),
			     stage_suite);
}
