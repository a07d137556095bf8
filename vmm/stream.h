/*
 * One serializer for saved state and for the migration stream, writing to
 * (or reading from) a file, a socket, a growable memory buffer or a
 * migration channel (TCP or TLS, replication/channel.c), in the manner of
 * Redis's rio: one vtable (struct stream_ops), several backends, and one
 * checksum hook above them.  "Save to a file" and "replicate to a peer"
 * share every line above this layer.
 *
 * The checksum hook: a running SHA-256 covers every byte that passes, on
 * any backend, while it is on (stream__digest_begin/end).  The framing
 * helpers (records, page batches, the end frame) follow
 * docs/state-format.md; the migration's frames (replication/wire.h) have
 * the same header, are read and written by the same helpers and are
 * bounded by the same limits (one table, stream__check_frame).
 */
#ifndef VMM_STREAM_H
#define VMM_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#define STREAM_MAGIC "HASVCVM\n"
#define STREAM_MAGIC_LEN 8
#define STREAM_PRELUDE_LEN 16          /* magic, major, minor, flags        */
#define STREAM_FRAME_HDR_LEN 8         /* u32 type, u32 length (LE)         */
#define STREAM_DIGEST_LEN 32           /* SHA-256                           */
#define STREAM_RECORD_MAX (16u << 20)  /* bound on any record frame         */
#define STREAM_BATCH_PAGES 256         /* pages per page frame at most      */
#define STREAM_PAGE_SIZE 4096u
/*
 * A batch frame (pages or disk bytes): u32 header length, a small header
 * message (PageRange, DiskRange; PageBatch, DiskBatch), then the data.
 */
#define STREAM_BATCH_HDR_MAX 64
#define STREAM_PAGES_FRAME_MAX (4 + STREAM_BATCH_HDR_MAX + STREAM_BATCH_PAGES * STREAM_PAGE_SIZE)

/*
 * Every frame type, of both kinds of stream: one number space, so that a
 * frame of one kind in a stream of the other is an unknown type there.
 */
enum stream_frame_type {
	/* The state stream (docs/state-format.md). */
	STREAM_FRAME_RECORD = 1,
	STREAM_FRAME_PAGES = 2,
	STREAM_FRAME_END = 3,
	STREAM_FRAME_DISK = 4,        /* since minor version 2 */
	/* The migration stream (replication/wire.h, docs/migration.md). */
	STREAM_FRAME_MSG = 0x10,      /* a replication.Message */
	STREAM_FRAME_BATCH = 0x11,    /* u32 H, a PageBatch of H bytes, the pages (maybe zstd) */
	STREAM_FRAME_STATE = 0x12,    /* empty: a whole state stream follows */
	STREAM_FRAME_DISK_BATCH = 0x13, /* u32 H, a DiskBatch of H bytes, then the bytes */
};

/* Which stream a frame type belongs to (stream__check_frame). */
enum stream_kind {
	STREAM_KIND_STATE = 1,
	STREAM_KIND_MIGRATION = 2,
};

/* A disk frame: a batch frame of at most this many bytes of the image. */
#define STREAM_DISK_MAX (1u << 20)
#define STREAM_DISK_FRAME_MAX (4 + STREAM_BATCH_HDR_MAX + STREAM_DISK_MAX)
/* A migration control message (replication.Message) at most. */
#define STREAM_MSG_MAX (1u << 20)
/* A migration page batch: a page frame's room, and some for a compressed
 * batch that did not shrink much. */
#define STREAM_BATCH_FRAME_MAX (STREAM_PAGES_FRAME_MAX + 65536)

struct stream;

struct stream_ops {
	/* Exactly len bytes, or a negative errno. */
	int (*write)(struct stream *s, const void *buf, size_t len);
	/* Exactly len bytes; -ENODATA when the stream ends first. */
	int (*read)(struct stream *s, void *buf, size_t len);
	int (*flush)(struct stream *s);
};

struct stream {
	const struct stream_ops *ops;
	int fd;
	/* fd: buffered writes (reads are never read ahead: a socket may carry
	 * more after this stream). mem: the buffer itself. */
	uint8_t *buf;
	size_t len, cap, pos;
	bool owns_buf;
	/* No hashing as bytes pass, and no end frame: stream__seal_mem adds both
	 * later, outside the caller's critical section (a checkpoint's pause). */
	bool seal_later;
	void *md;            /* EVP_MD_CTX while the digest is on */
	uint64_t bytes;      /* written or read so far */
	int error;           /* first error, sticky */
};

/* A file or socket: blocking or not (EAGAIN waits in poll). */
void stream__init_fd(struct stream *s, int fd);
/* A growable memory buffer to write into; stream__mem_take hands it over. */
void stream__init_mem(struct stream *s);
/* The same, writing into buf (cap bytes, malloc'd, or NULL): a buffer kept from before. */
void stream__init_mem_buf(struct stream *s, uint8_t *buf, size_t cap);
/* Read from len bytes at buf (not copied: must outlive the stream). */
void stream__init_mem_read(struct stream *s, const void *buf, size_t len);
/* Frees what the stream owns (digest, buffers); never closes the fd. */
void stream__close(struct stream *s);
/* The memory buffer written so far, which the caller then owns (free()). */
uint8_t *stream__mem_take(struct stream *s, size_t *len);

int stream__write(struct stream *s, const void *buf, size_t len);
int stream__read(struct stream *s, void *buf, size_t len);
int stream__flush(struct stream *s);

