/*
 * The serializer: one set of framing helpers over the backends here (file,
 * socket, memory) and the migration channel's (replication/channel.c).
 * Errors are sticky: after the first failure every call returns it, so
 * callers may check once at the end of a sequence.
 */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "vmm/state.pb-c.h"
#include "vmm/stream.h"

#define FD_WBUF_SIZE (256u << 10)

static void hash(struct stream *s, const void *buf, size_t len)
{
	if (s->md && len && EVP_DigestUpdate(s->md, buf, len) != 1)
		s->error = -EIO;
}

/* Wait until a non-blocking fd is ready; blocking fds never get here. */
static int wait_fd(int fd, short events)
{
	struct pollfd p = { .fd = fd, .events = events };

	while (poll(&p, 1, -1) < 0)
		if (errno != EINTR)
			return -errno;
	return 0;
}

static int fd_write_all(int fd, const uint8_t *p, size_t len)
{
	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN) {
				int ret = wait_fd(fd, POLLOUT);

				if (ret)
					return ret;
				continue;
			}
			return -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int fd_flush(struct stream *s)
{
	int ret = fd_write_all(s->fd, s->buf, s->len);

	s->len = 0;
	return ret;
}

static int fd_write(struct stream *s, const void *buf, size_t len)
{
	int ret;

	if (!s->buf) {
		s->buf = malloc(FD_WBUF_SIZE);
		if (!s->buf)
			return -ENOMEM;
		s->cap = FD_WBUF_SIZE;
		s->owns_buf = true;
	}
	if (s->len + len <= s->cap) {
		memcpy(s->buf + s->len, buf, len);
		s->len += len;
		return 0;
	}
	ret = fd_flush(s);
	if (ret)
		return ret;
	/* Large writes (page batches) skip the buffer. */
	if (len >= s->cap)
		return fd_write_all(s->fd, buf, len);
	memcpy(s->buf, buf, len);
	s->len = len;
	return 0;
}

static int fd_read(struct stream *s, void *buf, size_t len)
{
	uint8_t *p = buf;

	while (len) {
		ssize_t n = read(s->fd, p, len);

		if (n == 0)
			return -ENODATA;
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN) {
				int ret = wait_fd(s->fd, POLLIN);

				if (ret)
					return ret;
				continue;
			}
			return -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int mem_write(struct stream *s, const void *buf, size_t len)
{
	if (len > s->cap - s->len) {
		size_t cap = s->cap ? s->cap : 64u << 10;
		uint8_t *nb;

		while (cap - s->len < len) {
			if (cap > SIZE_MAX / 2)
				return -ENOMEM;
			cap *= 2;
		}
		nb = realloc(s->buf, cap);
		if (!nb)
			return -ENOMEM;
		s->buf = nb;
		s->cap = cap;
	}
	memcpy(s->buf + s->len, buf, len);
	s->len += len;
	return 0;
}

static int mem_read(struct stream *s, void *buf, size_t len)
{
	if (len > s->len - s->pos)
		return -ENODATA;
	memcpy(buf, s->buf + s->pos, len);
	s->pos += len;
	return 0;
}

static int no_flush(struct stream *s)
{
	return 0;
}

static const struct stream_ops fd_ops = { fd_write, fd_read, fd_flush };
static const struct stream_ops mem_ops = { mem_write, mem_read, no_flush };

void stream__init_fd(struct stream *s, int fd)
{
	memset(s, 0, sizeof(*s));
	s->ops = &fd_ops;
	s->fd = fd;
}

void stream__init_mem(struct stream *s)
{
	memset(s, 0, sizeof(*s));
	s->ops = &mem_ops;
	s->fd = -1;
	s->owns_buf = true;
}

void stream__init_mem_buf(struct stream *s, uint8_t *buf, size_t cap)
{
	stream__init_mem(s);
	s->buf = buf;
	s->cap = buf ? cap : 0;
}

void stream__init_mem_read(struct stream *s, const void *buf, size_t len)
{
	memset(s, 0, sizeof(*s));
	s->ops = &mem_ops;
	s->fd = -1;
	s->buf = (uint8_t *)buf;
	s->len = s->cap = len;
}

void stream__close(struct stream *s)
{
	if (s->md)
		EVP_MD_CTX_free(s->md);
	if (s->owns_buf)
		free(s->buf);
	s->md = NULL;
	s->buf = NULL;
	s->len = s->cap = s->pos = 0;
}

uint8_t *stream__mem_take(struct stream *s, size_t *len)
{
	uint8_t *b = s->buf;

	*len = s->len;
	s->buf = NULL;
	s->len = s->cap = 0;
	return b;
}

int stream__write(struct stream *s, const void *buf, size_t len)
{
	if (s->error)
		return s->error;
	hash(s, buf, len);
	if (!s->error)
		s->error = s->ops->write(s, buf, len);
	if (!s->error)
		s->bytes += len;
	return s->error;
}

int stream__read(struct stream *s, void *buf, size_t len)
{
	if (s->error)
		return s->error;
	s->error = s->ops->read(s, buf, len);
	if (!s->error) {
		hash(s, buf, len);
		s->bytes += len;
	}
	return s->error;
}

int stream__flush(struct stream *s)
{
	if (!s->error)
		s->error = s->ops->flush(s);
	return s->error;
}

int stream__digest_begin(struct stream *s)
{
	if (s->seal_later)
		return 0;
	if (s->md)
		EVP_MD_CTX_free(s->md);
	s->md = EVP_MD_CTX_new();
	if (!s->md || EVP_DigestInit_ex(s->md, EVP_sha256(), NULL) != 1) {
		s->error = -ENOMEM;
		return s->error;
	}
	return 0;
}

int stream__digest_warm(void)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	int ok = md && EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1;

	EVP_MD_CTX_free(md);
	return ok ? 0 : -ENOMEM;
}

