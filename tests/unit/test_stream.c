/*
 * The one framing layer (vmm/stream.h), without KVM: state frames and
 * migration frames written and read back through each backend (a memory
 * buffer, a file, a migration channel over a socket pair); a truncated or
 * corrupt frame refused with a message naming what is wrong; a frame of
 * one kind of stream refused in the other; the checksum hook (the running
 * SHA-256) catching one flipped byte, on the reader's side of every
 * backend and in the state parser.
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "replication/channel.h"
#include "replication/wire.h"
#include "vmm/state.pb-c.h"
#include "vmm/stream.h"
#include "vmm/vm_state.h"

#define MEM (1u << 20)        /* the "guest RAM" the migration frames address */
#define DISK (1u << 20)

enum backend { MEM_BUF, FILE_FD, CHANNEL, NR_BACKENDS };
static const char *const names[] = { "memory", "file", "channel" };

/* Two pages and a disk block with contents the reader can recognise. */
static uint8_t pages[2 * STREAM_PAGE_SIZE], block[1024];

static void fill(void)
{
	for (size_t i = 0; i < sizeof(pages); i++)
		pages[i] = (uint8_t)(i * 7 + 3);
	for (size_t i = 0; i < sizeof(block); i++)
		block[i] = (uint8_t)(i ^ 0x5a);
}

/* A state stream: prelude, a record, pages, a disk frame, a zero range, end. */
static int write_state(struct stream *s)
{
	Vmm__State__PageRange r = VMM__STATE__PAGE_RANGE__INIT;

	r.offset = 42;
	r.npages = 7;
	stream__digest_begin(s);
	stream__write_prelude(s, VM_STATE_MAJOR, VM_STATE_MINOR);
	stream__write_record(s, "test", 1, 0, &r.base);
	stream__write_pages(s, 0x3000, pages, 2);
	stream__write_disk(s, 4096, block, sizeof(block));
	stream__write_disk(s, 8192, NULL, 512);
	return stream__write_end(s);
}

/* A migration stream: prelude, a Round, a page batch, a disk batch, STATE. */
static int write_migration(struct stream *s)
{
	Replication__Message m = REPLICATION__MESSAGE__INIT;
	Replication__Round round = REPLICATION__ROUND__INIT;

	round.round = 3;
	m.msg_case = REPLICATION__MESSAGE__MSG_ROUND;
	m.round = &round;
	wire__write_prelude(s);
	wire__write_msg(s, &m);
	wire__write_pages(s, 0x5000, pages, 2, NULL, NULL, 0, NULL);
	wire__write_disk(s, 4096, block, sizeof(block), NULL);
	wire__write_state_start(s);
	return stream__flush(s);
}

/* --- the backends: write with one, read the same bytes back with it ----- */

struct pipe_job {
	struct chan *c;
	int (*write)(struct stream *s);
	int ret;
};

static void *chan_writer(void *arg)
{
	struct pipe_job *j = arg;

	j->ret = j->write(&j->c->s);
	channel__close(j->c);
	return NULL;
}

/* Bytes written through backend b, read back through b into *out. */
static size_t round_trip(enum backend b, int (*write)(struct stream *s), uint8_t **out)
{
	struct stream s;
	size_t len = 0;
	uint8_t *buf = NULL;

	if (b == MEM_BUF) {
		stream__init_mem(&s);
		ck_assert_int_eq(write(&s), 0);
		buf = stream__mem_take(&s, &len);
		stream__close(&s);
	} else if (b == FILE_FD) {
		int fd = memfd_create("stream", MFD_CLOEXEC);
		off_t end;

		ck_assert_int_ge(fd, 0);
		stream__init_fd(&s, fd);
		ck_assert_int_eq(write(&s), 0);
		stream__close(&s);
		end = lseek(fd, 0, SEEK_CUR);
		ck_assert_int_gt(end, 0);
		len = (size_t)end;
		buf = malloc(len);
		ck_assert_int_eq(lseek(fd, 0, SEEK_SET), 0);
		stream__init_fd(&s, fd);
		ck_assert_int_eq(stream__read(&s, buf, len), 0);
		/* Nothing after it: the backend sees the end. */
		ck_assert_int_eq(stream__read(&s, buf, 1), -ENODATA);
		stream__close(&s);
		close(fd);
	} else {
		struct pipe_job j = { .write = write };
		struct chan *rd;
		pthread_t t;
		int sv[2];
		size_t cap = 4u << 20;

		ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
		ck_assert_int_eq(channel__wrap_fd(&j.c, sv[0], 5000), 0);
		ck_assert_int_eq(channel__wrap_fd(&rd, sv[1], 5000), 0);
		ck_assert_int_eq(pthread_create(&t, NULL, chan_writer, &j), 0);
		buf = malloc(cap);
		/* Byte by byte to the end: exact reads through the channel's ops. */
		while (len < cap && !channel__read(rd, buf + len, 1))
			len++;
		ck_assert_int_eq(rd->s.error, -ENODATA);
		pthread_join(t, NULL);
		ck_assert_int_eq(j.ret, 0);
		channel__close(rd);
	}
	*out = buf;
	return len;
}

