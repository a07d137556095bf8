/*
 * Output commit (docs/checkpointing.md): the guest's output produced in
 * epoch e is held in front of its backend and released only when the
 * standby acknowledged checkpoint e.  The output paths are sinks: the UART
 * (its transmit buffer is the hold buffer, vmm/serial.h) and virtio-net
 * (a bounded frame queue, vmm/virtio_net.h).  Each sink counts what the
 * guest produced (its mark: bytes for the UART, frames for the network)
 * and releases everything before a mark.
 *
 * The VM's sinks come from its port (vm_port.h).
 *
 * The mark of an epoch is taken on the main thread with the vCPUs paused;
 * commit may run on the replication thread (the sinks lock themselves).
 * outbuf__mark returns a token naming every sink's mark at once; a token
 * stays valid for OUTBUF_MARKS further marks, and a primary has one
 * checkpoint in flight.
 */
#ifndef REPLICATION_OUTBUF_H
#define REPLICATION_OUTBUF_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "vmm/vm_port.h"


#define OUTBUF_MARKS 8

struct outbuf_sink {
	const struct outbuf_sink_ops *ops;  /* NULL: the VM has no such device */
	void *dev;
	atomic_uint_fast64_t released_mark; /* everything before it may leave */
	atomic_uint_fast64_t released;      /* bytes or frames released while holding */
};

struct outbuf {
	struct outbuf_sink sink[OUTBUF_NR_KINDS];
	struct outbuf_notify notify;        /* the sinks' held output wakes fd */
	bool holding;
	uint64_t tokens;                    /* marks taken */
	uint64_t marks[OUTBUF_MARKS][OUTBUF_NR_KINDS];
};

/*
 * Start holding the VM's output devices: what is buffered now was
 * produced unprotected and leaves.  If still holding (protection lost with
 * the guest paused by policy), what is held stays held: the next commit
 * releases it.
 */
void outbuf__start(struct outbuf *ob, const struct vm_port *port);
/*
 * Hold (on) or let go (off) the port's output devices directly, outside
 * an outbuf: a standby's, which emit nothing until activation.
 */
void outbuf__hold_sinks(const struct vm_port *port, bool on);
/* What the port's sink of kind k dropped while holding (0: none, or no such sink). */
uint64_t outbuf__dropped(const struct vm_port *port, enum outbuf_kind k);
/* The end of an epoch (taken while the vCPUs are paused): a token. */
uint64_t outbuf__mark(struct outbuf *ob);
/* Checkpoint acknowledged: release the output before the token's marks. */
void outbuf__commit(struct outbuf *ob, uint64_t token);
/* Stop holding (degraded, or protection stopped): release everything. */
void outbuf__open(struct outbuf *ob);
/*
 * The wake-up of output-triggered epochs: an eventfd (outbuf__events) that
 * held output writes once after each outbuf__arm.  0 or -errno.
 */
int outbuf__init(struct outbuf *ob);
void outbuf__exit(struct outbuf *ob);
int outbuf__events(const struct outbuf *ob);
/*
 * Arm the wake-up, then tell whether output is held already (true: the
 * engine need not wait for the event).  Any thread; one waiter.
 */
bool outbuf__arm(struct outbuf *ob);
/* Disarm: the next held output writes nothing (the engine does not wait for it). */
void outbuf__disarm(struct outbuf *ob);
/* Produced and not released yet; released while holding (bytes or frames). */
uint64_t outbuf__held(struct outbuf *ob, enum outbuf_kind k);
uint64_t outbuf__released(struct outbuf *ob, enum outbuf_kind k);

#endif
