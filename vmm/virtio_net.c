/*
 * virtio-net on a tap (see virtio_net.h).  Queue 0 receives, queue 1
 * transmits.  A malformed tx chain or rx buffer makes the device need a
 * reset (the driver broke the protocol); a frame that does not fit the
 * guest's rx buffer is dropped and counted.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>
#include <qb/qblog.h>

#include "vmm/guest_abi.h"
#include "vmm/netchain.h"
#include "vmm/tap.h"
#include "vmm/virtio_mmio.h"
#include "vmm/virtio_net.h"
#include "vmm/vm.h"
#include "vmm/vm_port.h"

#define VIRTIO_ID_NET 1
#define VIRTIO_NET_F_MAC (1ULL << 5)
#define VIRTIO_NET_F_STATUS (1ULL << 16)
#define VIRTIO_NET_S_LINK_UP 1

#define RXQ 0
#define TXQ 1
#define RX_BURST 64          /* frames per pump before other loop work runs */

/* RARP announcements, as QEMU's announce-self: at 0, 50, 150, 250, 350 ms. */
#define ANNOUNCE_FRAMES 5
#define ANNOUNCE_FIRST_MS 50
#define ANNOUNCE_STEP_MS 100
#define ETH_P_RARP 0x8035
#define RARP_LEN 60          /* the Ethernet minimum, padded */

struct net_config {
	uint8_t mac[6];
	uint16_t status;
} __attribute__((packed));

/* A frame held by the output commit. */
struct held {
	uint32_t len;
	uint8_t data[];
};

struct virtio_net {
	struct virtio_mmio t;
	struct vm *vm;
	int fd;                  /* the tap */
	bool own_fd;
	struct net_config config;
	struct virtq_chain tx_chain;   /* vCPU thread, under t.lock */
	struct virtq_chain rx_chain;   /* main thread, under t.lock */
	uint8_t tx_frame[NETCHAIN_MAX_FRAME];
	uint8_t rx_frame[NETCHAIN_MAX_FRAME + 1];

	/* qlock: the output queue and every counter (vCPU, main, replication). */
	pthread_mutex_t qlock;
	bool holding;
	struct held *q[NET_HOLD_MAX_FRAMES];   /* ring */
	unsigned q_head, q_count;
	uint64_t q_bytes;
	uint64_t q_seq;          /* frames ever queued: the mark */
	struct outbuf_notify *notify;   /* a held frame wakes the engine */
	struct net_counters c;

	/* main loop */
	qb_loop_t *loop;
	int kick_fd;
	bool tap_polled;         /* POLLIN wanted on the tap */
	unsigned announce_left;
	qb_loop_timer_handle announce_timer;
};

/* Exactly XX:XX:XX:XX:XX:XX, hex digits of either case. */
static int parse_mac(const char *s, uint8_t mac[6])
{
	if (strlen(s) != 17)
		return -EINVAL;
	for (int i = 0; i < 6; i++) {
		const char *p = s + 3 * i;

		if (!isxdigit((unsigned char)p[0]) || !isxdigit((unsigned char)p[1]) ||
		    (i < 5 && p[2] != ':'))
			return -EINVAL;
		mac[i] = (uint8_t)strtoul((char[3]){ p[0], p[1], 0 }, NULL, 16);
	}
	return 0;
}

int virtio_net__parse(char *spec, struct net_cfg *cfg, const char **err)
{
	static const uint8_t def_mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };
	char *save = NULL;

	*cfg = (struct net_cfg){ .fd = -1 };
	memcpy(cfg->mac, def_mac, 6);
	for (char *kv = strtok_r(spec, ",", &save); kv; kv = strtok_r(NULL, ",", &save)) {
		if (!strncmp(kv, "tap=", 4) && kv[4]) {
			cfg->tap = kv + 4;
		} else if (!strncmp(kv, "bridge=", 7) && kv[7]) {
			cfg->bridge = kv + 7;
		} else if (!strncmp(kv, "mac=", 4)) {
			if (parse_mac(kv + 4, cfg->mac)) {
				*err = "bad mac: want XX:XX:XX:XX:XX:XX";
				return -EINVAL;
			}
			if (cfg->mac[0] & 1) {
				*err = "bad mac: a multicast address cannot be a NIC's";
				return -EINVAL;
			}
		} else {
			*err = "want tap=NAME[,mac=XX:XX:XX:XX:XX:XX][,bridge=BR]";
			return -EINVAL;
		}
	}
	if (!cfg->tap) {
		*err = "tap=NAME is required";
		return -EINVAL;
	}
	return 0;
}

