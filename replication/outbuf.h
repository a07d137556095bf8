/*
 * Output commit (docs/checkpointing.md): the guest's output produced in
 * epoch e is held in front of its backend and released only when the
 * standby acknowledged checkpoint e.  Today the one output path is the
 * UART (its transmit buffer is the hold buffer, vmm/serial.h); network
 * frames and disk writes will be held the same way, by epoch mark.
 */
#ifndef REPLICATION_OUTBUF_H
#define REPLICATION_OUTBUF_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

struct serial;

struct outbuf {
	struct serial *serial;        /* NULL: the VM has no output device */
	bool holding;
	atomic_uint_fast64_t released_mark; /* everything before it may leave */
	atomic_uint_fast64_t released_bytes;
};

/*
 * Start holding: what is buffered now was produced unprotected and leaves.
 * If still holding (protection lost with the guest paused by policy), what
 * is held stays held: the next commit releases it.
 */
void outbuf__start(struct outbuf *ob, struct serial *serial);
/* The end of an epoch (taken while the vCPUs are paused). */
uint64_t outbuf__mark(struct outbuf *ob);
/* Checkpoint acknowledged: release the output before its mark. */
void outbuf__commit(struct outbuf *ob, uint64_t mark);
/* Stop holding (degraded, or protection stopped): release everything. */
void outbuf__open(struct outbuf *ob);
/* Bytes produced and not released yet. */
uint64_t outbuf__held(struct outbuf *ob);

#endif