/* A reading stream of backend b over len bytes at buf (socket: a writer thread). */
struct reader {
	struct stream *s;
	struct stream mem;
	struct chan *c;
	int fd;
	pthread_t t;
	struct pipe_job job;
};

static const uint8_t *feed_buf;
static size_t feed_len;

static int feed(struct stream *s)
{
	stream__write(s, feed_buf, feed_len);
	return stream__flush(s);
}

static void reader_open(struct reader *r, enum backend b, const uint8_t *buf, size_t len)
{
	memset(r, 0, sizeof(*r));
	r->fd = -1;
	if (b == MEM_BUF) {
		stream__init_mem_read(&r->mem, buf, len);
		r->s = &r->mem;
	} else if (b == FILE_FD) {
		r->fd = memfd_create("stream", MFD_CLOEXEC);
		ck_assert_int_eq(write(r->fd, buf, len), (ssize_t)len);
		ck_assert_int_eq(lseek(r->fd, 0, SEEK_SET), 0);
		stream__init_fd(&r->mem, r->fd);
		r->s = &r->mem;
	} else {
		int sv[2];

		feed_buf = buf;
		feed_len = len;
		ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
		ck_assert_int_eq(channel__wrap_fd(&r->job.c, sv[0], 5000), 0);
		ck_assert_int_eq(channel__wrap_fd(&r->c, sv[1], 5000), 0);
		r->job.write = feed;
		ck_assert_int_eq(pthread_create(&r->t, NULL, chan_writer, &r->job), 0);
		r->s = &r->c->s;
	}
}

static void reader_close(struct reader *r)
{
	if (r->c) {
		channel__shutdown(r->c);
		pthread_join(r->t, NULL);
		channel__close(r->c);
	} else {
		stream__close(&r->mem);
	}
	if (r->fd >= 0)
		close(r->fd);
}

/*
 * Read a state stream frame by frame with the checksum hook on, as a
 * reader that does not stage: 0 when the end frame's digest is the one
 * the hook computed over what came before it, -EBADMSG when not.
 */
static int read_state_hooked(struct stream *s, uint32_t *types, int *n)
{
	uint8_t hdr[STREAM_FRAME_HDR_LEN], mine[STREAM_DIGEST_LEN], theirs[STREAM_DIGEST_LEN];
	uint8_t *body = malloc(STREAM_PAGES_FRAME_MAX);
	uint32_t type, len;
	int ret;

	*n = 0;
	stream__digest_begin(s);
	ret = stream__read(s, body, STREAM_PRELUDE_LEN);
	while (!ret) {
		ret = stream__read_frame_hdr(s, hdr, &type, &len);
		if (!ret && stream__check_frame(STREAM_KIND_STATE, type, len))
			ret = -EBADMSG;
		if (ret)
			break;
		types[(*n)++] = type;
		if (type == STREAM_FRAME_END) {
			ret = stream__digest_end(s, mine);
			if (!ret)
				ret = stream__read(s, theirs, sizeof(theirs));
			if (!ret && memcmp(mine, theirs, sizeof(mine)))
				ret = -EBADMSG;
			break;
		}
		ret = stream__read(s, body, len);
	}
	free(body);
	return ret;
}

static const uint32_t state_types[] = { STREAM_FRAME_RECORD, STREAM_FRAME_PAGES,
					STREAM_FRAME_DISK, STREAM_FRAME_DISK, STREAM_FRAME_END };

