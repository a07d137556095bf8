/*
 * A standby's checkpoints: staged, applied over its VM's state.
 *
 * A checkpoint applied as a transaction (vm_state__apply_over_undoable):
 * when KVM refuses a vCPU state after the disk blocks, the RAM pages, the
 * irqchip and the first vCPU were already loaded, everything is put back:
 * RAM, every vCPU's registers and the disk image are as before, and the
 * guest then runs on and verifies its own memory.
 *
 * Between loads (at most one a second) a checkpoint's vCPU state is kept
 * aside, not loaded into KVM, until vm_state__undo_settle, which then
 * loads the last one, or names the vCPU KVM refused.
 *
 * A page the guest dirtied to zero reaches the standby as zero.
 *
 * A checkpoint larger than any checkpoint of its VM can be is refused with
 * ENOMEM and a message (its status, its log, a negative Ack), the stream
 * ended at once, the standby lost (not killed, its last state kept): a real
 * standby object (replication/checkpoint_standby.c) on a TCP loopback
 * channel, the test as its primary.  Needs /dev/kvm.
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>
#include <linux/kvm.h>
#include <openssl/evp.h>
#include <qb/qbloop.h>

#include "replication/channel.h"
#include "replication/checkpoint.h"
#include "replication/wire.h"

#include "vmm/control.h"
#include "vmm/dirty.h"
#include "vmm/stream.h"
#include "vmm/vcpu.h"
#include "vmm/virtio_blk.h"
#include "vmm/vm.h"
#include "vmm/vm_port.h"
#include "vmm/vm_state.h"
#include "tests/unit/kvmtest.h"

#define MIB (1ULL << 20)
#define DIRTY_CMDLINE "mem_mib=4 rate_mib=0 hb_us=0 duration_ms=1500 cpus=2"
/* The dirty guest's run time goes on while the test pauses it to capture
 * (its clock is the TSC): slower where the CPU is emulated. */
#define DIRTY_CMDLINE_FMT "mem_mib=4 rate_mib=0 hb_us=0 duration_ms=%u cpus=2"
#define CR0_PG 0x80000000ULL

static char kernel[512];
static char image[] = "/tmp/test_standby.XXXXXX";


static void fill_blocks(struct vm *vm, unsigned first, unsigned n, uint8_t byte)
{
	uint8_t buf[VIRTIO_BLK_BLOCK];

	memset(buf, byte, sizeof(buf));
	for (unsigned b = first; b < first + n; b++)
		ck_assert_int_eq(virtio_blk__write(vm->blk, (uint64_t)b * sizeof(buf), buf,
						   sizeof(buf)), 0);
	ck_assert_int_eq(virtio_blk__sync(vm->blk), 0);
}

static void set_all(struct dirty_bitmap *b)
{
	memset(b->bits, 0xff, (b->nr_pages + 63) / 64 * sizeof(uint64_t));
}

/* The pages of the VM that are not zero now. */
static void set_nonzero(struct vm *vm, struct dirty_bitmap *b)
{
	for (uint64_t pg = 0; pg < b->nr_pages; pg++)
		if (!vm_state__all_zero(vm->mem.host + pg * MEM_PAGE_SIZE, MEM_PAGE_SIZE))
			b->bits[pg / 64] |= 1ULL << (pg % 64);
}

/* A checkpoint of the VM as it is now: every non-zero page, every block. */
static uint8_t *capture(struct vm *vm, size_t *len)
{
	struct dirty_bitmap pages, blocks;
	struct stream s;
	uint8_t *buf;

	ck_assert_int_eq(dirty_bitmap__init(&pages, vm->mem.size), 0);
	ck_assert_int_eq(virtio_blk__bitmap_init(vm->blk, &blocks), 0);
	set_nonzero(vm, &pages);
	set_all(&blocks);
	stream__init_mem(&s);
	ck_assert_int_eq(vm_state__save_pages(vm, &s, &pages, &blocks), 0);
	buf = stream__mem_take(&s, len);
	stream__close(&s);
	dirty_bitmap__free(&pages);
	dirty_bitmap__free(&blocks);
	return buf;
}

