/*
 * Whole-VM state: save -> load into a second VM -> save again -> compare,
 * record by record; the restored guest then finishes its run and verifies
 * its own memory.  And every damaged stream is refused with the target VM
 * left as it was.  Needs /dev/kvm (fails without) and tests/guests.
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <linux/kvm.h>
#include <openssl/evp.h>

#include "vmm/acpi.h"
#include "vmm/acpi_pm.h"
#include "vmm/rtc.h"
#include "vmm/stream.h"
#include "vmm/vcpu.h"
#include "vmm/vm.h"
#include "vmm/vm_state.h"
#include "tests/unit/kvmtest.h"

#define MIB (1ULL << 20)
#define MSR_IA32_TSC 0x10
/* The dirty guest: a 4 MiB working set, as fast as it can, then it verifies. */
#define DIRTY_CMDLINE "mem_mib=4 rate_mib=0 hb_us=0 duration_ms=1500 cpus=2"

static char kernel[512];

static void make_vm_log(struct vm *vm, uint64_t mem, unsigned vcpus, const char *cmdline,
			const char *log)
{
	struct vm_config cfg = {
		.mem_size = mem, .nr_vcpus = vcpus, .kernel_path = kernel,
		.cmdline = cmdline, .serial = { log ? SERIAL_FILE : SERIAL_NONE, log },
	};
	const char *err = NULL;
	int ret = vm__create(vm, &cfg, &err);

	ck_assert_msg(ret == 0, "vm__create: %s (%s)", err ? err : "?", strerror(-ret));
}

static void make_vm(struct vm *vm, uint64_t mem, unsigned vcpus, const char *cmdline)
{
	make_vm_log(vm, mem, vcpus, cmdline, NULL);
}

/* The dirty guest started and past its fill of the working set (its start line). */
static void make_running_dirty_vm(struct vm *vm)
{
	char log[] = "/tmp/test_state_log.XXXXXX";
	int fd = mkstemp(log);

	ck_assert_int_ge(fd, 0);
	close(fd);
	make_vm_log(vm, 64 * MIB, 2, DIRTY_CMDLINE, log);
	ck_assert_int_eq(vm__start(vm), 0);
	ck_assert_msg(kvmtest__wait_line(log, "dirty start"), "the dirty guest did not start");
	unlink(log); /* the open log stays writable */
}

static uint8_t *save_mem(struct vm *vm, size_t *len)
{
	struct stream s;
	uint8_t *buf;

	stream__init_mem(&s);
	ck_assert_int_eq(vm_state__save(vm, &s), 0);
	buf = stream__mem_take(&s, len);
	stream__close(&s);
	return buf;
}

static int load_mem(struct vm *vm, const uint8_t *buf, size_t len, const char **err)
{
	struct stream s;
	int ret;

	*err = NULL;
	stream__init_mem_read(&s, buf, len);
	ret = vm_state__load(vm, &s, err);
	stream__close(&s);
	return ret;
}

/* A saved VM: the dirty guest on 2 vCPUs, run for a while, paused. */
static uint8_t *saved_stream(size_t *len)
{
	struct vm a;
	uint8_t *buf;

	make_running_dirty_vm(&a);
	ck_assert_int_eq(vm__pause(&a), 0);
	ck_assert_int_eq(kvmtest__vm_state(&a), VM_STATE_PAUSED);
	buf = save_mem(&a, len);
	vm__request_stop(&a, VM_STOP_QUIT, 0, "test done");
	vm__destroy(&a);
	return buf;
}

/* Clear what legitimately moves between two saves of the same state. */
static void drop_moving_fields(struct vm_state_parsed *p)
{
	p->header->created_unix_ns = 0;
	/* The TSC counts host time even while a VM is paused or not started. */
	for (unsigned i = 0; i < p->header->nr_vcpus; i++)
		for (size_t j = 0; j < p->vcpus[i]->n_msrs; j++)
			if (p->vcpus[i]->msrs[j]->index == MSR_IA32_TSC)
				p->vcpus[i]->msrs[j]->value = 0;
	/* kvmclock, like the TSC, advances; realtime/host_tsc are when saved. */
	if (p->clock)
		p->clock->clock = p->clock->realtime = p->clock->host_tsc = 0;
	/* KVM_SET_PIT2 restarts each channel's count at load time (host ns). */
	for (size_t i = 0; p->pit && i < p->pit->n_channels; i++)
		p->pit->channels[i]->count_load_time = 0;
}