void stream__digest_move(struct stream *to, struct stream *from)
{
	if (to->md)
		EVP_MD_CTX_free(to->md);
	to->md = from->md;
	from->md = NULL;
}

int stream__digest_end(struct stream *s, uint8_t out[STREAM_DIGEST_LEN])
{
	unsigned len = 0;
	int ok;

	if (!s->md)
		return -EINVAL;
	ok = EVP_DigestFinal_ex(s->md, out, &len) == 1 && len == STREAM_DIGEST_LEN;
	EVP_MD_CTX_free(s->md);
	s->md = NULL;
	return ok ? 0 : -EIO;
}

int stream__write_prelude(struct stream *s, uint16_t major, uint16_t minor)
{
	return stream__write_prelude_magic(s, STREAM_MAGIC, major, minor);
}

int stream__write_prelude_magic(struct stream *s, const char *magic, uint16_t major,
				uint16_t minor)
{
	uint8_t p[STREAM_PRELUDE_LEN] = { 0 };

	memcpy(p, magic, STREAM_MAGIC_LEN);
	p[8] = (uint8_t)major;
	p[9] = (uint8_t)(major >> 8);
	p[10] = (uint8_t)minor;
	p[11] = (uint8_t)(minor >> 8);
	/* bytes 12-15: flags, none defined yet */
	return stream__write(s, p, sizeof(p));
}

int stream__write_frame_hdr(struct stream *s, uint32_t type, uint32_t len)
{
	uint8_t h[STREAM_FRAME_HDR_LEN];

	stream__put_frame_hdr(h, type, len);
	return stream__write(s, h, sizeof(h));
}

int stream__read_frame_hdr(struct stream *s, uint8_t hdr[STREAM_FRAME_HDR_LEN], uint32_t *type,
			   uint32_t *len)
{
	int ret = stream__read(s, hdr, STREAM_FRAME_HDR_LEN);

	if (!ret)
		stream__get_frame_hdr(hdr, type, len);
	return ret;
}

