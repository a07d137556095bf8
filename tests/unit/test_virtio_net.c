/*
 * virtio-net inside a real (never started) KVM VM, driven from the host
 * through the VM's MMIO trap table on synthetic rings, with a SOCK_SEQPACKET
 * pair in place of the tap (one frame per message, like a tap): features
 * and config; TX strips the header and reaches the backend; the output
 * commit holds frames until released and drops past its bound; RX writes
 * header and frame only while the VM runs, marks the pages dirty, drops a
 * frame too big for the buffer; malformed tx chains and rx buffers make
 * the device need a reset; the saved state refuses another MAC.  Needs
 * /dev/kvm (exit 77 without).
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tests/unit/kvmtest.h"
#include "vmm/dirty.h"
#include "vmm/guest_abi.h"
#include "vmm/virtio_mmio.h"
#include "vmm/virtio_net.h"
#include "vmm/vm.h"

#define MIB (1ULL << 20)
#define RXR (16 * MIB)
#define TXR (16 * MIB + 0x4000)
#define BUF (17 * MIB)
#define BASE (GUEST_ABI_VIRTIO_MMIO_BASE + GUEST_ABI_VIRTIO_NET_SLOT * GUEST_ABI_VIRTIO_MMIO_STRIDE)
#define QN 8

static char kernel[512];
static struct vm vm;
static int sv[2];
static uint16_t rx_avail, tx_avail;

struct desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags, next;
};

static uint32_t rd(uint64_t off)
{
	uint32_t v;

	iotrap__dispatch(&vm.io, NULL, IOTRAP_MMIO, BASE + off, (uint8_t *)&v, 4, false);
	return v;
}

static void wr(uint64_t off, uint32_t v)
{
	iotrap__dispatch(&vm.io, NULL, IOTRAP_MMIO, BASE + off, (uint8_t *)&v, 4, true);
}

static void queue(unsigned q, uint64_t rings)
{
	wr(0x030, q);
	wr(0x038, QN);
	wr(0x080, (uint32_t)rings);
	wr(0x090, (uint32_t)(rings + 0x1000));
	wr(0x0a0, (uint32_t)(rings + 0x2000));
	wr(0x044, 1);
}

/* Reset, negotiate VERSION_1, MAC, STATUS, and set both queues up on zeroed rings. */
static void bring_up(void)
{
	wr(0x070, 0);
	memset(vm.mem.host + RXR, 0, 0x8000);
	wr(0x070, 3);
	wr(0x024, 1);
	wr(0x020, 1);
	wr(0x024, 0);
	wr(0x020, (1u << 5) | (1u << 16));
	wr(0x070, 11);
	queue(0, RXR);
	queue(1, TXR);
	wr(0x070, 15);
	ck_assert_uint_eq(rd(0x070), 15);
	rx_avail = tx_avail = 0;
}

static void setup(void)
{
	struct vm_config cfg = {
		.mem_size = 64 * MIB, .nr_vcpus = 1, .kernel_path = kernel,
		.serial = { SERIAL_NONE, NULL },
		.net = { .mac = { 0x52, 0x54, 0, 1, 2, 3 }, .use_fd = true },
	};
	const char *err = NULL;

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK, 0, sv), 0);
	cfg.net.fd = sv[0];
	ck_assert_msg(vm__create(&vm, &cfg, &err) == 0, "vm__create: %s", err);
	bring_up();
	vm.state = VM_STATE_RUNNING;   /* no vCPU runs: RX only looks at the state */
}

static void teardown(void)
{
	vm.state = VM_STATE_CREATED;
	vm__destroy(&vm);
	close(sv[0]);
	close(sv[1]);
}

static void post(uint64_t rings, uint16_t *idx, uint16_t head)
{
	uint16_t i = (uint16_t)(*idx + 1);

	mem__write(&vm.mem, rings + 0x1000 + 4 + 2 * (*idx % QN), &head, 2);
	mem__write(&vm.mem, rings + 0x1000 + 2, &i, 2);
	*idx = i;
}