static void assert_same_msg(const ProtobufCMessage *a, const ProtobufCMessage *b,
			    const char *what)
{
	size_t la = protobuf_c_message_get_packed_size(a);
	size_t lb = protobuf_c_message_get_packed_size(b);
	uint8_t *pa = malloc(la + 1), *pb = malloc(lb + 1);

	protobuf_c_message_pack(a, pa);
	protobuf_c_message_pack(b, pb);
	ck_assert_msg(la == lb && !memcmp(pa, pb, la), "%s differs after a round trip", what);
	free(pa);
	free(pb);
}

static void assert_same_vcpu(Vmm__State__VcpuState *a, Vmm__State__VcpuState *b)
{
	ck_assert_uint_eq(a->mp_state, b->mp_state);
	assert_same_msg(&a->regs->base, &b->regs->base, "regs");
	assert_same_msg(&a->sregs->base, &b->sregs->base, "sregs");
	ck_assert_uint_eq(a->xsave.len, b->xsave.len);
	ck_assert(!memcmp(a->xsave.data, b->xsave.data, a->xsave.len));
	ck_assert_uint_eq(a->fpu.len, b->fpu.len);
	ck_assert_uint_eq(a->n_xcrs, b->n_xcrs);
	ck_assert_uint_eq(a->lapic.len, b->lapic.len);
	ck_assert_msg(!memcmp(a->lapic.data, b->lapic.data, a->lapic.len), "LAPIC differs");
	ck_assert_uint_eq(a->n_msrs, b->n_msrs);
	for (size_t j = 0; j < a->n_msrs; j++) {
		ck_assert_uint_eq(a->msrs[j]->index, b->msrs[j]->index);
		ck_assert_msg(a->msrs[j]->value == b->msrs[j]->value,
			      "vCPU %u MSR 0x%x: 0x%llx then 0x%llx", a->id, a->msrs[j]->index,
			      (unsigned long long)a->msrs[j]->value,
			      (unsigned long long)b->msrs[j]->value);
	}
	/* Then everything, fields not looked at above included. */
	assert_same_msg(&a->base, &b->base, "a vCPU record");
}

static void assert_same_state(const uint8_t *b1, size_t l1, const uint8_t *b2, size_t l2)
{
	struct vm_state_parsed p1, p2;
	const char *err = NULL;

	ck_assert_msg(vm_state__parse(b1, l1, &p1, &err) == 0, "parse 1: %s", err);
	ck_assert_msg(vm_state__parse(b2, l2, &p2, &err) == 0, "parse 2: %s", err);
	drop_moving_fields(&p1);
	drop_moving_fields(&p2);
	assert_same_msg(&p1.header->base, &p2.header->base, "the header");
	for (unsigned i = 0; i < p1.header->nr_vcpus; i++)
		assert_same_vcpu(p1.vcpus[i], p2.vcpus[i]);
	ck_assert(p1.irqchip && p2.irqchip && p1.pit && p2.pit && p1.clock && p2.clock);
	assert_same_msg(&p1.irqchip->base, &p2.irqchip->base, "the irqchip");
	assert_same_msg(&p1.pit->base, &p2.pit->base, "the PIT");
	assert_same_msg(&p1.clock->base, &p2.clock->base, "the clock");
	ck_assert(p1.serial && p2.serial);
	assert_same_msg(&p1.serial->base, &p2.serial->base, "the UART");
	ck_assert(p1.rtc && p2.rtc && p1.acpi_pm && p2.acpi_pm);
	assert_same_msg(&p1.rtc->base, &p2.rtc->base, "the RTC");
	assert_same_msg(&p1.acpi_pm->base, &p2.acpi_pm->base, "the PM1 registers");
	ck_assert_uint_eq(p1.nr_pages_frames, p2.nr_pages_frames);
	ck_assert_uint_gt(p1.nr_pages, 1024); /* at least the 4 MiB working set */
	for (size_t i = 0; i < p1.nr_pages_frames; i++) {
		ck_assert_uint_eq(p1.pages[i].offset, p2.pages[i].offset);
		ck_assert_uint_eq(p1.pages[i].npages, p2.pages[i].npages);
		ck_assert(!memcmp(p1.pages[i].data, p2.pages[i].data,
				  p1.pages[i].npages * MEM_PAGE_SIZE));
	}
	vm_state__free_parsed(&p1);
	vm_state__free_parsed(&p2);
}

