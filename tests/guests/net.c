/*
 * net: a ring-3, polling virtio-net driver (virtio-mmio slot 1,
 * vmm/guest_abi.h) with the least of a network stack: ARP (answers requests
 * for its address), IPv4 (header checksum checked, no fragments, no
 * options needed; anything else dropped) and UDP (checksum checked when
 * present, always sent).  No interrupts: the rx used ring is polled.
 *
 * The service, on UDP port `port`: a counter, for checking that no
 * acknowledged update is lost or applied twice across a migration or a
 * failover (tests/virtio/udpclient.py).  All fields little-endian:
 *   request (16 bytes): magic u32, client u32, seq u64
 *     magic NET_MAGIC_COUNT: seq == last + 1 for this client increments the
 *       counter and answers its new value; seq == last (a retry) answers the
 *       value given then, without incrementing; any other seq is answered
 *       with status 1 (value = the client's last seq);
 *     magic NET_MAGIC_ECHO: answered at once with value 0 (RTT probes).
 *   reply (24 bytes): magic u32, status u32 (0 ok), seq u64, value u64
 * Up to NCLIENTS clients are remembered (the oldest is forgotten).
 *
 * Command line: ip=A.B.C.D (10.77.0.10), port=N (7777), hb_ms=M (1000:
 * "hb K value=V rx=R tx=T" on the serial port every M ms, 0 none),
 * mode=serve (default) | bad.  mode=bad drives malformed tx chains and rx
 * buffers (each must make the device need a reset, and a reset must bring
 * it back): "net ok bad N", or "net BAD ..."; its rx cases need frames
 * from outside (any broadcast, an ARP request does) within wait_ms=M
 * (10000) each.
 */
#include "guest.h"
#include "virtio.h"

#define MiB (1ULL << 20)
#define QSIZE 16
#define BUFSZ 2048
#define RXQ_RINGS (16 * MiB)          /* desc, avail +4K, used +8K */
#define TXQ_RINGS (16 * MiB + 0x4000)
#define RXBUF (17 * MiB)
#define TXBUF (17 * MiB + QSIZE * BUFSZ)
#define BIGBUF (18 * MiB)             /* mode=bad: an oversized frame */
#define HDR 12

#define NET_F_MAC (1u << 5)
#define NET_F_STATUS (1u << 16)

#define NET_MAGIC_COUNT 0x544e4355u   /* "UCNT" */
#define NET_MAGIC_ECHO 0x4f484345u    /* "ECHO" */
#define NCLIENTS 8

struct queue {
	struct desc *d;
	volatile uint16_t *avail;
	volatile uint16_t *used;
	uint16_t avail_idx, used_seen;
};

static struct queue rxq, txq;
static uint8_t mac[6];
static uint32_t my_ip;               /* host order */
static uint16_t my_port;

/* The service's state: in RAM, so it travels with a migration. */
static volatile uint64_t counter;
static struct client { uint32_t id; uint64_t seq, value, used; } clients[NCLIENTS];
static uint64_t nr_rx, nr_tx, nr_dropped, uses;

static uint16_t get16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static uint32_t get32(const uint8_t *p) { return (uint32_t)get16(p) << 16 | get16(p + 2); }

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, (uint16_t)(v >> 16));
	put16(p + 2, (uint16_t)v);
}

static void queue_setup(unsigned q, struct queue *vq, uint64_t rings, uint32_t size)
{
	vq->d = (struct desc *)(uintptr_t)rings;
	vq->avail = (volatile uint16_t *)(uintptr_t)(rings + 0x1000);
	vq->used = (volatile uint16_t *)(uintptr_t)(rings + 0x2000);
	vq->avail_idx = vq->used_seen = 0;
	if (mem_range_is_ram(rings, 0x3000))
		memset((void *)(uintptr_t)rings, 0, 0x3000);
	wr(R_QUEUE_SEL, q);
	wr(R_QUEUE_NUM, size);
	wr64(R_DESC, rings);
	wr64(R_AVAIL, rings + 0x1000);
	wr64(R_USED, rings + 0x2000);
	wr(R_QUEUE_READY, 1);
}