static void config_read(void *dev, uint32_t off, uint8_t *data, uint32_t len)
{
	struct virtio_net *n = dev;

	memcpy(data, (uint8_t *)&n->config + off, len);
}

/* qlock held: one frame to the tap; a full or failing tap drops it. */
static void tap_write(struct virtio_net *n, const uint8_t *frame, size_t len)
{
	ssize_t w = write(n->fd, frame, len);

	if (w == (ssize_t)len) {
		n->c.tx_frames++;
		n->c.tx_bytes += len;
	} else {
		n->c.tx_dropped++;
	}
}

/* qlock held: queue a copy for the output commit, or drop it when full. */
static void enqueue(struct virtio_net *n, const uint8_t *frame, size_t len)
{
	struct held *h;

	if (n->q_count == NET_HOLD_MAX_FRAMES || n->q_bytes + len > NET_HOLD_MAX_BYTES ||
	    !(h = malloc(sizeof(*h) + len))) {
		n->c.hold_dropped++;
		return;
	}
	h->len = (uint32_t)len;
	memcpy(h->data, frame, len);
	n->q[(n->q_head + n->q_count) % NET_HOLD_MAX_FRAMES] = h;
	n->q_count++;
	n->q_bytes += len;
	n->q_seq++;
	outbuf_notify__fire(n->notify);
}

/* qlock held: the oldest queued frame leaves (send) or is forgotten. */
static void dequeue(struct virtio_net *n, bool send)
{
	struct held *h = n->q[n->q_head];

	if (send) {
		tap_write(n, h->data, h->len);
		n->c.released_frames++;
	} else {
		n->c.hold_dropped++;
	}
	n->q_bytes -= h->len;
	free(h);
	n->q_head = (n->q_head + 1) % NET_HOLD_MAX_FRAMES;
	n->q_count--;
}

static void output(struct virtio_net *n, const uint8_t *frame, size_t len)
{
	pthread_mutex_lock(&n->qlock);
	if (n->holding)
		enqueue(n, frame, len);
	else
		tap_write(n, frame, len);
	pthread_mutex_unlock(&n->qlock);
}

void virtio_net__hold(struct virtio_net *n, bool on)
{
	if (!n)
		return;
	pthread_mutex_lock(&n->qlock);
	while (!on && n->q_count)
		dequeue(n, true);
	n->holding = on;
	pthread_mutex_unlock(&n->qlock);
}

uint64_t virtio_net__tx_mark(struct virtio_net *n)
{
	uint64_t m;

	pthread_mutex_lock(&n->qlock);
	m = n->q_seq;
	pthread_mutex_unlock(&n->qlock);
	return m;
}

void virtio_net__release(struct virtio_net *n, uint64_t upto)
{
	pthread_mutex_lock(&n->qlock);
	/* The queue holds frames q_seq - q_count .. q_seq - 1, oldest first. */
	while (n->q_count && n->q_seq - n->q_count < upto)
		dequeue(n, true);
	pthread_mutex_unlock(&n->qlock);
}

void virtio_net__notify(struct virtio_net *n, struct outbuf_notify *notify)
{
	pthread_mutex_lock(&n->qlock);
	n->notify = notify;
	pthread_mutex_unlock(&n->qlock);
}

void virtio_net__drop_output(struct virtio_net *n)
{
	if (!n)
		return;
	pthread_mutex_lock(&n->qlock);
	while (n->q_count)
		dequeue(n, false);
	pthread_mutex_unlock(&n->qlock);
}

