/*
 * Split virtqueues (virtio 1.x, section 2.7): the descriptor table and the
 * available and used rings live in guest RAM at addresses the guest chose.
 *
 * Everything here is untrusted input.  The ring addresses are checked once,
 * when the queue is made ready; every descriptor is copied out of guest
 * memory once and then checked (the guest may change it under us), and a
 * chain is refused when it names a descriptor outside the table, loops,
 * is longer than the queue, or points outside RAM.
 *
 * Pure: guest memory is a struct vm_mem (no KVM), and writes into it are
 * reported through a callback, so the unit test and the fuzzer drive the
 * same code on a bare memfd.
 */
#ifndef VMM_VIRTQ_H
#define VMM_VIRTQ_H

#include <stdbool.h>
#include <stdint.h>

struct vm_mem;

#define VIRTQ_MAX_SIZE 256   /* the largest queue we offer (QueueNumMax) */

#define VIRTQ_DESC_F_NEXT 1
#define VIRTQ_DESC_F_WRITE 2
#define VIRTQ_DESC_F_INDIRECT 4

/* Guest memory as the queue sees it; dirty may be NULL (no tracking). */
struct virtq_mem {
	struct vm_mem *mem;
	void (*dirty)(void *opaque, uint64_t gpa, uint64_t len);
	void *opaque;
};

/* What the guest configured, and where the device is in the rings. */
struct virtq {
	uint16_t size;        /* QueueNum: a power of 2, 1..VIRTQ_MAX_SIZE   */
	bool ready;
	uint64_t desc, avail, used;  /* guest-physical ring addresses     */
	uint16_t last_avail;  /* next available-ring entry to take       */
	uint16_t used_idx;    /* our copy of used->idx                   */
};

/* One buffer of a chain; hva is NULL when it does not lie in RAM. */
struct virtq_seg {
	uint64_t gpa;
	uint32_t len;
	bool write;           /* device-writable                        */
	void *hva;            /* host address of [gpa, gpa + len), or NULL */
};

/* A request taken from the available ring: head index and its buffers. */
struct virtq_chain {
	uint16_t head;
	unsigned nr;          /* segments used in seg[]                 */
	uint64_t total;       /* sum of the segment lengths             */
	unsigned nr_bad;      /* segments outside RAM (their hva is NULL) */
	struct virtq_seg seg[VIRTQ_MAX_SIZE];
};

/*
 * Can the queue be made ready: size a power of 2 no larger than
 * VIRTQ_MAX_SIZE, rings aligned (16, 2, 4) and wholly in RAM.  0 or
 * -EINVAL.
 */
int virtq__check(const struct virtq *vq, const struct vm_mem *mem);

/*
 * Take the next available request.  Returns 1 with *c filled, 0 when the
 * ring is empty, or a negative errno when the rings are broken:
 *   -EPROTO  the available index ran more than a queue ahead of us, or an
 *            entry names a head outside the table (the device must then
 *            need a reset: nothing later in the ring can be trusted);
 *   -EINVAL  the chain itself is bad (index out of the table, a loop, an
 *            indirect descriptor).  The request is consumed; the device
 *            should need a reset too, as the driver broke the protocol.
 * A buffer outside RAM does not fail the walk: it is counted in
 * c->nr_bad, so the device can fail just that request (its status byte
 * may well be good).
 */
int virtq__pop(struct virtq *vq, const struct virtq_mem *m, struct virtq_chain *c);

/* Put head on the used ring with len bytes written, then publish used->idx. */
int virtq__push(struct virtq *vq, const struct virtq_mem *m, uint16_t head, uint32_t len);

/* Does the available ring hold requests we have not taken yet? */
bool virtq__has_work(const struct virtq *vq, const struct vm_mem *mem);

/*
 * One piece of a chain's range: n bytes at host address p, guest address
 * gpa, all in one segment.  0 goes on; a negative errno ends the walk.
 */
typedef int virtq_piece_fn(void *opaque, uint8_t *p, uint64_t gpa, uint64_t n);

/*
 * Walk bytes [off, off + len) of a taken chain, the buffers in order as one
 * stream, calling fn on each segment's part of the range.  Every segment
 * the range touches must be in RAM and go the way asked (write: device-
 * writable), and the chain must hold the whole range: else -EINVAL, with
 * fn maybe called on the pieces before.  Returns 0 or fn's error.
 */
int virtq__chain_walk(const struct virtq_chain *c, uint64_t off, uint64_t len, bool write,
		      virtq_piece_fn *fn, void *opaque);

/* Copy len bytes from byte off of the chain's device-readable buffers. */
int virtq__chain_read(const struct virtq_chain *c, uint64_t off, void *dst, uint64_t len);

/*
 * Copy len bytes into the chain's device-writable buffers from byte off,
 * reporting each range written to m->dirty.
 */
int virtq__chain_write(const struct virtq_chain *c, const struct virtq_mem *m, uint64_t off,
		       const void *src, uint64_t len);

#endif