/* Wait for the guest to power off; the dirty guest verifies memory first. */
static void assert_guest_finishes_ok(struct vm *vm)
{
	for (int i = 0; i < 300 && kvmtest__vm_state(vm) != VM_STATE_STOPPED; i++)
		kvmtest__sleep_ms(50);
	ck_assert_msg(kvmtest__vm_state(vm) == VM_STATE_STOPPED, "the restored guest did not finish");
	ck_assert_msg(vm->stop_reason == VM_STOP_POWEROFF && vm->stop_status == 0,
		      "the restored guest stopped badly: reason %d status %d: %s",
		      vm->stop_reason, vm->stop_status, vm->stop_message);
}

START_TEST(round_trip)
{
	size_t l1, l2;
	uint8_t *b1 = saved_stream(&l1), *b2;
	const char *err;
	struct vm b;

	make_vm(&b, 64 * MIB, 2, DIRTY_CMDLINE);
	ck_assert_msg(load_mem(&b, b1, l1, &err) == 0, "load: %s", err);
	b2 = save_mem(&b, &l2);
	assert_same_state(b1, l1, b2, l2);
	/* The copy is a working VM: the guest ends its run and checks itself. */
	ck_assert_int_eq(vm__start(&b), 0);
	assert_guest_finishes_ok(&b);
	vm__destroy(&b);
	free(b1);
	free(b2);
}
END_TEST

struct saver {
	struct vm *vm;
	int fd, ret;
};

static void *save_thread(void *arg)
{
	struct saver *sv = arg;
	struct stream s;

	stream__init_fd(&s, sv->fd);
	sv->ret = vm_state__save(sv->vm, &s);
	stream__close(&s);
	close(sv->fd);
	return NULL;
}

/* The same code path over a socket (replication) and a file (vmm save). */
START_TEST(socket_and_file)
{
	struct vm a, b;
	struct saver sv = { .vm = &a };
	struct stream s;
	pthread_t t;
	const char *err = NULL;
	char path[] = "/tmp/test_state.XXXXXX";
	int sp[2], fd;
	size_t l1, l2;
	uint8_t *b1, *b2;

	make_running_dirty_vm(&a);
	ck_assert_int_eq(vm__pause(&a), 0);
	b1 = save_mem(&a, &l1);

	/* Socket: a small send buffer forces short writes. */
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sp), 0);
	setsockopt(sp[0], SOL_SOCKET, SO_SNDBUF, &(int){ 4096 }, sizeof(int));
	sv.fd = sp[0];
	make_vm(&b, 64 * MIB, 2, DIRTY_CMDLINE);
	ck_assert_int_eq(pthread_create(&t, NULL, save_thread, &sv), 0);
	stream__init_fd(&s, sp[1]);
	ck_assert_msg(vm_state__load(&b, &s, &err) == 0, "load from a socket: %s", err);
	stream__close(&s);
	pthread_join(t, NULL);
	ck_assert_int_eq(sv.ret, 0);
	close(sp[1]);

	/* File: save b, load it into b again (a paused VM may be reloaded). */
	fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	unlink(path);
	stream__init_fd(&s, fd);
	ck_assert_int_eq(vm_state__save(&b, &s), 0);
	stream__close(&s);
	ck_assert_int_eq(lseek(fd, 0, SEEK_SET), 0);
	stream__init_fd(&s, fd);
	ck_assert_msg(vm_state__load(&b, &s, &err) == 0, "load from a file: %s", err);
	stream__close(&s);
	close(fd);
	b2 = save_mem(&b, &l2);
	assert_same_state(b1, l1, b2, l2);
	ck_assert_int_eq(vm__start(&b), 0);
	assert_guest_finishes_ok(&b);
	vm__request_stop(&a, VM_STOP_QUIT, 0, "test done");
	vm__destroy(&a);
	vm__destroy(&b);
	free(b1);
	free(b2);
}
END_TEST

static void assert_refused(struct vm *vm, const uint8_t *buf, size_t len, const char *expect,
			   const char *what)
{
	const char *err = NULL;
	int ret = load_mem(vm, buf, len, &err);

	ck_assert_msg(ret < 0, "%s: accepted", what);
	ck_assert_msg(err != NULL, "%s: refused without a message", what);
	if (expect)
		ck_assert_msg(strstr(err, expect), "%s: \"%s\" lacks \"%s\"", what, err, expect);
}

static void redigest(uint8_t *buf, size_t len)
{
	unsigned n;

	EVP_Digest(buf, len - 32, buf + len - 32, &n, EVP_sha256(), NULL);
}

