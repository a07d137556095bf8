/*
 * libFuzzer target: the state stream parser (vm_state__parse), which is
 * pure, on arbitrary bytes.  Random bytes almost never carry a good SHA-256
 * trailer, so each input is also parsed a second time with its last 32
 * bytes replaced by the digest of the rest: that reaches the record
 * decoders and shape checks behind the digest, disk frames included.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/evp.h>

#include "vmm/stream.h"
#include "vmm/vm_state.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void parse(const uint8_t *buf, size_t len)
{
	struct vm_state_parsed p;
	const char *err = NULL;

	if (vm_state__parse(buf, len, &p, &err) == 0) {
		/* Touch what a loader would: every page range must be in bounds. */
		volatile uint8_t sink = 0;

		for (size_t i = 0; i < p.nr_pages_frames; i++)
			sink ^= p.pages[i].data[p.pages[i].npages * STREAM_PAGE_SIZE - 1];
		/* Disk frames: inside the virtio_blk record's capacity, data readable. */
		for (size_t i = 0; i < p.nr_disk; i++) {
			if (p.disk[i].offset + p.disk[i].length > p.virtio_blk->capacity * 512)
				abort();
			if (p.disk[i].data)
				sink ^= p.disk[i].data[p.disk[i].length - 1];
		}
		(void)sink;
		vm_state__check_config(&p, 64ULL << 20, 1, &err);
	} else if (!err) {
		abort(); /* every refusal must say why */
	}
	vm_state__free_parsed(&p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *copy;
	unsigned n;

	parse(data, size);
	if (size < STREAM_DIGEST_LEN)
		return 0;
	copy = malloc(size);
	if (!copy)
		return 0;
	memcpy(copy, data, size);
	EVP_Digest(copy, size - STREAM_DIGEST_LEN, copy + size - STREAM_DIGEST_LEN, &n,
		   EVP_sha256(), NULL);
	parse(copy, size);
	free(copy);
	return 0;
}