/* The dirty guest, 2 vCPUs, 64 MiB, the test image as its disk: created, not started. */
static void create_dirty_vm(struct vm *vm, char *cmdline, size_t len)
{
	struct vm_config cfg = {
		.mem_size = 64 * MIB, .nr_vcpus = 2, .kernel_path = kernel,
		.cmdline = cmdline, .serial = { SERIAL_NONE, NULL },
		.disk = { image, false },
	};
	const char *err = NULL;

	snprintf(cmdline, len, DIRTY_CMDLINE_FMT, kvmtest__scaled_ms(1500));
	ck_assert_msg(vm__create(vm, &cfg, &err) == 0, "vm__create: %s", err ? err : "");
}

/* Apply c with vCPU 1's CR0 made invalid: refused, the VM exactly as before. */
static void refused_and_undone(struct vm *vm, struct vm_state_undo *u, uint8_t *c, size_t len)
{
	struct vm_state_parsed p;
	uint8_t before[32], after[32];
	const char *err = NULL;
	bool whole = false;
	int ret;

	kvmtest__fingerprint(vm, before);
	ck_assert_msg(vm_state__parse(c, len, &p, &err) == 0, "parse: %s", err);
	ck_assert_uint_gt(p.nr_disk, 0);
	ck_assert_uint_gt(p.nr_pages, 1024);
	/* Paging without protected mode: KVM_SET_SREGS refuses it for vCPU 1. */
	p.vcpus[1]->sregs->cr0 = CR0_PG;
	ret = vm_state__apply_over_undoable(vm, &p, u, &whole, &err);
	ck_assert_msg(ret < 0, "KVM took an invalid CR0");
	ck_assert_msg(err && strstr(err, "vCPU"), "error: %s", err ? err : "none");
	ck_assert_msg(whole, "the undo failed");
	kvmtest__fingerprint(vm, after);
	ck_assert_msg(!memcmp(before, after, 32), "the VM is not as before the failed apply");
	vm_state__free_parsed(&p);
}

/*
 * Three states of one guest: checkpoints c1, c2 and the VM as it is (its
 * RAM and disk elsewhere again).  c2 refused there (the machine state to
 * put back is saved from KVM); c1 applied; c2 refused again (what is put
 * back are c1's records, kept from its apply).  The guest then runs on.
 * Every checkpoint loads its machine state here (settle_every 0).
 */
START_TEST(kvm_refuses_a_vcpu)
{
	char cmdline[96];
	struct vm_state_undo *u;
	struct vm_state_parsed p;
	uint8_t *c1, *c2;
	const char *err = NULL;
	struct vm vm;
	bool whole = false;
	size_t l1, l2;

	create_dirty_vm(&vm, cmdline, sizeof(cmdline));
	ck_assert_int_eq(vm_state__undo_new(&u), 0);
	vm_state__undo_settle_every(u, 0);
	fill_blocks(&vm, 0, 4, 0xa1);
	ck_assert_int_eq(vm__start(&vm), 0);
	kvmtest__sleep_ms(300);
	ck_assert_int_eq(vm__pause(&vm), 0);
	c1 = capture(&vm, &l1);
	fill_blocks(&vm, 0, 8, 0xc3);
	ck_assert_int_eq(vm__resume(&vm), 0);
	kvmtest__sleep_ms(100);
	ck_assert_int_eq(vm__pause(&vm), 0);
	c2 = capture(&vm, &l2);
	fill_blocks(&vm, 2, 8, 0x5e);
	ck_assert_int_eq(vm__resume(&vm), 0);
	kvmtest__sleep_ms(100);
	ck_assert_int_eq(vm__pause(&vm), 0);

	refused_and_undone(&vm, u, c2, l2);
	ck_assert_msg(vm_state__parse(c1, l1, &p, &err) == 0, "parse: %s", err);
	ck_assert_msg(vm_state__apply_over_undoable(&vm, &p, u, &whole, &err) == 0, "c1: %s", err);
	vm_state__free_parsed(&p);
	refused_and_undone(&vm, u, c2, l2);

	/* And it runs on from c1: the dirty guest verifies its memory. */
	ck_assert_int_eq(vm__resume(&vm), 0);
	for (int i = 0; i < 300 && kvmtest__vm_state(&vm) != VM_STATE_STOPPED; i++)
		kvmtest__sleep_ms(50);
	ck_assert_msg(kvmtest__vm_state(&vm) == VM_STATE_STOPPED, "the guest did not finish");
	ck_assert_msg(vm.stop_reason == VM_STOP_POWEROFF && vm.stop_status == 0,
		      "the guest stopped badly: %s", vm.stop_message);
	vm_state__undo_free(u);
	vm__destroy(&vm);
	free(c1);
	free(c2);
}
END_TEST