/* Publish descriptor head on vq (no notify). */
static void post(struct queue *vq, uint16_t head)
{
	vq->avail[2 + vq->avail_idx % QSIZE] = head;
	__atomic_thread_fence(__ATOMIC_RELEASE);
	vq->avail[1] = ++vq->avail_idx;
}

/* Give rx buffer i back to the device. */
static void rx_post(uint16_t i)
{
	rxq.d[i] = (struct desc){ RXBUF + (uint64_t)i * BUFSZ, BUFSZ, F_WRITE, 0 };
	post(&rxq, i);
}

/* Reset and bring the device up; fill_rx: every rx buffer posted. */
static bool dev_init(bool fill_rx)
{
	if (!vio_negotiate(NET_F_MAC | NET_F_STATUS))
		return false;
	wr(R_QUEUE_SEL, 0);
	if (rd(R_QUEUE_NUM_MAX) < QSIZE)
		return false;
	queue_setup(0, &rxq, RXQ_RINGS, QSIZE);
	queue_setup(1, &txq, TXQ_RINGS, QSIZE);
	/*
	 * The rx buffers go in before DRIVER_OK, without a notify (one is not
	 * allowed yet): the device must look at the queue once it is ready.
	 */
	for (uint16_t i = 0; fill_rx && i < QSIZE; i++)
		rx_post(i);
	wr(R_STATUS, S_ACK | S_DRIVER | S_FEATURES_OK | S_DRIVER_OK);
	return !(rd(R_STATUS) & S_NEEDS_RESET);
}

/* Send len bytes of frame (Ethernet header on): done when the notify returns. */
static void send(const uint8_t *frame, uint32_t len)
{
	uint16_t slot = txq.avail_idx % QSIZE;
	uint8_t *b = (uint8_t *)(uintptr_t)(TXBUF + (uint64_t)slot * BUFSZ);

	if (len + HDR > BUFSZ)
		return;
	memset(b, 0, HDR);
	memcpy(b + HDR, frame, len);
	txq.d[slot] = (struct desc){ (uint64_t)(uintptr_t)b, len + HDR, 0, 0 };
	post(&txq, slot);
	wr(R_QUEUE_NOTIFY, 1);
	txq.used_seen = txq.used[1];
	nr_tx++;
}

static uint16_t csum_add(uint32_t sum, const uint8_t *p, uint32_t len)
{
	for (uint32_t i = 0; i + 1 < len; i += 2)
		sum += get16(p + i);
	if (len & 1)
		sum += (uint32_t)p[len - 1] << 8;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)sum;
}

/* The UDP checksum over the pseudo header and the datagram (0 is sent as ~0). */
static uint16_t udp_csum(const uint8_t *ip, const uint8_t *udp, uint16_t ulen)
{
	uint32_t sum = get16(ip + 12) + get16(ip + 14) + get16(ip + 16) + get16(ip + 18) + 17 +
		       ulen;

	return (uint16_t)~csum_add(sum, udp, ulen);
}

static void arp(const uint8_t *f, uint32_t len)
{
	uint8_t r[60];

	/* Ethernet/IPv4 request for our address */
	if (len < 42 || get16(f + 14) != 1 || get16(f + 16) != 0x0800 || f[18] != 6 ||
	    f[19] != 4 || get16(f + 20) != 1 || get32(f + 38) != my_ip)
		return;
	memset(r, 0, sizeof(r));
	memcpy(r, f + 6, 6);
	memcpy(r + 6, mac, 6);
	put16(r + 12, 0x0806);
	memcpy(r + 14, f + 14, 6);        /* htype, ptype, hlen, plen */
	put16(r + 20, 2);                 /* reply */
	memcpy(r + 22, mac, 6);
	put32(r + 28, my_ip);
	memcpy(r + 32, f + 22, 10);       /* their hardware and protocol address */
	send(r, sizeof(r));
}