START_TEST(damaged_streams_refused)
{
	size_t len;
	uint8_t *good = saved_stream(&len), *bad = malloc(len);
	uint8_t before[32], after[32];
	struct vm_state_parsed p;
	const char *err;
	struct vm c, small, one;
	size_t off = STREAM_PRELUDE_LEN;
	unsigned nframes = 0;

	srand(12345);
	make_vm(&c, 64 * MIB, 2, DIRTY_CMDLINE);
	kvmtest__fingerprint(&c, before);

	/* Cut at every frame boundary, and inside frames. */
	assert_refused(&c, good, STREAM_PRELUDE_LEN, "truncated", "prelude only");
	while (off < len) {
		size_t flen = STREAM_FRAME_HDR_LEN + stream__get_le32(good + off + 4);

		assert_refused(&c, good, off, "truncated", "cut at a frame boundary");
		assert_refused(&c, good, off + 1 + (size_t)rand() % (flen - 1), "truncated",
			       "cut inside a frame");
		off += flen;
		nframes++;
	}
	ck_assert_uint_eq(off, len);
	ck_assert_uint_gt(nframes, 5);
	for (int i = 0; i < 40; i++)
		assert_refused(&c, good, (size_t)rand() % len, NULL, "cut anywhere");

	/* Flipped bits anywhere, the digest included. */
	for (int i = 0; i < 200; i++) {
		size_t at = i == 0 ? len - 1 : (size_t)rand() % len;

		memcpy(bad, good, len);
		bad[at] ^= (uint8_t)(1u << (rand() % 8));
		assert_refused(&c, bad, len, NULL, "a flipped bit");
	}

	/* Another major version: refused by name, even with a good digest. */
	memcpy(bad, good, len);
	bad[8]++;
	redigest(bad, len);
	assert_refused(&c, bad, len, "major", "a newer major version");
	bad[8] -= 2;
	redigest(bad, len);
	assert_refused(&c, bad, len, "major", "an older major version");

	/* A later minor version of the same major reads. */
	memcpy(bad, good, len);
	bad[10] = 7;
	redigest(bad, len);
	ck_assert_msg(vm_state__parse(bad, len, &p, &err) == 0, "minor 7: %s", err);
	ck_assert_uint_eq(p.minor, 7);
	vm_state__free_parsed(&p);

	/* The wrong VM. */
	make_vm(&small, 32 * MIB, 2, DIRTY_CMDLINE);
	assert_refused(&small, good, len, "memory size", "a smaller VM");
	vm__destroy(&small);
	make_vm(&one, 64 * MIB, 1, DIRTY_CMDLINE);
	assert_refused(&one, good, len, "number of vCPUs", "a VM with fewer vCPUs");
	vm__destroy(&one);

	/* Not one of those touched the target. */
	kvmtest__fingerprint(&c, after);
	ck_assert_msg(!memcmp(before, after, 32), "a refused load changed the VM");
	/* And the good stream still loads into it. */
	ck_assert_msg(load_mem(&c, good, len, &err) == 0, "good stream: %s", err);
	vm__destroy(&c);
	free(good);
	free(bad);
}
END_TEST

static uint8_t cmos_io(struct vm *vm, uint8_t reg, int write, uint8_t val)
{
	rtc__io(vm->rtc, RTC_PORT, &reg, 1);
	rtc__io(vm->rtc, RTC_PORT + 1, &val, write);
	return val;
}

/*
 * What a Linux guest sets in the RTC (its date, CMOS bytes) and the PM1
 * registers (the power button's enable bit, without which a later press is
 * not seen) reaches the VM that loads its state.
 */
START_TEST(platform_round_trip)
{
	uint8_t *buf, en[2] = { 0x00, 0x01 }; /* PM1_EN: PWRBTN_EN, bit 8 */
	size_t len;
	const char *err;
	struct vm a, b;

	make_vm(&a, 64 * MIB, 1, DIRTY_CMDLINE);
	cmos_io(&a, 0x09, 1, 0x42); /* the year (BCD): the guest's clock set to 2042 */
	cmos_io(&a, 0x40, 1, 0x5a); /* a byte of CMOS RAM */
	acpi_pm__io(a.pm, ACPI_PM1A_EVT_PORT + 2, en, 2, true);
	buf = save_mem(&a, &len);
	vm__destroy(&a);

	make_vm(&b, 64 * MIB, 1, DIRTY_CMDLINE);
	ck_assert_msg(load_mem(&b, buf, len, &err) == 0, "load: %s", err);
	ck_assert_uint_eq(cmos_io(&b, 0x09, 0, 0), 0x42);
	ck_assert_uint_eq(cmos_io(&b, 0x40, 0, 0), 0x5a);
	en[0] = en[1] = 0;
	acpi_pm__io(b.pm, ACPI_PM1A_EVT_PORT + 2, en, 2, false);
	ck_assert_msg(en[0] == 0 && en[1] == 1, "PM1_EN after the load: 0x%02x%02x", en[1], en[0]);
	vm__destroy(&b);
	free(buf);
}
END_TEST