/* A copy of c applied (the apply swaps the old pages into its buffer). */
static void apply_ok(struct vm *vm, struct vm_state_undo *u, const uint8_t *c, size_t len,
		     uint64_t cr0_vcpu1)
{
	struct vm_state_parsed p;
	const char *err = NULL;
	bool whole = false;
	uint8_t *copy = malloc(len);

	ck_assert_ptr_nonnull(copy);
	memcpy(copy, c, len);
	ck_assert_msg(vm_state__parse(copy, len, &p, &err) == 0, "parse: %s", err);
	if (cr0_vcpu1)
		p.vcpus[1]->sregs->cr0 = cr0_vcpu1;
	ck_assert_msg(vm_state__apply_over_undoable(vm, &p, u, &whole, &err) == 0, "apply: %s",
		      err);
	vm_state__free_parsed(&p);
	free(copy);
}

static bool regs_are(struct vm *vm, const struct kvm_regs *want)
{
	struct kvm_regs r;

	ck_assert_int_eq(ioctl(vm->vcpus[0].fd, KVM_GET_REGS, &r), 0);
	return !memcmp(&r, want, sizeof(r));
}

/*
 * c1, then c2 within the second: c2's vCPU state waits aside (KVM still
 * has c1's registers) until settled; a c2 with an invalid CR0 is taken
 * the same way, and its settle is refused, naming the vCPU.
 */
START_TEST(machine_kept_aside)
{
	char cmdline[96];
	struct vm_state_undo *u;
	struct kvm_regs r2;
	uint8_t *c1, *c2;
	const char *err = NULL;
	struct vm vm;
	size_t l1, l2;

	create_dirty_vm(&vm, cmdline, sizeof(cmdline));
	ck_assert_int_eq(vm_state__undo_new(&u), 0);
	vm_state__undo_settle_every(u, 60000);
	ck_assert_int_eq(vm__start(&vm), 0);
	kvmtest__sleep_ms(300);
	ck_assert_int_eq(vm__pause(&vm), 0);
	c1 = capture(&vm, &l1);
	ck_assert_int_eq(vm__resume(&vm), 0);
	kvmtest__sleep_ms(100);
	ck_assert_int_eq(vm__pause(&vm), 0);
	c2 = capture(&vm, &l2);
	ck_assert_int_eq(ioctl(vm.vcpus[0].fd, KVM_GET_REGS, &r2), 0);

	apply_ok(&vm, u, c1, l1, 0);         /* the first: loaded */
	ck_assert_msg(!regs_are(&vm, &r2), "c1 and c2 have the same registers: nothing shown");
	apply_ok(&vm, u, c2, l2, 0);         /* kept aside */
	ck_assert_msg(!regs_are(&vm, &r2), "c2's vCPU state was loaded at once");
	ck_assert_msg(vm_state__undo_settle(&vm, u, &err) == 0, "settle: %s", err);
	ck_assert_msg(regs_are(&vm, &r2), "the settle did not load c2's vCPU state");

	apply_ok(&vm, u, c2, l2, CR0_PG);    /* taken: not loaded */
	err = NULL;
	ck_assert_msg(vm_state__undo_settle(&vm, u, &err) < 0, "KVM took an invalid CR0");
	ck_assert_msg(err && strstr(err, "vCPU"), "error: %s", err ? err : "none");
	vm_state__undo_free(u);
	vm__request_stop(&vm, VM_STOP_QUIT, 0, "test done");
	vm__destroy(&vm);
	free(c1);
	free(c2);
}
END_TEST

