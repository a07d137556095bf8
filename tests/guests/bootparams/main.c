/*
 * bootparams guest: checks what a Linux 64-bit boot loader handed over.
 *
 * It runs in ring 0 (the loader's page tables have no User bit), which is
 * emulated and slow on the test machines, so it does little: a few hundred
 * loop iterations at most, one serial line, a handful of test calls.
 *
 * The command line steers the checks:
 *   expect=VALUE    echoed on COM1 as "bootparams: ok expect=VALUE", so the
 *                   host can compare it with what it passed
 *   want-initrd=1   an initrd must be there and start with "INITRD-MAGIC"
 *   want-initrd=0   no initrd may be announced
 */
#include <stddef.h>
#include <stdint.h>

#include "vmm/guest_abi.h"
#include "bootparams.h"

/* boot_params offsets (Documentation/arch/x86/zero-page.rst, boot.rst). */
#define BPO_E820_ENTRIES 0x1e8
#define BPO_SETUP_SECTS 0x1f1
#define BPO_BOOT_FLAG 0x1fe
#define BPO_HEADER 0x202
#define BPO_VERSION 0x206
#define BPO_TYPE_OF_LOADER 0x210
#define BPO_LOADFLAGS 0x211
#define BPO_RAMDISK_IMAGE 0x218
#define BPO_RAMDISK_SIZE 0x21c
#define BPO_HEAP_END_PTR 0x224
#define BPO_CMD_LINE_PTR 0x228
#define BPO_INITRD_ADDR_MAX 0x22c
#define BPO_KERNEL_ALIGNMENT 0x230
#define BPO_XLOADFLAGS 0x236
#define BPO_CMDLINE_SIZE 0x238
#define BPO_PREF_ADDRESS 0x258
#define BPO_INIT_SIZE 0x260
#define BPO_E820_TABLE 0x2d0
#define E820_MAX 128
#define E820_ENTRY 20
#define E820_RAM 1

#define LOADED_HIGH 0x01
#define CAN_USE_HEAP 0x80
#define MSR_EFER 0xc0000080
#define EFER_LMA (1u << 10)
#define CR0_PG (1ul << 31)
#define RFLAGS_IF (1ul << 9)
#define COM1_LSR (GUEST_ABI_COM1_PORT + 5)
#define LSR_THRE 0x20

extern char _text[], _end[];

static struct guest_ucall ucall_rec;

static inline void outb(uint16_t port, uint8_t v)
{
	__asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port));
}

static inline uint8_t inb(uint16_t port)
{
	uint8_t v;

	__asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}

static void ucall(uint64_t cmd, const char *text, uint64_t a0, uint64_t a1, uint64_t a2)
{
	unsigned i = 0;

	ucall_rec.cmd = cmd;
	ucall_rec.args[0] = a0;
	ucall_rec.args[1] = a1;
	ucall_rec.args[2] = a2;
	ucall_rec.args[3] = 0;
	for (; text && text[i] && i < GUEST_UCALL_TEXT - 1; i++)
		ucall_rec.text[i] = text[i];
	ucall_rec.text[i] = 0;
	/* Identity-mapped: the record's address is its guest-physical address. */
	__asm__ volatile("outl %0, %1"
			 : : "a"((uint32_t)(uintptr_t)&ucall_rec), "Nd"((uint16_t)GUEST_ABI_UCALL_PORT)
			 : "memory");
}

static void report(const char *key, uint64_t value)
{
	ucall(UCALL_REPORT, key, value, 0, 0);
}

static __attribute__((noreturn)) void fail(unsigned line, const char *what, uint64_t a, uint64_t b)
{
	ucall(UCALL_ASSERT, what, line, a, b);
	for (;;)
		__asm__ volatile("cli; hlt");
}

