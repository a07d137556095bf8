/* The migration stream's framing (wire.h), writing and pure decoding. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zstd.h>
#include <openssl/crypto.h>
#include <qb/qblog.h>

#include "replication/channel.h"
#include "replication/wire.h"
#include "vmm/stream.h"

#define FAIL(msg)                      \
	do {                           \
		*err = (msg);          \
		return -EBADMSG;       \
	} while (0)

int wire__write_prelude(struct stream *s)
{
	return stream__write_prelude_magic(s, WIRE_MAGIC, WIRE_MAJOR, WIRE_MINOR);
}

int wire__write_msg(struct stream *s, const Replication__Message *m)
{
	size_t len = replication__message__get_packed_size(m);
	uint8_t stackbuf[256], *buf = len <= sizeof(stackbuf) ? stackbuf : malloc(len);
	int ret;

	if (!buf)
		return -ENOMEM;
	if (len > STREAM_MSG_MAX)
		ret = -EMSGSIZE;
	else {
		replication__message__pack(m, buf);
		ret = stream__write_frame_hdr(s, STREAM_FRAME_MSG, (uint32_t)len);
		if (!ret)
			ret = stream__write(s, buf, len);
	}
	if (buf != stackbuf)
		free(buf);
	return ret;
}

/*
 * A batch frame's size on the wire.  Not the stream's byte count: another
 * thread may read the same channel meanwhile.
 */
static uint64_t batch_bytes(const ProtobufCMessage *hdr, size_t data_len)
{
	return STREAM_FRAME_HDR_LEN + 4 + protobuf_c_message_get_packed_size(hdr) + data_len;
}

size_t wire__scratch_len(void)
{
	return ZSTD_compressBound(STREAM_BATCH_PAGES * STREAM_PAGE_SIZE);
}

int wire__write_pages(struct stream *s, uint64_t offset, const void *data, uint32_t npages,
		      ZSTD_CCtx *cctx, void *scratch, size_t scratch_len, uint64_t *wire_bytes)
{
	Replication__PageBatch b = REPLICATION__PAGE_BATCH__INIT;
	size_t raw = (size_t)npages * STREAM_PAGE_SIZE;
	const void *body = data;
	int ret;

	if (!npages || npages > STREAM_BATCH_PAGES)
		return -EINVAL;
	b.offset = offset;
	b.npages = npages;
	b.data_len = (uint32_t)raw;
	if (cctx) {
		/* Level 1: at these speeds zstd's fastest level is the only one that pays. */
		size_t z = ZSTD_compressCCtx(cctx, scratch, scratch_len, data, raw, 1);

		if (!ZSTD_isError(z) && z < raw - raw / 16) {
			b.compressed = true;
			b.data_len = (uint32_t)z;
			body = scratch;
		}
	}
	ret = stream__write_batch_hdr(s, STREAM_FRAME_BATCH, &b.base, b.data_len);
	if (!ret)
		ret = stream__write(s, body, b.data_len);
	if (wire_bytes)
		*wire_bytes += batch_bytes(&b.base, b.data_len);
	return ret;
}

int wire__write_disk(struct stream *s, uint64_t offset, const void *data, uint32_t len,
		     uint64_t *wire_bytes)
{
	Replication__DiskBatch b = REPLICATION__DISK_BATCH__INIT;
	uint32_t body = data ? len : 0;
	int ret;

	if (!len || len > STREAM_DISK_MAX)
		return -EINVAL;
	b.offset = offset;
	b.length = len;
	b.zero = !data;
	ret = stream__write_batch_hdr(s, STREAM_FRAME_DISK_BATCH, &b.base, body);
	if (!ret && body)
		ret = stream__write(s, data, body);
	if (wire_bytes)
		*wire_bytes += batch_bytes(&b.base, body);
	return ret;
}

int wire__write_state_start(struct stream *s)
{
	return stream__write_frame_hdr(s, STREAM_FRAME_STATE, 0);
}