/* One page of a (never started) VM, dirtied and captured alone. */
static uint8_t *capture_page(struct vm *vm, uint64_t off, size_t *len)
{
	struct dirty_bitmap only;
	struct stream s;
	uint8_t *buf;

	ck_assert_int_eq(dirty_bitmap__init(&only, vm->mem.size), 0);
	only.bits[off / MEM_PAGE_SIZE / 64] |= 1ULL << (off / MEM_PAGE_SIZE % 64);
	stream__init_mem(&s);
	ck_assert_int_eq(vm_state__save_pages(vm, &s, &only, NULL), 0);
	buf = stream__mem_take(&s, len);
	stream__close(&s);
	dirty_bitmap__free(&only);
	return buf;
}

/* Capture page off of a, apply it over b. */
static void page_over(struct vm *a, struct vm *b, uint64_t off)
{
	struct vm_state_parsed p;
	const char *err = NULL;
	size_t len;
	uint8_t *buf = capture_page(a, off, &len);

	ck_assert_msg(vm_state__parse(buf, len, &p, &err) == 0, "parse: %s", err);
	ck_assert_msg(vm_state__apply_over(b, &p, &err) == 0, "apply: %s", err);
	vm_state__free_parsed(&p);
	free(buf);
}

/* The primary writes a page, then zeroes it: the standby's copy follows. */
START_TEST(dirty_zero_page)
{
	struct vm_config cfg = {
		.mem_size = 64 * MIB, .nr_vcpus = 1, .kernel_path = kernel,
		.cmdline = DIRTY_CMDLINE, .serial = { SERIAL_NONE, NULL },
	};
	const uint64_t off = 32 * MIB;
	const char *err = NULL;
	struct vm a, b;

	ck_assert_int_eq(vm__create(&a, &cfg, &err), 0);
	ck_assert_int_eq(vm__create(&b, &cfg, &err), 0);
	memset(a.mem.host + off, 0xab, MEM_PAGE_SIZE);
	page_over(&a, &b, off);
	ck_assert_uint_eq(b.mem.host[off + 100], 0xab);
	memset(a.mem.host + off, 0, MEM_PAGE_SIZE);
	page_over(&a, &b, off);
	ck_assert_msg(vm_state__all_zero(b.mem.host + off, MEM_PAGE_SIZE),
		      "a page dirtied to zero kept its old contents on the standby");
	vm__destroy(&a);
	vm__destroy(&b);
}
END_TEST

/* A connected pair: *srv the standby's end, *cli the test's. */
static void loopback(struct chan **srv, struct chan **cli)
{
	struct mig_uri u;
	const char *why = NULL;
	char err[256] = "";
	int lfd;

	ck_assert_int_eq(mig_uri__parse("tcp:127.0.0.1:0", &u, &why), 0);
	ck_assert_msg(channel__listen(&u, &lfd, err, sizeof(err)) == 0, "listen: %s", err);
	ck_assert_msg(channel__connect(cli, &u, NULL, 10000, err, sizeof(err)) == 0, "connect: %s",
		      err);
	ck_assert_msg(channel__accept(srv, lfd, NULL, 10000, 10000, err, sizeof(err)) == 0,
		      "accept: %s", err);
	close(lfd);
}

/* Checkpoint 1's message, then a state stream of page frames that never ends. */
static void send_oversized(struct chan *c, size_t frames)
{
	Replication__Message m = REPLICATION__MESSAGE__INIT;
	Replication__Checkpoint cp = REPLICATION__CHECKPOINT__INIT;
	size_t body = 4 + 16 + STREAM_BATCH_PAGES * STREAM_PAGE_SIZE;
	uint8_t hdr[16], *junk = calloc(1, body);

	cp.epoch = 1;
	m.msg_case = REPLICATION__MESSAGE__MSG_CHECKPOINT;
	m.checkpoint = &cp;
	ck_assert_int_eq(wire__write_msg(&c->s, &m), 0);
	stream__put_le32(hdr, STREAM_FRAME_STATE);
	stream__put_le32(hdr + 4, 0);
	ck_assert_int_eq(channel__write(c, hdr, 8), 0);
	memcpy(hdr, STREAM_MAGIC, STREAM_MAGIC_LEN);
	memset(hdr + 8, 0, 8);
	hdr[8] = VM_STATE_MAJOR;
	hdr[10] = VM_STATE_MINOR;
	ck_assert_int_eq(channel__write(c, hdr, STREAM_PRELUDE_LEN), 0);
	/* The standby stops reading at its limit: the writes then fail. */
	for (size_t i = 0; i < frames; i++) {
		stream__put_le32(hdr, STREAM_FRAME_PAGES);
		stream__put_le32(hdr + 4, (uint32_t)body);
		if (channel__write(c, hdr, 8) || channel__write(c, junk, body))
			break;
	}
	channel__flush(c);
	free(junk);
}

