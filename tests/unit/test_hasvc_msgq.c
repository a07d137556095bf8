/*
 * The bounded queues of cluster messages (hasvc/msgq.c): first in, first
 * out, packed bytes that decode to what was pushed, the message limit and
 * the byte limit refusing with -ENOBUFS (and leaving the queue as it was),
 * room again after a drop, clear, dropping the messages a test picks.
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "hasvc/msgq.h"

/* An operator message for vm, request id n: its packed size grows with vm. */
static int push_op(struct msgq *q, const char *vm, uint64_t n)
{
	Hasvc__Cluster__Msg m = HASVC__CLUSTER__MSG__INIT;
	Hasvc__Cluster__Operator op = HASVC__CLUSTER__OPERATOR__INIT;

	m.sender = (char *)"a";
	op.vm = (char *)vm;
	op.request = n;
	m.body_case = HASVC__CLUSTER__MSG__BODY_OP;
	m.op = &op;
	return msgq__push(q, &m);
}

static uint64_t first_request(const struct msgq *q)
{
	const struct msgq_item *it = msgq__first(q);
	Hasvc__Cluster__Msg *m;
	uint64_t r;

	ck_assert_ptr_nonnull(it);
	m = hasvc__cluster__msg__unpack(NULL, it->len, it->buf);
	ck_assert_ptr_nonnull(m);
	ck_assert_int_eq(m->body_case, HASVC__CLUSTER__MSG__BODY_OP);
	ck_assert_str_eq(m->sender, "a");
	r = m->op->request;
	hasvc__cluster__msg__free_unpacked(m, NULL);
	return r;
}

START_TEST(test_fifo)
{
	struct msgq q;

	msgq__init(&q, 100, 1 << 20);
	ck_assert_ptr_null(msgq__first(&q));
	for (uint64_t i = 1; i <= 50; i++)
		ck_assert_int_eq(push_op(&q, "web1", i), 0);
	ck_assert_uint_eq(q.n, 50);
	for (uint64_t i = 1; i <= 50; i++) {
		ck_assert_uint_eq(first_request(&q), i);
		msgq__drop_first(&q);
	}
	ck_assert_uint_eq(q.n, 0);
	ck_assert_uint_eq(q.bytes, 0);
	ck_assert_ptr_null(msgq__first(&q));
	msgq__drop_first(&q); /* empty: nothing happens */
	ck_assert_uint_eq(q.n, 0);
}
END_TEST

START_TEST(test_count_limit)
{
	struct msgq q;

	msgq__init(&q, 3, 1 << 20);
	for (uint64_t i = 1; i <= 3; i++)
		ck_assert_int_eq(push_op(&q, "web1", i), 0);
	ck_assert_int_eq(push_op(&q, "web1", 4), -ENOBUFS);
	ck_assert_uint_eq(q.n, 3);
	msgq__drop_first(&q);
	ck_assert_int_eq(push_op(&q, "web1", 5), 0);
	for (uint64_t want = 2; q.n; want++) {
		ck_assert_uint_eq(first_request(&q), want == 4 ? 5 : want);
		msgq__drop_first(&q);
	}
}
END_TEST

START_TEST(test_byte_limit)
{
	struct msgq q;
	char big[200];
	size_t one, before;

	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = 0;
	msgq__init(&q, 1000, 500);
	ck_assert_int_eq(push_op(&q, "web1", 1), 0);
	one = q.bytes;
	ck_assert_uint_gt(one, 0);
	ck_assert_int_eq(push_op(&q, big, 2), 0);
	ck_assert_int_eq(push_op(&q, big, 3), 0);
	before = q.bytes;
	ck_assert_uint_le(before, 500);
	/* A third big one would pass 500 bytes: refused, nothing changes. */
	ck_assert_int_eq(push_op(&q, big, 4), -ENOBUFS);
	ck_assert_uint_eq(q.bytes, before);
	ck_assert_uint_eq(q.n, 3);
	/* A small one that fits still goes in (13 + 210 + 210 + 13 bytes). */
	ck_assert_uint_le(before + one, 500);
	ck_assert_int_eq(push_op(&q, "web1", 5), 0);
	msgq__drop_first(&q);
	msgq__drop_first(&q);
	ck_assert_int_eq(push_op(&q, big, 6), 0);
	msgq__clear(&q);
	ck_assert_uint_eq(q.n, 0);
	ck_assert_uint_eq(q.bytes, 0);
	ck_assert_ptr_null(msgq__first(&q));
}
END_TEST

START_TEST(test_message_larger_than_limit)
{
	struct msgq q;
	char big[200];

	memset(big, 'y', sizeof(big) - 1);
	big[sizeof(big) - 1] = 0;
	msgq__init(&q, 10, 100);
	ck_assert_int_eq(push_op(&q, big, 1), -ENOBUFS);
	ck_assert_uint_eq(q.n, 0);
	ck_assert_uint_eq(q.bytes, 0);
	msgq__init(&q, 0, 100);
	ck_assert_int_eq(push_op(&q, "web1", 1), -ENOBUFS);
}
END_TEST

static bool odd_request(const struct msgq_item *it, void *arg)
{
	Hasvc__Cluster__Msg *m = hasvc__cluster__msg__unpack(NULL, it->len, it->buf);
	bool odd;

	ck_assert_ptr_nonnull(m);
	odd = m->op->request % 2;
	hasvc__cluster__msg__free_unpacked(m, NULL);
	++*(unsigned *)arg;
	return odd;
}

START_TEST(test_drop_if)
{
	struct msgq q;
	unsigned asked = 0;
	size_t bytes;

	msgq__init(&q, 6, 1000);
	for (uint64_t i = 1; i <= 6; i++)
		ck_assert_int_eq(push_op(&q, "web1", i), 0);
	bytes = q.bytes;
	ck_assert_uint_eq(msgq__drop_if(&q, odd_request, &asked), 3);
	ck_assert_uint_eq(asked, 6);
	ck_assert_uint_eq(q.n, 3);
	ck_assert_uint_lt(q.bytes, bytes);
	/* The others stay, in their order; the room is there again. */
	ck_assert_uint_eq(first_request(&q), 2);
	ck_assert_int_eq(push_op(&q, "web1", 8), 0);
	msgq__drop_first(&q);
	ck_assert_uint_eq(first_request(&q), 4);
	msgq__drop_first(&q);
	ck_assert_uint_eq(first_request(&q), 6);
	msgq__drop_first(&q);
	ck_assert_uint_eq(first_request(&q), 8);
	msgq__clear(&q);
	ck_assert_uint_eq(q.bytes, 0);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("hasvc_msgq");
	TCase *tc = tcase_create("msgq");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, test_fifo);
	tcase_add_test(tc, test_count_limit);
	tcase_add_test(tc, test_byte_limit);
	tcase_add_test(tc, test_message_larger_than_limit);
	tcase_add_test(tc, test_drop_if);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
