/*
 * The migration stream on the wire (docs/migration.md): a prelude, then
 * stream frames (vmm/stream.h: the state stream's header, limits and
 * helpers, written and read through any stream backend, a channel's on the
 * wire) of the migration's own types:
 *
 *   MSG    a replication.Message (control: hello, rounds, zero pages, ...)
 *   BATCH  u32 H, a replication.PageBatch of H bytes, then the page data
 *          (raw, or zstd-compressed when the batch says so)
 *   STATE  empty body; a whole vm_state stream (docs/state-format.md)
 *          follows, up to and including its end frame
 *   DISK_BATCH  u32 H, a replication.DiskBatch of H bytes, then the bytes
 *
 * Decoding is pure (wire__decode: no I/O, no VM), so the fuzzer drives it.
 */
#ifndef REPLICATION_WIRE_H
#define REPLICATION_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "replication/migration.pb-c.h"
#include "vmm/stream.h"

struct chan;
struct ssl_ctx_st;
struct ZSTD_CCtx_s;
struct ZSTD_DCtx_s;

#define WIRE_MAGIC "HASVCMG\n"
#define WIRE_MAJOR 1
#define WIRE_MINOR 0
#define MIGRATION_PROTOCOL 1
/* Hello.nonce: random bytes that tie the data connections to their hello. */
#define WIRE_NONCE_LEN 16
/*
 * Time limit for a connection that has not yet said who it is (TLS
 * handshake, prelude, first frame): below the source's connect limit
 * (MIGRATE_DEFAULT_TIMEOUT_MS), so one silent stray cannot make the real
 * source that waits behind it give up.
 */
#define WIRE_PREAUTH_MS 5000

/* A buffer for any migration frame, header included. */
#define WIRE_FRAME_MAX (STREAM_FRAME_HDR_LEN + STREAM_BATCH_FRAME_MAX)
/* Zero-page offsets per ZeroPages message (keeps a message far below MSG_MAX). */
#define WIRE_ZERO_BATCH 16384
/* Post-copy: bytes of one Discard bitmap (512 Ki pages, 2 GiB of RAM). */
#define WIRE_DISCARD_BYTES 65536
/* Post-copy: offsets in one PageRequest. */
#define WIRE_REQUEST_MAX 1024

/* --- writing (source): to any stream, a channel's (&c->s) on the wire --- */
int wire__write_prelude(struct stream *s);
int wire__write_msg(struct stream *s, const Replication__Message *m);
/*
 * npages consecutive pages from RAM offset `offset`.  With cctx, the batch
 * is zstd-compressed into scratch (ZSTD_compressBound of a batch) and sent
 * compressed when that is smaller.
 */
int wire__write_pages(struct stream *s, uint64_t offset, const void *data, uint32_t npages,
		      struct ZSTD_CCtx_s *cctx, void *scratch, size_t scratch_len,
		      uint64_t *wire_bytes);
int wire__write_state_start(struct stream *s);
/* len bytes of the disk image at offset (data NULL: a zero range). */
int wire__write_disk(struct stream *s, uint64_t offset, const void *data, uint32_t len,
		     uint64_t *wire_bytes);
size_t wire__scratch_len(void);

/* --- reading (destination) --- */
/* Read and check the prelude: a wrong magic (garbage) is refused at once. */
int wire__read_prelude(struct stream *s, const char **err);
/*
 * One frame into buf (WIRE_FRAME_MAX bytes); the length is checked against
 * its type's bound (stream__check_frame) before the body is read.
 */
int wire__read_frame(struct stream *s, uint8_t *buf, uint32_t *type, uint32_t *len,
		     const char **err);
/* The empty STATE frame that announces a state stream; -EPROTO if not that. */
int wire__read_state_start(struct stream *s);

struct wire_frame {
	uint32_t type;
	Replication__Message *msg;   /* MSG: free with wire__frame_free */
	uint64_t offset;             /* BATCH: checked inside mem_size */
	uint32_t npages;
	const uint8_t *pages;        /* BATCH: npages * 4096 bytes (body or out);
					DISK_BATCH: the bytes, NULL for a zero range */
	uint32_t disk_len;           /* DISK_BATCH: bytes at offset, inside disk_size */
};

/*
 * Pure: decode one frame body.  BATCH: the range must lie inside mem_size,
 * page-aligned; compressed data is inflated into out (STREAM_BATCH_PAGES
 * pages) and must give exactly npages pages.  MSG: ZeroPages and
 * PageRequest offsets and Discard ranges are checked too.
 */
int wire__decode(uint32_t type, const uint8_t *body, size_t len, uint64_t mem_size,
		 struct ZSTD_DCtx_s *dctx, uint8_t *out, struct wire_frame *f,
		 const char **err);
void wire__frame_free(struct wire_frame *f);
/*
 * wire__read_frame into buf, then wire__decode of it against mem_size, for
 * a reader that takes no compressed pages: f is safe to wire__frame_free
 * whatever the result.
 */
int wire__next_frame(struct stream *s, uint8_t *buf, uint64_t mem_size, struct wire_frame *f,
		     const char **err);
/*
 * Pure: decode a DISK_BATCH frame body against an image of disk_size bytes (0:
 * no copy was agreed, every disk frame is refused).
 */
int wire__decode_disk(const uint8_t *body, size_t len, uint64_t disk_size,
		      struct wire_frame *f, const char **err);

/* --- data connections (destination) --- */
struct wire_data_hello {
	uint32_t index;
	bool requests;
};

/* Where and how a receiver waits for its session's data connections. */
struct wire_accept {
	int lfd;                    /* the listening socket */
	struct ssl_ctx_st *ctx;     /* NULL: plaintext */
	uint64_t end_ns;            /* CLOCK_MONOTONIC (wire__now_ns) */
	int timeout_ms;             /* each accepted channel's time limit */
	const uint8_t *nonce;       /* WIRE_NONCE_LEN bytes: the session's */
	uint8_t *buf;               /* WIRE_FRAME_MAX bytes of scratch */
	const char *what;           /* for the log: "incoming migration", ... */
};

/*
 * Accept connections on a->lfd until one opens with a prelude and a
 * DataHello carrying a->nonce, or until a->end_ns passes (-ETIMEDOUT).  Any
 * other connection (a failed TLS handshake, garbage, a close, another
 * session's) is logged as a stray of a->what, closed and forgotten.  Other
 * errors are the listening socket's.
 */
int wire__accept_data(const struct wire_accept *a, struct chan **out,
		      struct wire_data_hello *dh, char *err, size_t errlen);
/* CLOCK_MONOTONIC in ns (the clock of wire__accept_data's end_ns). */
uint64_t wire__now_ns(void);

#endif