int wire__read_state_start(struct stream *s)
{
	uint8_t hdr[STREAM_FRAME_HDR_LEN];
	uint32_t type, len;
	int ret = stream__read_frame_hdr(s, hdr, &type, &len);

	return ret ? ret : type != STREAM_FRAME_STATE || len ? -EPROTO : 0;
}

int wire__read_prelude(struct stream *s, const char **err)
{
	uint8_t p[STREAM_PRELUDE_LEN];
	int ret = stream__read(s, p, STREAM_MAGIC_LEN);

	if (ret) {
		*err = "the connection ended before a migration stream began";
		return ret;
	}
	if (memcmp(p, WIRE_MAGIC, STREAM_MAGIC_LEN)) {
		*err = "refused: not a migration stream (bad magic; garbage or another protocol)";
		return -EBADMSG;
	}
	ret = stream__read(s, p + STREAM_MAGIC_LEN, STREAM_PRELUDE_LEN - STREAM_MAGIC_LEN);
	if (ret) {
		*err = "the migration stream is truncated (in its prelude)";
		return ret;
	}
	if (stream__get_le16(p + 8) != WIRE_MAJOR)
		FAIL("refused: the migration stream has another major version");
	if (stream__get_le32(p + 12))
		FAIL("refused: the migration stream uses unknown prelude flags");
	return 0;
}

int wire__read_frame(struct stream *s, uint8_t *buf, uint32_t *type, uint32_t *len,
		     const char **err)
{
	int ret = stream__read_frame_hdr(s, buf, type, len);

	if (ret) {
		*err = "the migration stream ended or stalled between frames";
		return ret;
	}
	switch (stream__check_frame(STREAM_KIND_MIGRATION, *type, *len)) {
	case 0:
		break;
	case -ENOMSG:
		FAIL("refused: the migration stream has a frame of unknown type");
	default:
		FAIL("refused: a migration frame is longer than its type allows");
	}
	ret = stream__read(s, buf + STREAM_FRAME_HDR_LEN, *len);
	if (ret)
		*err = "the migration stream ended or stalled inside a frame";
	return ret;
}

/* Offsets of ZeroPages and PageRequest: page-aligned, inside RAM. */
static bool offsets_ok(const uint64_t *o, size_t n, uint64_t mem_size)
{
	for (size_t i = 0; i < n; i++)
		if (o[i] % STREAM_PAGE_SIZE || o[i] >= mem_size)
			return false;
	return true;
}

static const char *check_msg(const Replication__Message *m, uint64_t mem_size)
{
	uint64_t pages = (mem_size / STREAM_PAGE_SIZE + 7) / 8 * 8;
	const Replication__Discard *d = m->discard;
	const Replication__PostcopyHave *h = m->postcopy_have;

	switch (m->msg_case) {
	case REPLICATION__MESSAGE__MSG_ZERO:
		if (!offsets_ok(m->zero->offsets, m->zero->n_offsets, mem_size))
			return "refused: a zero-page offset lies outside guest RAM";
		return NULL;
	case REPLICATION__MESSAGE__MSG_PAGE_REQUEST:
		if (m->page_request->n_offsets > WIRE_REQUEST_MAX)
			return "refused: a page request asks for too many pages";
		if (!offsets_ok(m->page_request->offsets, m->page_request->n_offsets, mem_size))
			return "refused: a page request lies outside guest RAM";
		return NULL;
	case REPLICATION__MESSAGE__MSG_DISCARD:
		if (d->bitmap.len > WIRE_DISCARD_BYTES || d->first_page % 8 ||
		    d->first_page > pages || d->bitmap.len * 8 > pages - d->first_page)
			return "refused: a discard bitmap lies outside guest RAM";
		return NULL;
	case REPLICATION__MESSAGE__MSG_POSTCOPY_HAVE:
		if (h->bitmap.len > WIRE_DISCARD_BYTES || h->first_page % 8 ||
		    h->first_page > pages || h->bitmap.len * 8 > pages - h->first_page)
			return "refused: a post-copy bitmap lies outside guest RAM";
		return NULL;
	case REPLICATION__MESSAGE__MSG__NOT_SET:
		return "refused: an empty or unknown migration control message";
	default:
		return NULL;
	}
}