static uint16_t used_idx(uint64_t rings)
{
	uint16_t v;

	mem__read(&vm.mem, rings + 0x2000 + 2, &v, 2);
	return v;
}

static uint32_t used_len(uint64_t rings, uint16_t n)
{
	uint32_t v;

	mem__read(&vm.mem, rings + 0x2000 + 4 + 8 * (n % QN) + 4, &v, 4);
	return v;
}

/* A frame of len bytes (pattern from seed) as header + 2 descriptors. */
static void tx_frame(uint32_t len, uint8_t seed)
{
	uint8_t f[12 + 1600];
	struct desc d[2] = { { BUF, 20, 1, 1 }, { BUF + 20, 12 + len - 20, 0, 0 } };

	memset(f, 0, 12);
	for (uint32_t i = 0; i < len; i++)
		f[12 + i] = (uint8_t)(seed + i);
	mem__write(&vm.mem, BUF, f, 12 + len);
	mem__write(&vm.mem, TXR, d, sizeof(d));
	post(TXR, &tx_avail, 0);
	wr(0x050, 1);
}

static ssize_t backend_recv(uint8_t *buf, size_t len)
{
	return recv(sv[1], buf, len, MSG_DONTWAIT);
}

static void rx_buffer(uint32_t len, uint16_t flags)
{
	struct desc d = { BUF + 0x10000, len, flags, 0 };

	mem__write(&vm.mem, RXR, &d, sizeof(d));
	post(RXR, &rx_avail, 0);
	wr(0x050, 0);
}

START_TEST(test_features_and_config)
{
	uint32_t f0, f1;
	uint8_t mac[6];

	ck_assert_uint_eq(rd(0x008), 1);
	wr(0x014, 0);
	f0 = rd(0x010);
	wr(0x014, 1);
	f1 = rd(0x010);
	ck_assert_uint_eq(f0, (1u << 5) | (1u << 16));
	ck_assert_uint_eq(f1, 1);
	for (int i = 0; i < 6; i++)
		iotrap__dispatch(&vm.io, NULL, IOTRAP_MMIO, BASE + 0x100 + i, &mac[i], 1, false);
	ck_assert_mem_eq(mac, ((uint8_t[]){ 0x52, 0x54, 0, 1, 2, 3 }), 6);
	ck_assert_uint_eq(rd(0x104) >> 16, 1);  /* status: link up */
}
END_TEST

START_TEST(test_tx)
{
	uint8_t got[2048];
	struct net_counters c;

	tx_frame(60, 7);
	ck_assert_int_eq(backend_recv(got, sizeof(got)), 60);
	ck_assert_uint_eq(got[0], 7);
	ck_assert_uint_eq(got[59], (uint8_t)(7 + 59));
	ck_assert_uint_eq(used_idx(TXR), 1);
	ck_assert_uint_eq(rd(0x060) & 1, 1);
	virtio_net__counters(vm.net, &c);
	ck_assert_uint_eq(c.tx_frames, 1);
	ck_assert_uint_eq(c.tx_bytes, 60);
}
END_TEST