#define CHECK(expr) \
	do { if (!(expr)) fail(__LINE__, "bootparams/main.c: " #expr, 0, 0); } while (0)
#define CHECK_EQ(a, b)                                                              \
	do {                                                                        \
		uint64_t a_ = (a), b_ = (b);                                        \
		if (a_ != b_)                                                       \
			fail(__LINE__, "bootparams/main.c: " #a " == " #b, a_, b_); \
	} while (0)

static void serial_puts(const char *s)
{
	for (; *s; s++) {
		while (!(inb(COM1_LSR) & LSR_THRE))
			;
		outb(GUEST_ABI_COM1_PORT, (uint8_t)*s);
	}
}

static uint8_t rd8(const uint8_t *bp, unsigned off) { return bp[off]; }

static uint16_t rd16(const uint8_t *bp, unsigned off)
{
	return (uint16_t)(bp[off] | bp[off + 1] << 8);
}

static uint32_t rd32(const uint8_t *bp, unsigned off)
{
	return rd16(bp, off) | (uint32_t)rd16(bp, off + 2) << 16;
}

static uint64_t rd64(const uint8_t *bp, unsigned off)
{
	return rd32(bp, off) | (uint64_t)rd32(bp, off + 4) << 32;
}

/* Value of "key=" in the command line (up to the next space), or NULL. */
static const char *cmdline_arg(const char *cmdline, const char *key, unsigned *len)
{
	for (const char *p = cmdline; *p; p++) {
		unsigned k = 0;

		if (p != cmdline && p[-1] != ' ')
			continue;
		while (key[k] && p[k] == key[k])
			k++;
		if (key[k])
			continue;
		*len = 0;
		while (p[k + *len] && p[k + *len] != ' ')
			(*len)++;
		return p + k;
	}
	return NULL;
}

static void check_cpu_state(void)
{
	uint16_t cs, ds, ss;
	uint64_t cr0, rflags;
	uint32_t lo, hi;

	__asm__ volatile("mov %%cs, %0; mov %%ds, %1; mov %%ss, %2" : "=r"(cs), "=r"(ds), "=r"(ss));
	__asm__ volatile("mov %%cr0, %0" : "=r"(cr0));
	__asm__ volatile("pushfq; popq %0" : "=r"(rflags));
	__asm__ volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(MSR_EFER));
	CHECK_EQ(cs, 0x10);
	CHECK_EQ(ds, 0x18);
	CHECK_EQ(ss, 0x18);
	CHECK(cr0 & CR0_PG);
	CHECK(lo & EFER_LMA);
	CHECK(!(rflags & RFLAGS_IF));
}

static void check_header(const uint8_t *bp)
{
	uint64_t init_size = (uint64_t)(_end - _text);

	CHECK_EQ(rd32(bp, BPO_HEADER), 0x53726448); /* "HdrS" */
	CHECK_EQ(rd16(bp, BPO_BOOT_FLAG), 0xaa55);
	CHECK_EQ(rd8(bp, BPO_SETUP_SECTS), BP_SETUP_SECTS);
	CHECK_EQ(rd16(bp, BPO_VERSION), BP_VERSION);
	CHECK_EQ(rd32(bp, BPO_KERNEL_ALIGNMENT), BP_KERNEL_ALIGNMENT);
	CHECK_EQ(rd16(bp, BPO_XLOADFLAGS), BP_XLF_KERNEL_64);
	CHECK_EQ(rd32(bp, BPO_CMDLINE_SIZE), BP_CMDLINE_SIZE);
	CHECK_EQ(rd32(bp, BPO_INITRD_ADDR_MAX), BP_INITRD_ADDR_MAX);
	CHECK_EQ(rd64(bp, BPO_PREF_ADDRESS), BP_LOAD_ADDR);
	CHECK_EQ((uintptr_t)_text, BP_LOAD_ADDR);
	CHECK(rd32(bp, BPO_INIT_SIZE) >= init_size);
	CHECK_EQ(rd8(bp, BPO_TYPE_OF_LOADER), 0xff);
	CHECK(rd8(bp, BPO_LOADFLAGS) & LOADED_HIGH);
	CHECK(rd8(bp, BPO_LOADFLAGS) & CAN_USE_HEAP);
	CHECK(rd16(bp, BPO_HEAP_END_PTR) != 0);
}

/* Returns the command line after checking its bounds. */
static const char *check_cmdline(const uint8_t *bp)
{
	const char *cmdline = (const char *)(uintptr_t)rd32(bp, BPO_CMD_LINE_PTR);
	unsigned len = 0;

	CHECK(cmdline != 0);
	while (len <= BP_CMDLINE_SIZE && cmdline[len])
		len++;
	CHECK(len <= BP_CMDLINE_SIZE);
	report("cmdline_len", len);
	return cmdline;
}

/* Is [addr, addr + len) inside one RAM entry? */
static int in_ram(const uint8_t *bp, uint64_t addr, uint64_t len)
{
	unsigned n = rd8(bp, BPO_E820_ENTRIES);

	for (unsigned i = 0; i < n && i < E820_MAX; i++) {
		unsigned e = BPO_E820_TABLE + i * E820_ENTRY;
		uint64_t a = rd64(bp, e), s = rd64(bp, e + 8);

		if (rd32(bp, e + 16) == E820_RAM && addr >= a && addr - a <= s && len <= s - (addr - a))
			return 1;
	}
	return 0;
}

static void check_e820(const uint8_t *bp)
{
	unsigned n = rd8(bp, BPO_E820_ENTRIES);
	uint64_t prev_end = 0, ram = 0;

	CHECK(n > 0);
	CHECK(n <= E820_MAX);
	for (unsigned i = 0; i < n; i++) {
		unsigned e = BPO_E820_TABLE + i * E820_ENTRY;
		uint64_t a = rd64(bp, e), s = rd64(bp, e + 8);

		CHECK(s != 0);
		CHECK(a + s > a);
		CHECK(a >= prev_end); /* sorted, no overlap */
		CHECK(rd32(bp, e + 16) != 0);
		prev_end = a + s;
		if (rd32(bp, e + 16) == E820_RAM)
			ram += s;
	}
	/* RAM from 1 MiB on, holding the whole kernel as loaded. */
	CHECK(in_ram(bp, 0x100000, (uintptr_t)_end - 0x100000));
	report("e820_entries", n);
	report("ram_mib", ram >> 20);
}

static int starts_with(const char *s, const char *prefix)
{
	while (*prefix)
		if (*s++ != *prefix++)
			return 0;
	return 1;
}

static void check_initrd(const uint8_t *bp, const char *cmdline)
{
	uint32_t image = rd32(bp, BPO_RAMDISK_IMAGE), size = rd32(bp, BPO_RAMDISK_SIZE);
	unsigned len;
	const char *want = cmdline_arg(cmdline, "want-initrd=", &len);

	report("initrd_size", size);
	if (want && len == 1 && want[0] == '0') {
		CHECK_EQ(size, 0);
		return;
	}
	if (want && len == 1 && want[0] == '1')
		CHECK(size != 0);
	if (size == 0)
		return;
	CHECK(image != 0);
	CHECK_EQ(image % 4096, 0);
	CHECK(image >= BP_LOAD_ADDR + rd32(bp, BPO_INIT_SIZE));
	CHECK((uint64_t)image + size - 1 <= BP_INITRD_ADDR_MAX);
	CHECK(in_ram(bp, image, size));
	CHECK(size >= 12);
	CHECK(starts_with((const char *)(uintptr_t)image, "INITRD-MAGIC"));
}

void bootparams_main(const uint8_t *bp);

void bootparams_main(const uint8_t *bp)
{
	static char line[96];
	const char *cmdline, *expect;
	unsigned len, n = 0;

	check_cpu_state();
	CHECK(bp != 0);
	check_header(bp);
	cmdline = check_cmdline(bp);
	check_e820(bp);
	check_initrd(bp, cmdline);

	expect = cmdline_arg(cmdline, "expect=", &len);
	CHECK(expect != 0);
	for (const char *p = "bootparams: ok expect="; *p; p++)
		line[n++] = *p;
	for (unsigned i = 0; i < len && n < sizeof(line) - 2; i++)
		line[n++] = expect[i];
	line[n++] = '\n';
	line[n] = 0;
	serial_puts(line);
	ucall(UCALL_DONE, "bootparams", 0, 0, 0);
}
