/*
 * libFuzzer target: the migration stream's frame decoder (wire__decode:
 * pure, no I/O, no VM) on arbitrary bytes.  The first byte picks the frame
 * type (MSG, PAGES, STATE, something unknown, or DISK through
 * wire__decode_disk against an image of FUZZ_DISK_SIZE); the rest is the frame body, as the
 * destination would hand it over after reading a frame of that length.  The
 * same decoder takes post-copy's page requests on the source, and the
 * Discard bitmaps on the destination: both are checked against RAM here.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <zstd.h>

#include "replication/wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_MEM_SIZE (64ULL << 20)
#define FUZZ_DISK_SIZE ((8ULL << 20) + 1536)  /* the last block is partial */

/* A disk frame: inside the image, its data readable to the last byte. */
static void disk(const uint8_t *body, size_t len)
{
	struct wire_frame f;
	const char *err = NULL;

	if (wire__decode_disk(body, len, FUZZ_DISK_SIZE, &f, &err) == 0) {
		volatile uint8_t sink = 0;

		if (f.offset % 4096 || f.offset + f.disk_len > FUZZ_DISK_SIZE || !f.disk_len)
			abort();
		if (f.pages)
			sink = f.pages[f.disk_len - 1];
		(void)sink;
	} else if (!err) {
		abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint32_t types[] = { STREAM_FRAME_MSG, STREAM_FRAME_BATCH, STREAM_FRAME_STATE, 0,
					  STREAM_FRAME_DISK_BATCH };
	static uint8_t out[STREAM_BATCH_PAGES * STREAM_PAGE_SIZE];
	static ZSTD_DCtx *dctx;
	struct wire_frame f = { 0 };
	const char *err = NULL;

	if (size < 1)
		return 0;
	if (!dctx)
		dctx = ZSTD_createDCtx();
	if (types[data[0] % 5] == STREAM_FRAME_DISK_BATCH) {
		disk(data + 1, size - 1);
		return 0;
	}
	if (wire__decode(types[data[0] % 5], data + 1, size - 1, FUZZ_MEM_SIZE, dctx, out, &f,
			 &err) == 0) {
		/* A decoded batch must be readable to its last byte. */
		volatile uint8_t sink = 0;

		if (f.type == STREAM_FRAME_BATCH && f.npages)
			sink = f.pages[(size_t)f.npages * STREAM_PAGE_SIZE - 1];
		(void)sink;
		/* Post-copy's requests and discards were checked against RAM. */
		if (f.msg && f.msg->msg_case == REPLICATION__MESSAGE__MSG_PAGE_REQUEST)
			for (size_t i = 0; i < f.msg->page_request->n_offsets; i++)
				if (f.msg->page_request->offsets[i] % STREAM_PAGE_SIZE ||
				    f.msg->page_request->offsets[i] >= FUZZ_MEM_SIZE)
					abort();
		if (f.msg && f.msg->msg_case == REPLICATION__MESSAGE__MSG_DISCARD &&
		    f.msg->discard->first_page / 8 + f.msg->discard->bitmap.len >
		    FUZZ_MEM_SIZE / STREAM_PAGE_SIZE / 8)
			abort();
	} else if (!err) {
		abort(); /* every refusal must say why */
	}
	wire__frame_free(&f);
	return 0;
}