START_TEST(test_output_commit)
{
	uint8_t got[2048];
	struct net_counters c;

	virtio_net__hold(vm.net, true);
	for (uint8_t i = 0; i < 3; i++)
		tx_frame(60, i);
	ck_assert_int_eq(backend_recv(got, sizeof(got)), -1);
	ck_assert_uint_eq(used_idx(TXR), 3);   /* the guest is done with them */
	ck_assert_uint_eq(virtio_net__tx_mark(vm.net), 3);
	virtio_net__release(vm.net, 2);
	ck_assert_int_eq(backend_recv(got, sizeof(got)), 60);
	ck_assert_uint_eq(got[0], 0);
	ck_assert_int_eq(backend_recv(got, sizeof(got)), 60);
	ck_assert_uint_eq(got[0], 1);
	ck_assert_int_eq(backend_recv(got, sizeof(got)), -1);
	virtio_net__release(vm.net, 2);        /* again: nothing more */
	ck_assert_int_eq(backend_recv(got, sizeof(got)), -1);
	virtio_net__hold(vm.net, false);       /* open: the rest leaves */
	ck_assert_int_eq(backend_recv(got, sizeof(got)), 60);
	ck_assert_uint_eq(got[0], 2);
	virtio_net__counters(vm.net, &c);
	ck_assert_uint_eq(c.released_frames, 3);
	ck_assert_uint_eq(c.held_frames, 0);
}
END_TEST

START_TEST(test_hold_bound_and_drop)
{
	uint8_t got[2048];
	struct net_counters c;

	virtio_net__hold(vm.net, true);
	for (unsigned i = 0; i < NET_HOLD_MAX_FRAMES + 5; i++)
		tx_frame(60, (uint8_t)i);
	virtio_net__counters(vm.net, &c);
	ck_assert_uint_eq(c.held_frames, NET_HOLD_MAX_FRAMES);
	ck_assert_uint_eq(c.hold_dropped, 5);
	ck_assert_uint_eq(virtio_net__tx_mark(vm.net), NET_HOLD_MAX_FRAMES);
	/* An activated standby forgets the uncommitted epoch's frames. */
	virtio_net__drop_output(vm.net);
	virtio_net__hold(vm.net, false);
	ck_assert_int_eq(backend_recv(got, sizeof(got)), -1);
	virtio_net__counters(vm.net, &c);
	ck_assert_uint_eq(c.hold_dropped, NET_HOLD_MAX_FRAMES + 5);
}
END_TEST

START_TEST(test_rx)
{
	uint8_t frame[100], hdr[12], want_hdr[12] = { [10] = 1 }, data[100];
	struct dirty_bitmap b;

	for (int i = 0; i < 100; i++)
		frame[i] = (uint8_t)(200 + i);
	ck_assert_int_eq(send(sv[1], frame, sizeof(frame), 0), 100);
	rx_buffer(2048, 2);
	/* Paused: nothing is written, the frame waits in the backend. */
	vm.state = VM_STATE_PAUSED;
	virtio_net__rx_pump(vm.net);
	ck_assert_uint_eq(used_idx(RXR), 0);
	vm.state = VM_STATE_RUNNING;
	ck_assert_int_eq(dirty_bitmap__init(&b, vm.mem.size), 0);
	ck_assert_int_eq(dirty__start(&vm), 0);
	ck_assert_int_eq(dirty__harvest(&vm, &b), 0);
	dirty_bitmap__clear(&b);
	virtio_net__rx_pump(vm.net);
	ck_assert_uint_eq(used_idx(RXR), 1);
	ck_assert_uint_eq(used_len(RXR, 0), 112);
	mem__read(&vm.mem, BUF + 0x10000, hdr, 12);
	mem__read(&vm.mem, BUF + 0x10000 + 12, data, 100);
	ck_assert_mem_eq(hdr, want_hdr, 12);
	ck_assert_mem_eq(data, frame, 100);
	ck_assert_int_eq(dirty__harvest(&vm, &b), 0);
	ck_assert(dirty_bitmap__test(&b, (BUF + 0x10000) / MEM_PAGE_SIZE));
	ck_assert(dirty_bitmap__test(&b, (RXR + 0x2000) / MEM_PAGE_SIZE));
	ck_assert_uint_eq(dirty_bitmap__count(&b), 2);
	ck_assert_int_eq(dirty__stop(&vm), 0);
	dirty_bitmap__free(&b);
	/* No buffer: the next frame stays in the backend. */
	ck_assert_int_eq(send(sv[1], frame, sizeof(frame), 0), 100);
	virtio_net__rx_pump(vm.net);
	ck_assert_int_eq(recv(sv[0], data, sizeof(data), MSG_DONTWAIT), 100);
}
END_TEST