static struct client *client(uint32_t id)
{
	struct client *c = &clients[0];

	for (unsigned i = 0; i < NCLIENTS; i++) {
		if (clients[i].used && clients[i].id == id) {
			clients[i].used = ++uses;
			return &clients[i];
		}
		if (clients[i].used < c->used)
			c = &clients[i];
	}
	*c = (struct client){ id, 0, 0, ++uses };
	return c;
}

/* Build the reply payload from the request; false: drop it. */
static bool serve(const uint8_t *q, uint8_t *a)
{
	uint32_t magic, id, status = 0;
	uint64_t seq, value = 0;
	struct client *c;

	memcpy(&magic, q, 4);
	memcpy(&id, q + 4, 4);
	memcpy(&seq, q + 8, 8);
	if (magic == NET_MAGIC_COUNT) {
		c = client(id);
		if (seq == c->seq + 1) {
			c->seq = seq;
			c->value = ++counter;
		} else if (seq != c->seq || !seq) {
			status = 1;
		}
		value = status ? c->seq : c->value;
	} else if (magic != NET_MAGIC_ECHO) {
		return false;
	}
	memcpy(a, &magic, 4);
	memcpy(a + 4, &status, 4);
	memcpy(a + 8, &seq, 8);
	memcpy(a + 16, &value, 8);
	return true;
}

static void udp(const uint8_t *f, const uint8_t *ip, uint32_t ihl, uint32_t iplen)
{
	const uint8_t *u = ip + ihl;
	uint16_t ulen;
	uint8_t r[14 + 20 + 8 + 24];

	if (iplen < ihl + 8)
		return;
	ulen = get16(u + 4);
	if (ulen < 8 || ulen > iplen - ihl || get16(u + 2) != my_port)
		return;
	if (get16(u + 6) && udp_csum(ip, u, ulen) != 0)
		return;  /* summed with its own checksum field, a good datagram gives ~0 */
	if (ulen != 8 + 16 || !serve(u + 8, r + 42))
		return;
	memcpy(r, f + 6, 6);
	memcpy(r + 6, mac, 6);
	put16(r + 12, 0x0800);
	memset(r + 14, 0, 20);
	r[14] = 0x45;
	put16(r + 16, 20 + 8 + 24);
	r[22] = 64;
	r[23] = 17;
	put32(r + 26, my_ip);
	memcpy(r + 30, ip + 12, 4);
	put16(r + 24, (uint16_t)~csum_add(0, r + 14, 20));
	put16(r + 34, my_port);
	memcpy(r + 36, u, 2);             /* to their port */
	put16(r + 38, 8 + 24);
	put16(r + 40, 0);
	put16(r + 40, udp_csum(r + 14, r + 34, 8 + 24) ?: 0xffff);
	send(r, sizeof(r));
}

static void ipv4(const uint8_t *f, uint32_t len)
{
	const uint8_t *ip = f + 14;
	uint32_t ihl, tot;

	if (len < 14 + 20 || ip[0] >> 4 != 4)
		return;
	ihl = (ip[0] & 15) * 4u;
	tot = get16(ip + 2);
	if (ihl < 20 || tot < ihl || tot > len - 14 || csum_add(0, ip, ihl) != 0xffff)
		return;
	if (get32(ip + 16) != my_ip || (get16(ip + 6) & 0x3fff) || ip[9] != 17)
		return;  /* not ours, a fragment, not UDP */
	udp(f, ip, ihl, tot);
}

static void frame_in(const uint8_t *f, uint32_t len)
{
	nr_rx++;
	if (len < 14)
		return;
	if (get16(f + 12) == 0x0806)
		arp(f, len);
	else if (get16(f + 12) == 0x0800)
		ipv4(f, len);
	else
		nr_dropped++;
}

