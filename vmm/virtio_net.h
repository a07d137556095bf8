/*
 * virtio-net (virtio 1.x, 5.1) over virtio-mmio slot GUEST_ABI_VIRTIO_NET_SLOT,
 * backed by a tap (vmm/tap.h).  Features: VERSION_1, MAC, STATUS (link
 * always up); no offloads, no mergeable rx buffers, no control queue.
 *
 * Threads.  TX runs on the notifying vCPU thread, under the transport's
 * lock, like virtio-blk.  RX runs on the vmm's main loop, and only while the
 * VM runs: pause, checkpoint capture and the migration switch-over run on
 * that thread too, so no received frame is ever written into guest memory
 * while a consistent state is read.  A guest rx notify, and every resume,
 * wake the loop through an eventfd (virtio_net__kick).
 *
 * Output commit (replication/outbuf.c).  While held, transmitted frames
 * are queued (bounded: NET_HOLD_MAX_FRAMES, NET_HOLD_MAX_BYTES; beyond it
 * they are dropped and counted) and reach the tap only once released.
 * The mark is the count of frames queued so far.
 */
#ifndef VMM_VIRTIO_NET_H
#define VMM_VIRTIO_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <qb/qbloop.h>

#include "vmm/state.pb-c.h"

struct outbuf_notify;

struct vm;
struct virtio_net;

#define NET_HOLD_MAX_FRAMES 1024
#define NET_HOLD_MAX_BYTES (4u << 20)

struct net_cfg {
	const char *tap;      /* NULL: no network device */
	const char *bridge;   /* NULL: leave the tap where it is */
	uint8_t mac[6];
	bool use_fd;          /* tests: fd, an open frame socket, instead of a tap */
	int fd;
};

struct net_counters {
	uint64_t rx_frames, rx_bytes;      /* tap -> guest */
	uint64_t tx_frames, tx_bytes;      /* guest -> tap, written */
	uint64_t rx_dropped;               /* no room in the guest's buffer, or a bad buffer */
	uint64_t tx_dropped;               /* malformed chains, tap full or failing */
	uint64_t held_frames;              /* queued by the output commit now */
	uint64_t released_frames;          /* queued and later sent */
	uint64_t hold_dropped;             /* the queue was full, or dropped at activation */
	uint64_t announces;                /* RARP frames sent */
};

/* "tap=NAME[,mac=XX:XX:XX:XX:XX:XX][,bridge=BR]"; names point into spec. */
int virtio_net__parse(char *spec, struct net_cfg *cfg, const char **err);

int virtio_net__create(struct virtio_net **out, struct vm *vm, const struct net_cfg *cfg,
		       const char **err);
void virtio_net__destroy(struct virtio_net *n);
void virtio_net__reset(struct virtio_net *n);

/* Serve RX and the announce timer on loop (main thread); detach before destroy. */
int virtio_net__attach(struct virtio_net *n, qb_loop_t *loop);
void virtio_net__detach(struct virtio_net *n);
/* Any thread: RX should look again (a resume, a refilled rx queue). */
void virtio_net__kick(struct virtio_net *n);
/* Main thread: take what the tap holds into the guest, while the VM runs. */
void virtio_net__rx_pump(struct virtio_net *n);

/* Main thread: send the RARP announcements (after a migration, an activation). */
void virtio_net__announce(struct virtio_net *n, const char *why);

/* Output commit: the outbuf sink (see vmm/serial.h for the UART's). */
void virtio_net__hold(struct virtio_net *n, bool on);
uint64_t virtio_net__tx_mark(struct virtio_net *n);
void virtio_net__release(struct virtio_net *n, uint64_t upto);
void virtio_net__drop_output(struct virtio_net *n);
/* Held frames fire notify from now on (NULL: none); vmm/vm_port.h. */
void virtio_net__notify(struct virtio_net *n, struct outbuf_notify *notify);

void virtio_net__counters(struct virtio_net *n, struct net_counters *c);
/* Its MAC address (6 bytes), for net-status. */
const uint8_t *virtio_net__mac(const struct virtio_net *n);

/* State: the transport, both queues and the MAC (which must match). */
int virtio_net__save(struct virtio_net *n, Vmm__State__VirtioNetState *st);
void virtio_net__free_saved(Vmm__State__VirtioNetState *st);
int virtio_net__check_saved(const struct virtio_net *n, const Vmm__State__VirtioNetState *st,
			    const char **err);
void virtio_net__load(struct virtio_net *n, const Vmm__State__VirtioNetState *st);

#endif