static int decode_msg(const uint8_t *body, size_t len, uint64_t mem_size,
		      struct wire_frame *f, const char **err)
{
	Replication__Message *m = replication__message__unpack(NULL, len, body);
	const char *why;

	if (!m)
		FAIL("refused: a migration control message does not decode");
	why = check_msg(m, mem_size);
	if (why) {
		replication__message__free_unpacked(m, NULL);
		*err = why;
		return -EBADMSG;
	}
	f->msg = m;
	return 0;
}

static int decode_pages(const uint8_t *body, size_t len, uint64_t mem_size, ZSTD_DCtx *dctx,
			uint8_t *out, struct wire_frame *f, const char **err)
{
	Replication__PageBatch *b;
	uint32_t hlen;
	size_t raw;
	int ret = -EBADMSG;

	switch (stream__batch_split(body, len, STREAM_BATCH_HDR_MAX, &hlen)) {
	case 0:
		break;
	case -ENODATA:
		FAIL("refused: a page frame is too short");
	default:
		FAIL("refused: a page frame has a bad header length");
	}
	b = replication__page_batch__unpack(NULL, hlen, body + 4);
	if (!b)
		FAIL("refused: a page frame header does not decode");
	raw = (size_t)b->npages * STREAM_PAGE_SIZE;
	if (!b->npages || b->npages > STREAM_BATCH_PAGES)
		*err = "refused: a page frame has a bad page count";
	else if (b->offset % STREAM_PAGE_SIZE || b->offset > mem_size || raw > mem_size - b->offset)
		*err = "refused: a page frame lies outside guest RAM";
	else if (b->data_len != len - 4 - hlen)
		*err = "refused: a page frame's data length is wrong";
	else if (!b->compressed && b->data_len != raw)
		*err = "refused: a page frame's data length is wrong";
	else
		ret = 0;
	if (!ret && b->compressed) {
		size_t raw_max = STREAM_BATCH_PAGES * STREAM_PAGE_SIZE;
		size_t n = dctx ? ZSTD_decompressDCtx(dctx, out, raw_max,
						      body + 4 + hlen, b->data_len) : 0;

		if (!dctx || ZSTD_isError(n) || n != raw) {
			*err = "refused: a compressed page frame does not inflate to its pages";
			ret = -EBADMSG;
		}
		f->pages = out;
	} else if (!ret) {
		f->pages = body + 4 + hlen;
	}
	f->offset = b->offset;
	f->npages = b->npages;
	replication__page_batch__free_unpacked(b, NULL);
	return ret;
}

int wire__decode(uint32_t type, const uint8_t *body, size_t len, uint64_t mem_size,
		 ZSTD_DCtx *dctx, uint8_t *out, struct wire_frame *f, const char **err)
{
	memset(f, 0, sizeof(*f));
	f->type = type;
	switch (type) {
	case STREAM_FRAME_MSG:
		return decode_msg(body, len, mem_size, f, err);
	case STREAM_FRAME_BATCH:
		return decode_pages(body, len, mem_size, dctx, out, f, err);
	case STREAM_FRAME_STATE:
		if (len)
			FAIL("refused: a state frame must be empty");
		return 0;
	default:
		FAIL("refused: the migration stream has a frame of unknown type");
	}
}

int wire__decode_disk(const uint8_t *body, size_t len, uint64_t disk_size,
		      struct wire_frame *f, const char **err)
{
	Replication__DiskBatch *b;
	uint32_t hlen;
	int ret = -EBADMSG;