/* Take every received frame, then give the buffers back with one notify. */
static bool rx_poll(void)
{
	bool any = false;

	while (rxq.used[1] != rxq.used_seen) {
		volatile uint32_t *e = (volatile uint32_t *)(rxq.used + 2) + 2 * (rxq.used_seen % QSIZE);
		uint32_t id, len;

		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		id = e[0];
		len = e[1];
		rxq.used_seen++;
		if (id < QSIZE && len > HDR && len <= BUFSZ)
			frame_in((const uint8_t *)(uintptr_t)(RXBUF + (uint64_t)id * BUFSZ + HDR),
				 len - HDR);
		if (id < QSIZE)
			rx_post((uint16_t)id);
		any = true;
	}
	if (any)
		wr(R_QUEUE_NOTIFY, 0);
	return any;
}

static bool needs_reset(void)
{
	return rd(R_STATUS) & S_NEEDS_RESET;
}

static int serve_loop(void)
{
	uint64_t hb_us = cmdline_get_u64("hb_ms", 1000) * 1000, next = now_us() + hb_us, k = 0;

	printf("net ready %u.%u.%u.%u:%u mac %02x:%02x:%02x:%02x:%02x:%02x\n", my_ip >> 24,
	       (my_ip >> 16) & 255, (my_ip >> 8) & 255, my_ip & 255, my_port, mac[0], mac[1],
	       mac[2], mac[3], mac[4], mac[5]);
	for (;;) {
		if (!rx_poll())
			cpu_relax();
		/* Register reads are exits: only at heartbeats. */
		if (hb_us && now_us() >= next) {
			if (needs_reset()) {
				printf("net BAD the device needs a reset\n");
				return 1;
			}
			next += hb_us;
			printf("hb %lu value=%lu rx=%lu tx=%lu\n", ++k, (uint64_t)counter, nr_rx,
			       nr_tx);
		}
	}
}

/* --- mode=bad ---------------------------------------------------------- */

#define NOWHERE 0x7f0000000000ULL /* not RAM, not a device */

/* A tx chain of n descriptors the case filled in, from head 0. */
static void tx_kick(void)
{
	post(&txq, 0);
	wr(R_QUEUE_NOTIFY, 1);
}

static void tx_case(uint64_t addr0, uint32_t len0, uint16_t flags0, uint64_t addr1,
		    uint32_t len1, uint16_t flags1)
{
	memset((void *)(uintptr_t)TXBUF, 0, 64);
	txq.d[0] = (struct desc){ addr0, len0, flags0, 1 };
	txq.d[1] = (struct desc){ addr1, len1, flags1, 0 };
	tx_kick();
}

/* An rx buffer the case set up must be refused once a frame arrives (10 s). */
/* How long an rx case waits for a frame from outside (the test's client). */
static uint64_t rx_wait_us(void)
{
	return cmdline_get_u64("wait_ms", 10000) * 1000;
}

static void rx_refused(uint64_t addr, uint32_t len, uint16_t flags)
{
	uint64_t end = now_us() + rx_wait_us();

	rxq.d[0] = (struct desc){ addr, len, flags, 0 };
	post(&rxq, 0);
	wr(R_QUEUE_NOTIFY, 0);
	while (!needs_reset() && now_us() < end)
		delay_us(1000);
}

/*
 * An rx queue of one too-small buffer: the frame is dropped, the buffer
 * comes back with nothing written, and the device does not need a reset.
 */
static bool rx_small_dropped(void)
{
	uint64_t end = now_us() + rx_wait_us();

	rxq.d[0] = (struct desc){ RXBUF, HDR + 4, F_WRITE, 0 };
	post(&rxq, 0);
	wr(R_QUEUE_NOTIFY, 0);
	while (rxq.used[1] == 0 && now_us() < end)
		cpu_relax();
	return rxq.used[1] == 1 && ((volatile uint32_t *)(rxq.used + 2))[1] == 0 && !needs_reset();
}