/* One frame of 100 bytes into one rx buffer of len bytes with flags. */
static void rx_into(uint32_t len, uint16_t flags)
{
	uint8_t frame[100] = { 1 };

	ck_assert_int_eq(send(sv[1], frame, sizeof(frame), 0), 100);
	rx_buffer(len, flags);
	virtio_net__rx_pump(vm.net);
}

START_TEST(test_rx_too_small)
{
	struct net_counters c;

	rx_into(50, 2);
	ck_assert_uint_eq(used_idx(RXR), 1);
	ck_assert_uint_eq(used_len(RXR, 0), 0);
	ck_assert_uint_eq(rd(0x070) & VIRTIO_STATUS_NEEDS_RESET, 0);
	virtio_net__counters(vm.net, &c);
	ck_assert_uint_eq(c.rx_dropped, 1);
}
END_TEST

START_TEST(test_rx_read_only_buffer)
{
	rx_into(2048, 0);
	ck_assert_uint_ne(rd(0x070) & VIRTIO_STATUS_NEEDS_RESET, 0);
}
END_TEST

START_TEST(test_tx_malformed)
{
	uint8_t got[2048];
	struct desc d = { BUF, 60, 2, 0 };   /* device-writable */

	mem__write(&vm.mem, TXR, &d, sizeof(d));
	post(TXR, &tx_avail, 0);
	wr(0x050, 1);
	ck_assert_uint_ne(rd(0x070) & VIRTIO_STATUS_NEEDS_RESET, 0);
	ck_assert_int_eq(backend_recv(got, sizeof(got)), -1);
}
END_TEST

START_TEST(test_tx_short_and_long)
{
	struct desc d = { BUF, 11, 0, 0 };     /* less than the header */

	mem__write(&vm.mem, TXR, &d, sizeof(d));
	post(TXR, &tx_avail, 0);
	wr(0x050, 1);
	ck_assert_uint_ne(rd(0x070) & VIRTIO_STATUS_NEEDS_RESET, 0);
	bring_up();
	d = (struct desc){ BUF, 12 + 65536, 0, 0 };  /* one byte over the limit */
	mem__write(&vm.mem, TXR, &d, sizeof(d));
	post(TXR, &tx_avail, 0);
	wr(0x050, 1);
	ck_assert_uint_ne(rd(0x070) & VIRTIO_STATUS_NEEDS_RESET, 0);
}
END_TEST

START_TEST(test_state_mac)
{
	Vmm__State__VirtioNetState st;
	const char *err = NULL;

	ck_assert_int_eq(virtio_net__save(vm.net, &st), 0);
	ck_assert_uint_eq(st.transport->n_queues, 2);
	ck_assert_int_eq(virtio_net__check_saved(vm.net, &st, &err), 0);
	st.mac.data = (uint8_t *)"\x52\x54\x00\x09\x09\x09";
	ck_assert_int_eq(virtio_net__check_saved(vm.net, &st, &err), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "MAC"));
	virtio_net__free_saved(&st);
}
END_TEST

static Suite *virtio_net_suite(void)
{
	Suite *s = suite_create("virtio_net");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_features_and_config);
	tcase_add_test(tc, test_tx);
	tcase_add_test(tc, test_output_commit);
	tcase_add_test(tc, test_hold_bound_and_drop);
	tcase_add_test(tc, test_rx);
	tcase_add_test(tc, test_rx_too_small);
	tcase_add_test(tc, test_rx_read_only_buffer);
	tcase_add_test(tc, test_tx_malformed);
	tcase_add_test(tc, test_tx_short_and_long);
	tcase_add_test(tc, test_state_mac);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return kvmtest__main("test_virtio_net", "hello.elf", kernel, sizeof(kernel), virtio_net_suite);
}