	memset(f, 0, sizeof(*f));
	f->type = STREAM_FRAME_DISK_BATCH;
	if (!disk_size)
		FAIL("refused: a disk frame, but no disk copy was agreed at the hello");
	switch (stream__batch_split(body, len, STREAM_BATCH_HDR_MAX, &hlen)) {
	case 0:
		break;
	case -ENODATA:
		FAIL("refused: a disk frame is too short");
	default:
		FAIL("refused: a disk frame has a bad header length");
	}
	b = replication__disk_batch__unpack(NULL, hlen, body + 4);
	if (!b)
		FAIL("refused: a disk frame header does not decode");
	f->offset = b->offset;
	f->disk_len = b->length;
	f->pages = b->zero ? NULL : body + 4 + hlen;
	switch (stream__check_disk_range(b->offset, b->length, b->zero, len - 4 - hlen, disk_size,
					 STREAM_DISK_MAX)) {
	case 0:
		ret = 0;
		break;
	case -EMSGSIZE:
		*err = "refused: a disk frame's length is wrong";
		break;
	default:
		*err = "refused: a disk frame lies outside the disk image";
	}
	replication__disk_batch__free_unpacked(b, NULL);
	return ret;
}

void wire__frame_free(struct wire_frame *f)
{
	if (f->msg)
		replication__message__free_unpacked(f->msg, NULL);
	f->msg = NULL;
}

int wire__next_frame(struct stream *s, uint8_t *buf, uint64_t mem_size, struct wire_frame *f,
		     const char **err)
{
	uint32_t type, len;
	int ret = wire__read_frame(s, buf, &type, &len, err);

	memset(f, 0, sizeof(*f));
	if (!ret)
		ret = wire__decode(type, buf + STREAM_FRAME_HDR_LEN, len, mem_size, NULL, NULL, f,
				   err);
	return ret;
}

/* --- data connections (destination) ------------------------------------- */

uint64_t wire__now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* The prelude and a DataHello with this nonce: 0, or why not. */
static int read_data_hello(struct chan *c, uint8_t *buf, const uint8_t *nonce,
			   struct wire_data_hello *dh, const char **why)
{
	struct wire_frame f = { 0 };
	const Replication__DataHello *h;
	int ret = wire__read_prelude(&c->s, why);

	/* No RAM here: a frame that needs one is refused, as it should be. */
	if (!ret)
		ret = wire__next_frame(&c->s, buf, 0, &f, why);
	if (ret)
		return ret;
	h = f.msg && f.msg->msg_case == REPLICATION__MESSAGE__MSG_DATA_HELLO ?
	    f.msg->data_hello : NULL;
	if (!h) {
		*why = "refused: it does not open with a data hello";
		ret = -EPROTO;
	} else if (h->nonce.len != WIRE_NONCE_LEN ||
		   CRYPTO_memcmp(h->nonce.data, nonce, WIRE_NONCE_LEN)) {
		*why = "refused: it belongs to another session (nonce)";
		ret = -EPROTO;
	} else {
		dh->index = h->index;
		dh->requests = h->requests;
	}
	wire__frame_free(&f);
	return ret;
}

int wire__accept_data(const struct wire_accept *a, struct chan **out,
		      struct wire_data_hello *dh, char *err, size_t errlen)
{
	for (;;) {
		uint64_t now = wire__now_ns();
		int left = now < a->end_ns ? (int)((a->end_ns - now + 999999) / 1000000) : 0;
		const char *why = "";
		struct chan *c;
		int ret;

		if (!left) {
			snprintf(err, errlen, "the source's connections did not all come in time");
			return -ETIMEDOUT;
		}
		ret = channel__accept(&c, a->lfd, a->ctx, left, left < WIRE_PREAUTH_MS ? left :
				   WIRE_PREAUTH_MS, err, errlen);
		if (ret == -ECONNABORTED) {
			qb_log(LOG_WARNING, "%s: a connection dropped, from %s", a->what, err);
			continue;
		}
		if (ret)
			return ret;
		ret = read_data_hello(c, a->buf, a->nonce, dh, &why);
		if (!ret) {
			channel__set_timeout(c, a->timeout_ms);
			*out = c;
			return 0;
		}
		qb_log(LOG_WARNING, "%s: a connection dropped, from %s: %s%s%s", a->what, c->peer,
		       why,
		       ret == -EBADMSG || ret == -EPROTO ? "" : ": ",
		       ret == -EBADMSG || ret == -EPROTO ? "" : channel__strerror(ret));
		channel__close(c);
	}
}