/* A stream of a header and one record, which the parser must refuse with expect. */
static void assert_bad_record(const char *name, const ProtobufCMessage *m, const char *expect)
{
	Vmm__State__Header h = VMM__STATE__HEADER__INIT;
	struct vm_state_parsed p;
	const char *err = NULL;
	struct stream s;
	uint8_t *buf;
	size_t len;

	h.mem_size = 64 * MIB;
	h.nr_vcpus = 1;
	stream__init_mem(&s);
	ck_assert_int_eq(stream__digest_begin(&s), 0);
	ck_assert_int_eq(stream__write_prelude(&s, VM_STATE_MAJOR, VM_STATE_MINOR), 0);
	ck_assert_int_eq(stream__write_record(&s, "header", VM_STATE_HEADER_VERSION, 0, &h.base), 0);
	ck_assert_int_eq(stream__write_record(&s, name, 1, 0, m), 0);
	ck_assert_int_eq(stream__write_end(&s), 0);
	buf = stream__mem_take(&s, &len);
	stream__close(&s);
	ck_assert_int_lt(vm_state__parse(buf, len, &p, &err), 0);
	ck_assert_msg(err && strstr(err, expect), "%s: \"%s\" lacks \"%s\"", name, err, expect);
	vm_state__free_parsed(&p);
	free(buf);
}

START_TEST(bad_platform_records)
{
	Vmm__State__RtcState rtc = VMM__STATE__RTC_STATE__INIT;
	Vmm__State__AcpiPmState pm = VMM__STATE__ACPI_PM_STATE__INIT;
	uint8_t cmos[129] = { 0 };

	rtc.cmos = (ProtobufCBinaryData){ 10, cmos };
	assert_bad_record("rtc", &rtc.base, "128 CMOS bytes");
	rtc.cmos.len = 128;
	rtc.index = 128;
	assert_bad_record("rtc", &rtc.base, "index below 128");
	rtc.index = 0;
	rtc.offset = INT64_MIN;
	assert_bad_record("rtc", &rtc.base, "offset");
	pm.en = 0x10000;
	assert_bad_record("acpi_pm", &pm.base, "wider than 16 bits");
}
END_TEST

/* The disk-range check the state stream and the replication wire share. */
START_TEST(disk_range_check)
{
	const uint64_t size = 1 << 20;

	ck_assert_int_eq(stream__check_disk_range(4096, 1024, false, 1024, size, 65536), 0);
	ck_assert_int_eq(stream__check_disk_range(4096, 1024, true, 0, size, 65536), 0);
	ck_assert_int_eq(stream__check_disk_range(size - 512, 512, true, 0, size, 65536), -ERANGE);
	ck_assert_int_eq(stream__check_disk_range(0, 0, true, 0, size, 65536), -EMSGSIZE);
	ck_assert_int_eq(stream__check_disk_range(0, 1000, true, 0, size, 65536), -EMSGSIZE);
	ck_assert_int_eq(stream__check_disk_range(0, 131072, true, 0, size, 65536), -EMSGSIZE);
	ck_assert_int_eq(stream__check_disk_range(0, 1024, true, 1024, size, 65536), -EMSGSIZE);
	ck_assert_int_eq(stream__check_disk_range(0, 1024, false, 1023, size, 65536), -EMSGSIZE);
	ck_assert_int_eq(stream__check_disk_range(512, 1024, true, 0, size, 65536), -ERANGE);
	ck_assert_int_eq(stream__check_disk_range(size - 4096, 8192, true, 0, size, 65536),
			 -ERANGE);
	ck_assert_int_eq(stream__check_disk_range(size - 4096, 4096, true, 0, size, 65536), 0);
	ck_assert_int_eq(stream__check_disk_range(UINT64_MAX - 4095, 4096, true, 0, size, 65536),
			 -ERANGE);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("state");
	TCase *tc = tcase_create("kvm");
	SRunner *sr;
	int failed, rc;

	rc = kvmtest__need_guest("test_state", "dirty.elf", kernel, sizeof(kernel));
	if (rc)
		return rc;
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, round_trip);
	tcase_add_test(tc, socket_and_file);
	tcase_add_test(tc, damaged_streams_refused);
	tcase_add_test(tc, disk_range_check);
	tcase_add_test(tc, platform_round_trip);
	tcase_add_test(tc, bad_platform_records);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