static void tx(struct virtio_net *n, struct virtio_mmio *t)
{
	struct virtq_chain *c = &n->tx_chain;
	bool done = false;
	int r;

	while (!(t->status & VIRTIO_STATUS_NEEDS_RESET) &&
	       (r = virtq__pop(&t->vq[TXQ], &t->mem, c)) != 0) {
		int len = r < 0 ? r : netchain__tx(c, n->tx_frame);

		if (len < 0) {
			pthread_mutex_lock(&n->qlock);
			n->c.tx_dropped++;
			pthread_mutex_unlock(&n->qlock);
			virtio_mmio__needs_reset(t, r == -EPROTO ? "the tx available ring is corrupt"
						 : "a tx chain is malformed (a loop, a writable or "
						   "out-of-RAM buffer, no header, over 64 KiB)");
			break;
		}
		output(n, n->tx_frame, (size_t)len);
		if (virtq__push(&t->vq[TXQ], &t->mem, c->head, 0)) {
			virtio_mmio__needs_reset(t, "the tx used ring is not in RAM");
			break;
		}
		done = true;
	}
	if (done)
		virtio_mmio__interrupt(t);
}

static void notify(void *dev, struct virtio_mmio *t, unsigned q)
{
	struct virtio_net *n = dev;

	if (q == TXQ)
		tx(n, t);
	else
		virtio_net__kick(n);  /* new rx buffers: the main loop fills them */
}

/*
 * A driver may post rx buffers before DRIVER_OK, when it may not notify
 * yet (older Linux did, and its notify was ignored): look at the rx queue
 * once the driver is ready, as a notify would have made us.
 */
static void status_written(void *dev, struct virtio_mmio *t)
{
	if (t->status & VIRTIO_STATUS_DRIVER_OK)
		virtio_net__kick(dev);
}

static const struct virtio_mmio_ops net_ops = {
	.device_id = VIRTIO_ID_NET,
	.nr_queues = 2,
	.config_len = sizeof(struct net_config),
	.config_read = config_read,
	.notify = notify,
	.status = status_written,
};

static void set_tap_poll(struct virtio_net *n, bool on);

/*
 * t.lock held: can a frame be delivered now?  The driver is up, rx is ready
 * and holds a buffer.  Without one, the tap keeps its frames (its own queue
 * drops the excess) until the guest refills and notifies.
 */
static bool rx_ready(struct virtio_net *n)
{
	struct virtio_mmio *t = &n->t;

	return (t->status & VIRTIO_STATUS_DRIVER_OK) && !(t->status & VIRTIO_STATUS_NEEDS_RESET) &&
	       virtq__has_work(&t->vq[RXQ], t->mem.mem);
}

/* t.lock held: one frame in hand into the next rx buffer. */
static void rx_one(struct virtio_net *n, size_t len)
{
	struct virtio_mmio *t = &n->t;
	struct virtq_chain *c = &n->rx_chain;
	int r = virtq__pop(&t->vq[RXQ], &t->mem, c), w;

	if (r <= 0) {
		if (r < 0)
			virtio_mmio__needs_reset(t, "the rx available ring or a chain is corrupt");
		return;
	}
	w = netchain__rx(c, &t->mem, n->rx_frame, len);
	if (w == -EINVAL) {
		virtio_mmio__needs_reset(t, "an rx buffer is malformed (read-only or out of RAM)");
		return;
	}
	pthread_mutex_lock(&n->qlock);
	if (w < 0) {
		n->c.rx_dropped++;
	} else {
		n->c.rx_frames++;
		n->c.rx_bytes += len;
	}
	pthread_mutex_unlock(&n->qlock);
	if (virtq__push(&t->vq[RXQ], &t->mem, c->head, w < 0 ? 0 : (uint32_t)w))
		virtio_mmio__needs_reset(t, "the rx used ring is not in RAM");
	else
		virtio_mmio__interrupt(t);
}

void virtio_net__rx_pump(struct virtio_net *n)
{
	for (unsigned i = 0; i < RX_BURST; i++) {
		ssize_t len = 0;
		bool ready;

		pthread_mutex_lock(&n->t.lock);
		/* Paused: a consistent state is being read; the resume kicks us. */
		ready = n->vm->state == VM_STATE_RUNNING && rx_ready(n);
		if (ready) {
			len = read(n->fd, n->rx_frame, sizeof(n->rx_frame));
			if (len > NETCHAIN_MAX_FRAME)
				len = NETCHAIN_MAX_FRAME;  /* not on a tap: its MTU is smaller */
			if (len > 0)
				rx_one(n, (size_t)len);
		}
		pthread_mutex_unlock(&n->t.lock);
		if (!ready) {
			set_tap_poll(n, false);    /* until a kick */
			return;
		}
		if (len <= 0)
			break;                     /* the tap is empty (EAGAIN) */
	}
	set_tap_poll(n, true);
}