static int bad_cases(void)
{
	int n = 0;

#define CASE(what, setup)                                                \
	do {                                                             \
		if (!dev_init(false)) {                                 \
			printf("net BAD no device before: %s\n", what);  \
			return 1;                                        \
		}                                                        \
		setup;                                                   \
		if (!needs_reset()) {                                    \
			printf("net BAD not refused: %s\n", what);       \
			return 1;                                        \
		}                                                        \
		n++;                                                     \
	} while (0)

	CASE("a tx buffer the device may write", tx_case(TXBUF, 64, F_WRITE, 0, 0, 0));
	CASE("a tx chain shorter than the header", tx_case(TXBUF, 4, 0, 0, 0, 0));
	CASE("a tx buffer outside RAM", tx_case(TXBUF, HDR, F_NEXT, NOWHERE, 64, 0));
	CASE("a tx frame over 64 KiB", tx_case(TXBUF, HDR, F_NEXT, BIGBUF, 70000, 0));
	CASE("a tx descriptor loop", (txq.d[0] = (struct desc){ TXBUF, 64, F_NEXT, 0 },
				      tx_kick()));
	CASE("a tx head outside the table", (post(&txq, 99), wr(R_QUEUE_NOTIFY, 1)));
	CASE("an rx buffer the device may not write", rx_refused(RXBUF, BUFSZ, 0));
	CASE("an rx buffer outside RAM", rx_refused(NOWHERE, BUFSZ, F_WRITE));
#undef CASE
	if (!dev_init(false) || !rx_small_dropped()) {
		printf("net BAD a too-small rx buffer was not returned empty\n");
		return 1;
	}
	n++;
	/* Still a working device after all that. */
	if (!dev_init(true)) {
		printf("net BAD no recovery\n");
		return 1;
	}
	printf("net ok bad %d\n", n);
	return 0;
}

static uint32_t parse_ip(const char *s)
{
	uint32_t ip = 0;

	for (int i = 0; i < 4; i++) {
		uint64_t b;

		s = parse_u64(s, &b);
		if (!s || b > 255 || (i < 3 && *s++ != '.'))
			return 0;
		ip = ip << 8 | (uint32_t)b;
	}
	return *s ? 0 : ip;
}

int guest_main(const char *cmdline)
{
	char mode[16] = "serve", ip[20] = "10.77.0.10";

	regs = (volatile uint32_t *)(uintptr_t)(GUEST_ABI_VIRTIO_MMIO_BASE +
						 GUEST_ABI_VIRTIO_NET_SLOT *
						 GUEST_ABI_VIRTIO_MMIO_STRIDE);
	cmdline_get_str("mode", mode, sizeof(mode));
	cmdline_get_str("ip", ip, sizeof(ip));
	my_ip = parse_ip(ip);
	my_port = (uint16_t)cmdline_get_u64("port", 7777);
	if (!my_ip || !my_port || !mem_range_is_ram(RXQ_RINGS, 3 * MiB)) {
		printf("net BAD parameters (ip=%s, port, at least 20 MiB of RAM)\n", ip);
		return 1;
	}
	if (rd(R_MAGIC) != 0x74726976 || rd(R_VERSION) != 2 || rd(R_DEVICE_ID) != 1) {
		printf("net BAD no virtio-net device (magic 0x%x)\n", rd(R_MAGIC));
		return 1;
	}
	if (!dev_init(true)) {
		printf("net BAD device init (status 0x%x)\n", rd(R_STATUS));
		return 1;
	}
	for (int i = 0; i < 6; i++)
		mac[i] = ((volatile uint8_t *)regs)[R_CONFIG + i];
	if (!strcmp(mode, "serve"))
		return serve_loop();
	if (!strcmp(mode, "bad"))
		return bad_cases();
	printf("net BAD unknown mode %s\n", mode);
	return 2;
}