START_TEST(oversized_checkpoint_refused)
{
	struct vm_config cfg = {
		.mem_size = 32 * MIB, .nr_vcpus = 1, .kernel_path = kernel,
		.serial = { SERIAL_NONE, NULL },
	};
	struct checkpoint *ck = calloc(1, sizeof(*ck));
	struct mig_fence fence = { 0 };
	qb_loop_t *loop = qb_loop_create();
	uint8_t *buf = malloc(WIRE_FRAME_MAX);
	struct chan *srv, *cli;
	const char *why = "";
	uint32_t type, len;
	struct vm vm;
	struct vm_port port;
	Vmm__Control__ProtectStatus ps = VMM__CONTROL__PROTECT_STATUS__INIT;
	char error[CONTROL_CK_ERROR_LEN], digest[CONTROL_CK_DIGEST_LEN];

	ps.error = error;
	ps.disk_digest = digest;
	ck_assert_int_eq(vm__create(&vm, &cfg, &why), 0);
	vm_port__init(&port, &vm);
	ck_assert_int_eq(checkpoint__init(ck, &port, loop, 0), 0);
	loopback(&srv, &cli);
	ck_assert_int_eq(checkpoint__standby_start(ck, srv, &fence, false), 0);
	/* Over the staging limit (RAM, 1/64 of it, 64 MiB: 96.5 MiB) by 24 MiB. */
	send_oversized(cli, (vm_state__staging_limit(&vm) >> 20) + 24);

	for (int i = 0; i < 200 && !atomic_load(&ck->thread_done); i++)
		kvmtest__sleep_ms(50);
	ck_assert_msg(atomic_load(&ck->thread_done), "the standby is still reading");
	checkpoint__fill_status(ck, &ps);
	ck_assert_str_eq(ps.state, "lost");
	ck_assert_msg(strstr(ps.error, "checkpoint 1 refused (ENOMEM): it is larger "
			     "than any checkpoint of this VM can be (RAM and disk: at most 96 MiB)") ==
		      ps.error, "error: %s", ps.error);
	/*
	 * The stream was ended at once: the negative Ack sent before may be
	 * lost to the reset that the unread rest of the stream causes.
	 */
	ck_assert_int_ne(wire__read_frame(&cli->s, buf, &type, &len, &why) ||
			 wire__read_frame(&cli->s, buf, &type, &len, &why), 0);
	checkpoint__exit(ck);
	channel__close(cli);
	vm__destroy(&vm);
	qb_loop_destroy(loop);
	free(ck);
	free(buf);
}
END_TEST

static Suite *undo_suite(void)
{
	Suite *s = suite_create("standby");
	TCase *tc = tcase_create("kvm");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, kvm_refuses_a_vcpu);
	tcase_add_test(tc, machine_kept_aside);
	tcase_add_test(tc, dirty_zero_page);
	tcase_add_test(tc, oversized_checkpoint_refused);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	int fd = mkstemp(image), rc;

	if (fd < 0 || ftruncate(fd, 1 << 20)) {
		perror("test_standby: the image");
		return 99;
	}
	close(fd);
	/* A write to a standby after it ended the stream must fail, not kill. */
	signal(SIGPIPE, SIG_IGN);
	rc = kvmtest__main("test_standby", "dirty.elf", kernel, sizeof(kernel), undo_suite);
	unlink(image);
	return rc;
}