static int tap_ready(int fd, int revents, void *data)
{
	virtio_net__rx_pump(data);
	return 0;
}

static void set_tap_poll(struct virtio_net *n, bool on)
{
	if (n->tap_polled == on || !n->loop)
		return;
	if (qb_loop_poll_mod(n->loop, QB_LOOP_MED, n->fd, on ? POLLIN : 0, n, tap_ready) == 0)
		n->tap_polled = on;
}

static int kicked(int fd, int revents, void *data)
{
	uint64_t v;

	if (read(fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		return 0;
	virtio_net__rx_pump(data);
	return 0;
}

void virtio_net__kick(struct virtio_net *n)
{
	uint64_t one = 1;

	if (n && n->kick_fd >= 0 && write(n->kick_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		qb_log(LOG_ERR, "virtio-net: cannot wake the main loop: %s", strerror(errno));
}

/* A RARP reverse request for our own MAC, from it, to everyone (as QEMU sends). */
static void build_rarp(const uint8_t mac[6], uint8_t f[RARP_LEN])
{
	static const uint8_t arp_hdr[8] = { 0, 1, 0x08, 0x00, 6, 4, 0, 3 };

	memset(f, 0, RARP_LEN);
	memset(f, 0xff, 6);
	memcpy(f + 6, mac, 6);
	f[12] = ETH_P_RARP >> 8;
	f[13] = ETH_P_RARP & 0xff;
	memcpy(f + 14, arp_hdr, sizeof(arp_hdr));
	memcpy(f + 22, mac, 6);      /* sender hardware address; sender IP 0 */
	memcpy(f + 32, mac, 6);      /* target hardware address; target IP 0 */
}

static void announce_tick(void *data)
{
	struct virtio_net *n = data;
	uint8_t f[RARP_LEN];
	unsigned sent = ANNOUNCE_FRAMES - n->announce_left;

	build_rarp(n->config.mac, f);
	/* Not guest output: it leaves at once, held or not. */
	pthread_mutex_lock(&n->qlock);
	tap_write(n, f, sizeof(f));
	n->c.announces++;
	pthread_mutex_unlock(&n->qlock);
	if (--n->announce_left)
		qb_loop_timer_add(n->loop, QB_LOOP_MED,
				  (sent ? ANNOUNCE_STEP_MS : ANNOUNCE_FIRST_MS) * QB_TIME_NS_IN_MSEC,
				  n, announce_tick, &n->announce_timer);
}

void virtio_net__announce(struct virtio_net *n, const char *why)
{
	if (!n || !n->loop)
		return;
	if (n->announce_left)
		qb_loop_timer_del(n->loop, n->announce_timer);
	qb_log(LOG_NOTICE, "virtio-net: announcing %02x:%02x:%02x:%02x:%02x:%02x (%d RARP "
	       "frames over 350 ms) after %s", n->config.mac[0], n->config.mac[1],
	       n->config.mac[2], n->config.mac[3], n->config.mac[4], n->config.mac[5],
	       ANNOUNCE_FRAMES, why);
	n->announce_left = ANNOUNCE_FRAMES;
	announce_tick(n);
}

int virtio_net__attach(struct virtio_net *n, qb_loop_t *loop)
{
	int ret;

	if (!n)
		return 0;
	ret = qb_loop_poll_add(loop, QB_LOOP_MED, n->kick_fd, POLLIN, n, kicked);
	if (ret)
		return ret;
	ret = qb_loop_poll_add(loop, QB_LOOP_MED, n->fd, POLLIN, n, tap_ready);
	if (ret) {
		qb_loop_poll_del(loop, n->kick_fd);
		return ret;
	}
	n->loop = loop;
	n->tap_polled = true;
	virtio_net__kick(n);
	return 0;
}

void virtio_net__detach(struct virtio_net *n)
{
	if (!n || !n->loop)
		return;
	if (n->announce_left)
		qb_loop_timer_del(n->loop, n->announce_timer);
	n->announce_left = 0;
	qb_loop_poll_del(n->loop, n->fd);
	qb_loop_poll_del(n->loop, n->kick_fd);
	n->loop = NULL;
}

int virtio_net__create(struct virtio_net **out, struct vm *vm, const struct net_cfg *cfg,
		       const char **err)
{
	struct virtio_net *n = calloc(1, sizeof(*n));
	int ret;

	*out = NULL;
	if (!n)
		return -ENOMEM;
	n->vm = vm;
	n->fd = cfg->use_fd ? cfg->fd : -1;
	n->kick_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	pthread_mutex_init(&n->qlock, NULL);
	if (n->kick_fd < 0) {
		*err = "cannot create the virtio-net eventfd";
		ret = -errno;
		goto fail;
	}
	if (!cfg->use_fd) {
		n->fd = tap__open(cfg->tap, cfg->bridge, err);
		if (n->fd < 0) {
			ret = n->fd;
			goto fail;
		}
		n->own_fd = true;
	}
	memcpy(n->config.mac, cfg->mac, 6);
	n->config.status = VIRTIO_NET_S_LINK_UP;
	ret = virtio_mmio__init(&n->t, vm, &vm->mem, GUEST_ABI_VIRTIO_MMIO_BASE +
				GUEST_ABI_VIRTIO_NET_SLOT * GUEST_ABI_VIRTIO_MMIO_STRIDE,
				GUEST_ABI_VIRTIO_NET_IRQ, &net_ops,
				VIRTIO_NET_F_MAC | VIRTIO_NET_F_STATUS, n);
	if (ret) {
		*err = "cannot register the virtio-net window";
		virtio_mmio__exit(&n->t);
		goto fail;
	}
	if (cfg->tap)
		qb_log(LOG_INFO, "virtio-net: tap %s%s%s", cfg->tap, cfg->bridge ? " in bridge " : "",
		       cfg->bridge ? cfg->bridge : "");
	*out = n;
	return 0;
fail:
	if (n->own_fd)
		close(n->fd);
	if (n->kick_fd >= 0)
		close(n->kick_fd);
	pthread_mutex_destroy(&n->qlock);
	free(n);
	return ret;
}

void virtio_net__destroy(struct virtio_net *n)
{
	if (!n)
		return;
	virtio_net__detach(n);
	/* Held output was never acknowledged: it does not leave at exit. */
	virtio_net__drop_output(n);
	virtio_mmio__exit(&n->t);
	if (n->own_fd)
		close(n->fd);
	close(n->kick_fd);
	pthread_mutex_destroy(&n->qlock);
	free(n);
}

void virtio_net__reset(struct virtio_net *n)
{
	if (!n)
		return;
	pthread_mutex_lock(&n->t.lock);
	virtio_mmio__reset(&n->t);
	pthread_mutex_unlock(&n->t.lock);
}

void virtio_net__counters(struct virtio_net *n, struct net_counters *c)
{
	pthread_mutex_lock(&n->qlock);
	*c = n->c;
	c->held_frames = n->q_count;
	pthread_mutex_unlock(&n->qlock);
}

const uint8_t *virtio_net__mac(const struct virtio_net *n)
{
	return n->config.mac;
}

int virtio_net__save(struct virtio_net *n, Vmm__State__VirtioNetState *st)
{
	int ret;

	vmm__state__virtio_net_state__init(st);
	st->transport = malloc(sizeof(*st->transport));
	if (!st->transport)
		return -ENOMEM;
	pthread_mutex_lock(&n->t.lock);
	ret = virtio_mmio__save(&n->t, st->transport);
	pthread_mutex_unlock(&n->t.lock);
	if (ret) {
		free(st->transport);
		st->transport = NULL;
		return ret;
	}
	st->mac.data = n->config.mac;
	st->mac.len = 6;
	return 0;
}

void virtio_net__free_saved(Vmm__State__VirtioNetState *st)
{
	if (!st->transport)
		return;
	virtio_mmio__free_saved(st->transport);
	free(st->transport);
	st->transport = NULL;
}

int virtio_net__check_saved(const struct virtio_net *n, const Vmm__State__VirtioNetState *st,
			    const char **err)
{
	if (st->mac.len != 6 || memcmp(st->mac.data, n->config.mac, 6)) {
		*err = "the state stream was saved with another MAC address (--net mac=)";
		return -EINVAL;
	}
	return 0;
}

void virtio_net__load(struct virtio_net *n, const Vmm__State__VirtioNetState *st)
{
	virtio_mmio__load(&n->t, st->transport);
}