/* Start hashing what passes from now on; end: stop and give the digest. */
int stream__digest_begin(struct stream *s);
/*
 * Make the digest's first use in this process cheap: OpenSSL 3 loads its
 * provider then (1.4-3.3 ms measured here, on a destination that used no
 * TLS yet), which must not fall in a migration's switch-over.
 */
int stream__digest_warm(void);
int stream__digest_end(struct stream *s, uint8_t out[STREAM_DIGEST_LEN]);
/*
 * Hand the running digest of from over to `to` (whose own, if any, is
 * dropped): what passes on `to` from now on continues it.  A state whose
 * head was captured into memory goes on, hashed as it is sent, on a socket.
 */
void stream__digest_move(struct stream *to, struct stream *from);

/* --- framing (docs/state-format.md) ---------------------------------- */
/* The state stream's prelude (STREAM_MAGIC). */
int stream__write_prelude(struct stream *s, uint16_t major, uint16_t minor);
/* A prelude with another stream's magic (8 bytes): the migration's. */
int stream__write_prelude_magic(struct stream *s, const char *magic, uint16_t major,
				uint16_t minor);
/* The one frame header: u32 type, u32 length, little-endian. */
int stream__write_frame_hdr(struct stream *s, uint32_t type, uint32_t len);
/* Read a frame header into hdr and decode it (no check: stream__check_frame). */
int stream__read_frame_hdr(struct stream *s, uint8_t hdr[STREAM_FRAME_HDR_LEN], uint32_t *type,
			   uint32_t *len);
/*
 * Does a frame of this type and body length belong in a stream of this
 * kind?  0; -ENOMSG for a type unknown there; -EMSGSIZE for a body longer
 * than the type allows.  The one table of frame limits, for both kinds.
 */
int stream__check_frame(enum stream_kind kind, uint32_t type, uint32_t len);
/*
 * The head of a batch frame (pages or disk bytes, of either stream): the
 * frame header, u32 H, the header message hdr packed in H bytes (at most
 * STREAM_BATCH_HDR_MAX); data_len bytes of data, which the caller writes
 * next, complete the frame.
 */
int stream__write_batch_hdr(struct stream *s, uint32_t type, const ProtobufCMessage *hdr,
			    size_t data_len);
/*
 * Split a batch frame's body: *hlen bytes of header message at body + 4,
 * the data after them.  0; -ENODATA when the body is shorter than its u32;
 * -EMSGSIZE when H is above max or runs past the body.
 */
int stream__batch_split(const uint8_t *body, size_t len, uint32_t max, uint32_t *hlen);
/* A Record envelope {name, version, instance, msg} as one record frame. */
int stream__write_record(struct stream *s, const char *name, uint32_t version,
			 uint32_t instance, const ProtobufCMessage *msg);
/* npages (<= STREAM_BATCH_PAGES) raw pages for RAM offset `offset`. */
int stream__write_pages(struct stream *s, uint64_t offset, const void *pages,
			uint32_t npages);
/* len (<= STREAM_DISK_MAX) bytes of the disk image at offset; data NULL: zero. */
int stream__write_disk(struct stream *s, uint64_t offset, const void *data, uint32_t len);
/*
 * Does a received disk frame's range hold up: length a nonzero multiple of
 * 512 of at most max, data_len bytes of data after the header (0 for a zero
 * range), offset page-aligned and the range inside an image of size bytes?
 * 0, -EMSGSIZE for a bad length, -ERANGE for a range outside the image.
 * Shared with the replication wire's disk frames.
 */
int stream__check_disk_range(uint64_t offset, uint32_t length, bool zero, uint64_t data_len,
			     uint64_t size, uint32_t max);
/* The end frame, whose body is the SHA-256 of every byte before it. */
int stream__write_end(struct stream *s);
/* Append the end frame to a stream written with seal_later and taken with
 * stream__mem_take: hashes all of it (realloc of *buf). */
int stream__seal_mem(uint8_t **buf, size_t *len);

/*
 * Read one whole frame of a state stream (header and body) into dst, which
 * has room bytes.  The length is checked before anything is read past the
 * header (stream__check_frame; exactly STREAM_DIGEST_LEN for the end
 * frame); -EFBIG when it does not fit in room,
 * -EBADMSG for an unknown type or a bad length.  Sets *type and *total.
 * With the digest on (stream__digest_begin before the prelude was read),
 * the end frame is checked as it arrives: the running SHA-256 of every
 * byte before its body must equal that body, else -EILSEQ; the digest is
 * off afterwards.  A reader that hashed the stream this way needs no
 * second pass over it (vm_state__parse_verified).
 */
int stream__read_frame(struct stream *s, uint8_t *dst, size_t room, uint32_t *type,
		       size_t *total);

static inline void stream__put_le32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); p[2] = (uint8_t)(v >> 16); p[3] = (uint8_t)(v >> 24);
}

static inline uint32_t stream__get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline void stream__put_frame_hdr(uint8_t *h, uint32_t type, uint32_t len)
{
	stream__put_le32(h, type);
	stream__put_le32(h + 4, len);
}

static inline void stream__get_frame_hdr(const uint8_t *h, uint32_t *type, uint32_t *len)
{
	*type = stream__get_le32(h);
	*len = stream__get_le32(h + 4);
}

static inline uint16_t stream__get_le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

#endif