START_TEST(test_state_round_trip)
{
	uint8_t *buf;
	size_t len;
	uint32_t types[16];
	int n;
	struct reader r;
	struct vm_state_parsed p;
	const char *err = NULL;

	fill();
	len = round_trip(_i, write_state, &buf);
	ck_assert_msg(len > sizeof(pages) + sizeof(block), "%s: %zu bytes", names[_i], len);
	ck_assert_int_eq(memcmp(buf, STREAM_MAGIC, STREAM_MAGIC_LEN), 0);
	/* Every backend wrote the same bytes: one serializer. */
	if (_i != MEM_BUF) {
		uint8_t *ref;
		size_t rlen = round_trip(MEM_BUF, write_state, &ref);

		ck_assert_uint_eq(rlen, len);
		ck_assert_int_eq(memcmp(ref, buf, len), 0);
		free(ref);
	}
	reader_open(&r, _i, buf, len);
	ck_assert_int_eq(read_state_hooked(r.s, types, &n), 0);
	reader_close(&r);
	ck_assert_int_eq(n, 5);
	ck_assert_int_eq(memcmp(types, state_types, sizeof(state_types)), 0);
	/* The parser's framing and digest passes take it (it has no vm record). */
	memset(&p, 0, sizeof(p));
	ck_assert_int_ne(vm_state__parse(buf, len, &p, &err), 0);
	ck_assert_ptr_eq(strstr(err, "SHA-256"), NULL);
	ck_assert_ptr_eq(strstr(err, "truncated"), NULL);
	vm_state__free_parsed(&p);
	free(buf);
}
END_TEST

START_TEST(test_state_flipped_byte)
{
	uint8_t *buf;
	size_t len = round_trip(MEM_BUF, write_state, &buf);
	/* A byte of the second page, deep inside a frame the framing accepts. */
	uint8_t *page = memmem(buf, len, pages + STREAM_PAGE_SIZE, 64);
	uint32_t types[16];
	int n;
	struct reader r;
	struct vm_state_parsed p;
	const char *err = NULL;

	ck_assert_ptr_ne(page, NULL);
	page[17] ^= 0x01;
	reader_open(&r, _i, buf, len);
	ck_assert_int_eq(read_state_hooked(r.s, types, &n), -EBADMSG);
	reader_close(&r);
	ck_assert_int_eq(n, 5);   /* framing intact: only the checksum saw it */
	memset(&p, 0, sizeof(p));
	ck_assert_int_eq(vm_state__parse(buf, len, &p, &err), -EBADMSG);
	ck_assert_str_eq(err, "the state stream is corrupt (SHA-256 mismatch)");
	vm_state__free_parsed(&p);
	free(buf);
}
END_TEST

/*
 * stream__read_frame with the digest on checks the end frame as it arrives
 * (the migration destination's way, no second pass): 0 and the digest off
 * for the stream as written; -EILSEQ at the end frame, after every other
 * frame was taken, for one with a byte of a page flipped.
 */
static int read_frames_hashed(struct stream *s, int *n)
{
	uint8_t *frame = malloc(STREAM_FRAME_HDR_LEN + STREAM_PAGES_FRAME_MAX);
	uint32_t type = 0;
	size_t total;
	int ret;

	*n = 0;
	ret = stream__digest_begin(s);
	if (!ret)
		ret = stream__read(s, frame, STREAM_PRELUDE_LEN);
	while (!ret && type != STREAM_FRAME_END) {
		ret = stream__read_frame(s, frame, STREAM_FRAME_HDR_LEN + STREAM_PAGES_FRAME_MAX,
					 &type, &total);
		(*n)++;
	}
	free(frame);
	return ret;
}

START_TEST(test_state_hashed_on_arrival)
{
	uint8_t *buf;
	size_t len = round_trip(MEM_BUF, write_state, &buf);
	uint8_t *page = memmem(buf, len, pages + STREAM_PAGE_SIZE, 64);
	struct reader r;
	int n;

	reader_open(&r, _i, buf, len);
	ck_assert_int_eq(read_frames_hashed(r.s, &n), 0);
	ck_assert_int_eq(n, 5);
	ck_assert_ptr_eq(r.s->md, NULL);
	reader_close(&r);
	ck_assert_ptr_ne(page, NULL);
	page[17] ^= 0x01;
	reader_open(&r, _i, buf, len);
	ck_assert_int_eq(read_frames_hashed(r.s, &n), -EILSEQ);
	ck_assert_int_eq(n, 5);
	reader_close(&r);
	free(buf);
}
END_TEST