/* Packs msg (a sub-message) then the envelope around it. */
int stream__write_record(struct stream *s, const char *name, uint32_t version,
			 uint32_t instance, const ProtobufCMessage *msg)
{
	Vmm__State__Record rec = VMM__STATE__RECORD__INIT;
	size_t plen = protobuf_c_message_get_packed_size(msg), rlen;
	uint8_t *payload = NULL, *packed = NULL;
	int ret = -ENOMEM;

	if (s->error)
		return s->error;
	if (plen > STREAM_RECORD_MAX - 256)
		return s->error = -EMSGSIZE;
	payload = malloc(plen ? plen : 1);
	if (!payload)
		goto out;
	protobuf_c_message_pack(msg, payload);
	rec.name = (char *)name;
	rec.version = version;
	rec.instance = instance;
	rec.payload.data = payload;
	rec.payload.len = plen;
	rlen = vmm__state__record__get_packed_size(&rec);
	packed = malloc(rlen);
	if (!packed)
		goto out;
	vmm__state__record__pack(&rec, packed);
	ret = stream__write_frame_hdr(s, STREAM_FRAME_RECORD, (uint32_t)rlen);
	if (!ret)
		ret = stream__write(s, packed, rlen);
out:
	free(payload);
	free(packed);
	if (ret && !s->error)
		s->error = ret;
	return ret;
}

int stream__write_batch_hdr(struct stream *s, uint32_t type, const ProtobufCMessage *hdr,
			    size_t data_len)
{
	uint8_t h[4 + STREAM_BATCH_HDR_MAX];
	size_t hlen = protobuf_c_message_get_packed_size(hdr);

	if (s->error)
		return s->error;
	if (hlen > STREAM_BATCH_HDR_MAX)
		return s->error = -EMSGSIZE;
	stream__put_le32(h, (uint32_t)hlen);
	protobuf_c_message_pack(hdr, h + 4);
	stream__write_frame_hdr(s, type, (uint32_t)(4 + hlen + data_len));
	return stream__write(s, h, 4 + hlen);
}

int stream__batch_split(const uint8_t *body, size_t len, uint32_t max, uint32_t *hlen)
{
	if (len < 4)
		return -ENODATA;
	*hlen = stream__get_le32(body);
	return *hlen > max || *hlen > len - 4 ? -EMSGSIZE : 0;
}

int stream__write_pages(struct stream *s, uint64_t offset, const void *pages,
			uint32_t npages)
{
	Vmm__State__PageRange r = VMM__STATE__PAGE_RANGE__INIT;
	size_t data = (size_t)npages * STREAM_PAGE_SIZE;

	if (npages == 0 || npages > STREAM_BATCH_PAGES)
		return -EINVAL;
	r.offset = offset;
	r.npages = npages;
	stream__write_batch_hdr(s, STREAM_FRAME_PAGES, &r.base, data);
	return stream__write(s, pages, data);
}

int stream__write_disk(struct stream *s, uint64_t offset, const void *data, uint32_t len)
{
	Vmm__State__DiskRange r = VMM__STATE__DISK_RANGE__INIT;
	int ret;

	if (len == 0 || len > STREAM_DISK_MAX)
		return -EINVAL;
	r.offset = offset;
	r.length = len;
	r.zero = !data;
	ret = stream__write_batch_hdr(s, STREAM_FRAME_DISK, &r.base, data ? len : 0);
	return data && !ret ? stream__write(s, data, len) : ret;
}

int stream__check_disk_range(uint64_t offset, uint32_t length, bool zero, uint64_t data_len,
			     uint64_t size, uint32_t max)
{
	if (!length || length > max || length % 512 || data_len != (zero ? 0 : length))
		return -EMSGSIZE;
	if (offset % STREAM_PAGE_SIZE || offset > size || length > size - offset)
		return -ERANGE;
	return 0;
}

