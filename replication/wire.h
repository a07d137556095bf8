/*
 * The migration stream on the wire (docs/migration.md): a prelude, then
 * frames of {u32 type, u32 length, body} like the state stream's:
 *
 *   MSG    a replication.Message (control: hello, rounds, zero pages, ...)
 *   PAGES  u32 H, a replication.PageBatch of H bytes, then the page data
 *          (raw, or zstd-compressed when the batch says so)
 *   STATE  empty body; a whole vm_state stream (docs/state-format.md)
 *          follows, up to and including its end frame
 *
 * Decoding is pure (wire__decode: no I/O, no VM), so the fuzzer drives it.
 */
#ifndef REPLICATION_WIRE_H
#define REPLICATION_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "replication/migration.pb-c.h"

struct chan;
struct ssl_ctx_st;
struct ZSTD_CCtx_s;
struct ZSTD_DCtx_s;

#define WIRE_MAGIC "HASVCMG\n"
#define WIRE_PRELUDE_LEN 16      /* magic, u16 major, u16 minor, u32 flags */
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

enum wire_frame_type {
	WIRE_FRAME_MSG = 0x10,
	WIRE_FRAME_PAGES = 0x11,
	WIRE_FRAME_STATE = 0x12,
	WIRE_FRAME_DISK = 0x13,   /* u32 H, a DiskBatch of H bytes, then the bytes */
};

#define WIRE_HDR_LEN 8
#define WIRE_BATCH_PAGES 256
#define WIRE_PAGE_SIZE 4096u
#define WIRE_MSG_MAX (1u << 20)
#define WIRE_PAGES_HDR_MAX 64
/* Room for a compressed batch that did not shrink much, and its header. */
#define WIRE_PAGES_MAX (4 + WIRE_PAGES_HDR_MAX + WIRE_BATCH_PAGES * WIRE_PAGE_SIZE + 65536)
#define WIRE_FRAME_MAX (WIRE_HDR_LEN + WIRE_PAGES_MAX)
#define WIRE_DISK_HDR_MAX 64
#define WIRE_DISK_BATCH (1u << 20)   /* bytes of image per disk frame at most */
#define WIRE_DISK_MAX (4 + WIRE_DISK_HDR_MAX + WIRE_DISK_BATCH)
/* Zero-page offsets per ZeroPages message (keeps a message far below MSG_MAX). */
#define WIRE_ZERO_BATCH 16384
/* Post-copy: bytes of one Discard bitmap (512 Ki pages, 2 GiB of RAM). */
#define WIRE_DISCARD_BYTES 65536
/* Post-copy: offsets in one PageRequest. */
#define WIRE_REQUEST_MAX 1024

/* --- writing (source) --- */
int wire__write_prelude(struct chan *c);
int wire__write_msg(struct chan *c, const Replication__Message *m);
/*
 * npages consecutive pages from RAM offset `offset`.  With cctx, the batch
 * is zstd-compressed into scratch (ZSTD_compressBound of a batch) and sent
 * compressed when that is smaller.
 */
int wire__write_pages(struct chan *c, uint64_t offset, const void *data, uint32_t npages,
		      struct ZSTD_CCtx_s *cctx, void *scratch, size_t scratch_len,
		      uint64_t *wire_bytes);
int wire__write_state_start(struct chan *c);
/* len bytes of the disk image at offset (data NULL: a zero range). */
int wire__write_disk(struct chan *c, uint64_t offset, const void *data, uint32_t len,
		     uint64_t *wire_bytes);
size_t wire__scratch_len(void);

/* --- reading (destination) --- */
/* Read and check the prelude: a wrong magic (garbage) is refused at once. */
int wire__read_prelude(struct chan *c, const char **err);
/*
 * One frame into buf (WIRE_FRAME_MAX bytes); the length is checked against
 * its type's bound before the body is read.
 */
int wire__read_frame(struct chan *c, uint8_t *buf, uint32_t *type, uint32_t *len,
		     const char **err);

struct wire_frame {
	uint32_t type;
	Replication__Message *msg;   /* MSG: free with wire__frame_free */
	uint64_t offset;             /* PAGES: checked inside mem_size */
	uint32_t npages;
	const uint8_t *pages;        /* PAGES: npages * 4096 bytes (body or out);
					DISK: the bytes, NULL for a zero range */
	uint32_t disk_len;           /* DISK: bytes at offset, inside disk_size */
};

/*
 * Pure: decode one frame body.  PAGES: the range must lie inside mem_size,
 * page-aligned; compressed data is inflated into out (WIRE_BATCH_PAGES
 * pages) and must give exactly npages pages.  MSG: ZeroPages and
 * PageRequest offsets and Discard ranges are checked too.
 */
int wire__decode(uint32_t type, const uint8_t *body, size_t len, uint64_t mem_size,
		 struct ZSTD_DCtx_s *dctx, uint8_t *out, struct wire_frame *f,
		 const char **err);
void wire__frame_free(struct wire_frame *f);
/*
 * Pure: decode a DISK frame body against an image of disk_size bytes (0:
 * no copy was agreed, every disk frame is refused).
 */
int wire__decode_disk(const uint8_t *body, size_t len, uint64_t disk_size,
		      struct wire_frame *f, const char **err);

/* --- data connections (destination) --- */
struct wire_data_hello {
	uint32_t index;
	bool requests;
};

/*
 * Accept connections on lfd until one opens with a prelude and a DataHello
 * carrying nonce (WIRE_NONCE_LEN bytes), or until end_ns (CLOCK_MONOTONIC)
 * passes (-ETIMEDOUT).  Any other connection (a failed TLS handshake,
 * garbage, a close, another session's) is logged as a stray of `what`,
 * closed and forgotten.  *out gets the time limit timeout_ms; buf is
 * WIRE_FRAME_MAX bytes of scratch.  Other errors are the listening socket's.
 */
int wire__accept_data(int lfd, struct ssl_ctx_st *ctx, uint64_t end_ns, int timeout_ms,
		      const uint8_t *nonce, uint8_t *buf, const char *what, struct chan **out,
		      struct wire_data_hello *dh, char *err, size_t errlen);
/* CLOCK_MONOTONIC in ns (the clock of wire__accept_data's end_ns). */
uint64_t wire__now_ns(void);

#endif