START_TEST(test_migration_round_trip)
{
	uint8_t *buf, *frame = malloc(WIRE_FRAME_MAX), *out = malloc(MEM);
	size_t len;
	struct wire_frame f;
	const char *err = "";
	uint32_t type, flen;
	struct reader r;

	fill();
	len = round_trip(_i, write_migration, &buf);
	ck_assert_int_eq(memcmp(buf, WIRE_MAGIC, STREAM_MAGIC_LEN), 0);
	reader_open(&r, _i, buf, len);
	ck_assert_int_eq(wire__read_prelude(r.s, &err), 0);

	ck_assert_int_eq(wire__read_frame(r.s, frame, &type, &flen, &err), 0);
	ck_assert_int_eq(wire__decode(type, frame + STREAM_FRAME_HDR_LEN, flen, MEM, NULL, out, &f,
				      &err), 0);
	ck_assert_int_eq(f.type, STREAM_FRAME_MSG);
	ck_assert_int_eq(f.msg->msg_case, REPLICATION__MESSAGE__MSG_ROUND);
	ck_assert_uint_eq(f.msg->round->round, 3);
	wire__frame_free(&f);

	ck_assert_int_eq(wire__read_frame(r.s, frame, &type, &flen, &err), 0);
	ck_assert_int_eq(wire__decode(type, frame + STREAM_FRAME_HDR_LEN, flen, MEM, NULL, out, &f,
				      &err), 0);
	ck_assert_int_eq(f.type, STREAM_FRAME_BATCH);
	ck_assert_uint_eq(f.offset, 0x5000);
	ck_assert_uint_eq(f.npages, 2);
	ck_assert_int_eq(memcmp(f.pages, pages, sizeof(pages)), 0);

	ck_assert_int_eq(wire__read_frame(r.s, frame, &type, &flen, &err), 0);
	ck_assert_int_eq(type, STREAM_FRAME_DISK_BATCH);
	ck_assert_int_eq(wire__decode_disk(frame + STREAM_FRAME_HDR_LEN, flen, DISK, &f, &err), 0);
	ck_assert_uint_eq(f.offset, 4096);
	ck_assert_uint_eq(f.disk_len, sizeof(block));
	ck_assert_int_eq(memcmp(f.pages, block, sizeof(block)), 0);

	ck_assert_int_eq(wire__read_state_start(r.s), 0);
	reader_close(&r);
	free(buf);
	free(frame);
	free(out);
}
END_TEST

/* What wire__read_frame says of buf (a migration stream after its prelude). */
static int read_one(enum backend b, const uint8_t *buf, size_t len, const char **err)
{
	uint8_t *frame = malloc(WIRE_FRAME_MAX);
	uint32_t type, flen;
	struct reader r;
	int ret;

	*err = "";
	reader_open(&r, b, buf, len);
	ret = wire__read_frame(r.s, frame, &type, &flen, err);
	reader_close(&r);
	free(frame);
	return ret;
}

START_TEST(test_migration_refused)
{
	uint8_t *buf;
	size_t first;
	const uint8_t *body;
	uint8_t hdr[STREAM_FRAME_HDR_LEN];
	const char *err;

	round_trip(MEM_BUF, write_migration, &buf);
	body = buf + STREAM_PRELUDE_LEN;
	first = STREAM_FRAME_HDR_LEN + stream__get_le32(body + 4);
	/* Cut inside the first frame's body: the end of the stream, said so. */
	ck_assert_int_eq(read_one(_i, body, first - 1, &err), -ENODATA);
	ck_assert_str_eq(err, "the migration stream ended or stalled inside a frame");
	/* Cut inside a header. */
	ck_assert_int_eq(read_one(_i, body, 5, &err), -ENODATA);
	ck_assert_str_eq(err, "the migration stream ended or stalled between frames");
	/* A frame type nobody knows. */
	stream__put_frame_hdr(hdr, 0x99, 4);
	ck_assert_int_eq(read_one(_i, hdr, sizeof(hdr), &err), -EBADMSG);
	ck_assert_str_eq(err, "refused: the migration stream has a frame of unknown type");
	/* A state stream's frame (a record) is not a migration frame. */
	stream__put_frame_hdr(hdr, STREAM_FRAME_RECORD, 4);
	ck_assert_int_eq(read_one(_i, hdr, sizeof(hdr), &err), -EBADMSG);
	ck_assert_str_eq(err, "refused: the migration stream has a frame of unknown type");
	/* Longer than its type allows: refused before the body is read. */
	stream__put_frame_hdr(hdr, STREAM_FRAME_MSG, STREAM_MSG_MAX + 1);
	ck_assert_int_eq(read_one(_i, hdr, sizeof(hdr), &err), -EBADMSG);
	ck_assert_str_eq(err, "refused: a migration frame is longer than its type allows");
	stream__put_frame_hdr(hdr, STREAM_FRAME_STATE, 1);
	ck_assert_int_eq(read_one(_i, hdr, sizeof(hdr), &err), -EBADMSG);
	ck_assert_str_eq(err, "refused: a migration frame is longer than its type allows");
	free(buf);
}
END_TEST