int stream__write_end(struct stream *s)
{
	uint8_t d[STREAM_DIGEST_LEN];
	int ret;

	if (s->seal_later)
		return stream__flush(s);
	ret = stream__write_frame_hdr(s, STREAM_FRAME_END, STREAM_DIGEST_LEN);

	if (ret)
		return ret;
	ret = stream__digest_end(s, d);
	if (ret)
		return s->error = ret;
	ret = stream__write(s, d, sizeof(d));
	return ret ? ret : stream__flush(s);
}

int stream__seal_mem(uint8_t **buf, size_t *len)
{
	uint8_t *b = realloc(*buf, *len + STREAM_FRAME_HDR_LEN + STREAM_DIGEST_LEN);
	unsigned n = 0;

	if (!b)
		return -ENOMEM;
	*buf = b;
	stream__put_frame_hdr(b + *len, STREAM_FRAME_END, STREAM_DIGEST_LEN);
	*len += STREAM_FRAME_HDR_LEN;
	/* The digest covers every byte before it, the end frame's header too. */
	if (EVP_Digest(b, *len, b + *len, &n, EVP_sha256(), NULL) != 1 || n != STREAM_DIGEST_LEN)
		return -EIO;
	*len += STREAM_DIGEST_LEN;
	return 0;
}

/* The one table of frame types and their limits, for both kinds of stream. */
static const struct {
	uint32_t type;
	enum stream_kind kind;
	uint32_t max;
} frames[] = {
	{ STREAM_FRAME_RECORD, STREAM_KIND_STATE, STREAM_RECORD_MAX },
	{ STREAM_FRAME_PAGES, STREAM_KIND_STATE, STREAM_PAGES_FRAME_MAX },
	{ STREAM_FRAME_END, STREAM_KIND_STATE, STREAM_DIGEST_LEN },
	{ STREAM_FRAME_DISK, STREAM_KIND_STATE, STREAM_DISK_FRAME_MAX },
	{ STREAM_FRAME_MSG, STREAM_KIND_MIGRATION, STREAM_MSG_MAX },
	{ STREAM_FRAME_BATCH, STREAM_KIND_MIGRATION, STREAM_BATCH_FRAME_MAX },
	{ STREAM_FRAME_STATE, STREAM_KIND_MIGRATION, 0 },
	{ STREAM_FRAME_DISK_BATCH, STREAM_KIND_MIGRATION, STREAM_DISK_FRAME_MAX },
};

int stream__check_frame(enum stream_kind kind, uint32_t type, uint32_t len)
{
	for (size_t i = 0; i < sizeof(frames) / sizeof(frames[0]); i++)
		if (frames[i].type == type && frames[i].kind == kind)
			return len > frames[i].max ? -EMSGSIZE : 0;
	return -ENOMSG;
}

int stream__read_frame(struct stream *s, uint8_t *dst, size_t room, uint32_t *type,
		       size_t *total)
{
	uint8_t md[STREAM_DIGEST_LEN];
	bool md_on = s->md;
	uint32_t len;
	int ret;

	if (room < STREAM_FRAME_HDR_LEN)
		return -EFBIG;
	ret = stream__read_frame_hdr(s, dst, type, &len);
	if (ret)
		return ret;
	if (stream__check_frame(STREAM_KIND_STATE, *type, len) ||
	    (*type == STREAM_FRAME_END && len != STREAM_DIGEST_LEN))
		return -EBADMSG;
	if (len > room - STREAM_FRAME_HDR_LEN)
		return -EFBIG;
	/* The digest on: it covers every byte before the end frame's body. */
	if (*type == STREAM_FRAME_END && s->md && (ret = stream__digest_end(s, md)))
		return ret;
	ret = stream__read(s, dst + STREAM_FRAME_HDR_LEN, len);
	if (ret)
		return ret;
	*total = STREAM_FRAME_HDR_LEN + (size_t)len;
	if (md_on && *type == STREAM_FRAME_END &&
	    CRYPTO_memcmp(md, dst + STREAM_FRAME_HDR_LEN, STREAM_DIGEST_LEN))
		return -EILSEQ;
	return 0;
}
