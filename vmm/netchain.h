/*
 * virtio-net buffers (virtio 1.x, 5.1.6) on a taken virtqueue chain: pure
 * (no KVM, no device), so the unit tests and the fuzzer drive the same
 * checks the device uses.  Every buffer starts with the 12-byte
 * virtio_net_hdr_v1 (VIRTIO_F_VERSION_1); no offloads are offered, so the
 * header of a transmitted frame is read past, and the header of a
 * received one is all zero but num_buffers = 1.
 */
#ifndef VMM_NETCHAIN_H
#define VMM_NETCHAIN_H

#include <stddef.h>
#include <stdint.h>

#include "vmm/virtq.h"

#define NETCHAIN_HDR_LEN 12
#define NETCHAIN_MAX_FRAME 65535     /* the largest frame a tx chain may carry */

/*
 * A transmit chain: every descriptor device-readable and in RAM, at least a
 * header, at most NETCHAIN_MAX_FRAME bytes after it.  The frame (header
 * stripped) is copied to frame[] (room for NETCHAIN_MAX_FRAME bytes) and
 * its length returned, or -EINVAL for a malformed chain.
 */
int netchain__tx(const struct virtq_chain *c, uint8_t *frame);

/*
 * A receive chain: every descriptor device-writable and in RAM, room for
 * the header and len bytes.  Writes header and frame, reporting each range
 * written to m->dirty; returns the bytes written, -EINVAL for a malformed
 * chain (the device must need a reset), or -ENOSPC when the buffers are
 * too small for this frame (the frame is dropped; the buffer goes back
 * with nothing written).
 */
int netchain__rx(const struct virtq_chain *c, const struct virtq_mem *m, const uint8_t *frame,
		 size_t len);

#endif