START_TEST(test_migration_corrupt)
{
	uint8_t *buf, *fb = malloc(WIRE_FRAME_MAX);
	size_t len = round_trip(MEM_BUF, write_migration, &buf);
	size_t first = STREAM_FRAME_HDR_LEN + stream__get_le32(buf + STREAM_PRELUDE_LEN + 4);
	struct wire_frame f;
	const char *err = "";
	struct reader r;

	/* The page batch is whole, its header length is not. */
	buf[STREAM_PRELUDE_LEN + first + STREAM_FRAME_HDR_LEN] = 0xff;
	reader_open(&r, _i, buf, len);
	ck_assert_int_eq(wire__read_prelude(r.s, &err), 0);
	ck_assert_int_eq(wire__next_frame(r.s, fb, MEM, &f, &err), 0);
	wire__frame_free(&f);
	ck_assert_int_eq(wire__next_frame(r.s, fb, MEM, &f, &err), -EBADMSG);
	ck_assert_str_eq(err, "refused: a page frame has a bad header length");
	reader_close(&r);
	/* A state stream's magic where the migration's belongs. */
	reader_open(&r, _i, (const uint8_t *)STREAM_MAGIC "\0\0\0\0\0\0\0\0", 16);
	ck_assert_int_eq(wire__read_prelude(r.s, &err), -EBADMSG);
	ck_assert_str_eq(err, "refused: not a migration stream (bad magic; garbage or "
			 "another protocol)");
	reader_close(&r);
	free(buf);
	free(fb);
}
END_TEST

START_TEST(test_state_refused)
{
	uint8_t *buf, *mig;
	size_t len = round_trip(MEM_BUF, write_state, &buf);
	uint8_t frame[64];
	uint32_t type;
	size_t total;
	struct stream s;
	struct vm_state_parsed p;
	const char *err = NULL;

	round_trip(MEM_BUF, write_migration, &mig);
	memset(&p, 0, sizeof(p));
	ck_assert_int_eq(vm_state__parse(buf, len - 1, &p, &err), -EBADMSG);
	ck_assert_str_eq(err, "the state stream is truncated (inside a frame)");
	ck_assert_int_eq(vm_state__parse(buf, len - STREAM_DIGEST_LEN - STREAM_FRAME_HDR_LEN, &p,
					 &err), -EBADMSG);
	ck_assert_str_eq(err, "the state stream is truncated (no end frame)");
	/* A migration frame (MSG) in a state stream: unknown there. */
	ck_assert_int_eq(stream__check_frame(STREAM_KIND_STATE, STREAM_FRAME_MSG, 10), -ENOMSG);
	ck_assert_int_eq(stream__check_frame(STREAM_KIND_MIGRATION, STREAM_FRAME_MSG, 10), 0);
	ck_assert_int_eq(stream__check_frame(STREAM_KIND_STATE, STREAM_FRAME_PAGES,
					     STREAM_PAGES_FRAME_MAX + 1), -EMSGSIZE);
	memcpy(buf + STREAM_PRELUDE_LEN, mig + STREAM_PRELUDE_LEN, STREAM_FRAME_HDR_LEN);
	ck_assert_int_eq(vm_state__parse(buf, len, &p, &err), -EBADMSG);
	ck_assert_str_eq(err, "the state stream has a frame of unknown type");
	stream__init_mem_read(&s, buf + STREAM_PRELUDE_LEN, len - STREAM_PRELUDE_LEN);
	ck_assert_int_eq(stream__read_frame(&s, frame, sizeof(frame), &type, &total), -EBADMSG);
	stream__close(&s);
	vm_state__free_parsed(&p);
	free(buf);
	free(mig);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("stream");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_set_timeout(tc, 30);
	tcase_add_loop_test(tc, test_state_round_trip, 0, NR_BACKENDS);
	tcase_add_loop_test(tc, test_state_flipped_byte, 0, NR_BACKENDS);
	tcase_add_loop_test(tc, test_state_hashed_on_arrival, 0, NR_BACKENDS);
	tcase_add_loop_test(tc, test_migration_round_trip, 0, NR_BACKENDS);
	tcase_add_loop_test(tc, test_migration_refused, 0, NR_BACKENDS);
	tcase_add_loop_test(tc, test_migration_corrupt, 0, NR_BACKENDS);
	tcase_add_test(tc, test_state_refused);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
