/*
 * The hasvc test guests' little library: freestanding, x86-64, identity
 * mapped, all guest code runs in ring 3 (see crt0.S).
 */
#ifndef TESTS_GUESTS_GUEST_H
#define TESTS_GUESTS_GUEST_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vmm/guest_abi.h"

#define GUEST_MAX_CPUS 64 /* must match MAX_CPUS in crt0.S */

/* Each guest provides this; its return value is the power-off status. */
int guest_main(const char *cmdline);

/* --- Xen PVH start info ------------------------------------------------ */
#define HVM_START_MAGIC 0x336ec578

struct hvm_start_info {
	uint32_t magic;
	uint32_t version;
	uint32_t flags;
	uint32_t nr_modules;
	uint64_t modlist_paddr;
	uint64_t cmdline_paddr;
	uint64_t rsdp_paddr;
	uint64_t memmap_paddr;   /* version >= 1 */
	uint32_t memmap_entries; /* version >= 1 */
	uint32_t reserved;
};

struct hvm_memmap_entry {
	uint64_t addr;
	uint64_t size;
	uint32_t type; /* 1 = RAM */
	uint32_t reserved;
};

extern const struct hvm_start_info *guest_start_info; /* NULL if bad magic */
extern const char *guest_cmdline;                     /* never NULL */
extern char _image_start[], _end[];                   /* from guest.ld */

/* true if [addr, addr+len) lies inside one RAM entry of the memory map */
bool mem_range_is_ram(uint64_t addr, uint64_t len);

/* --- strings ----------------------------------------------------------- */
void *memcpy(void *d, const void *s, size_t n);
void *memmove(void *d, const void *s, size_t n);
void *memset(void *d, int c, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);
int strcmp(const char *a, const char *b);
int strncmp(const char *a, const char *b, size_t n);
/* parse a decimal or 0x-hex number; returns the end pointer or NULL */
const char *parse_u64(const char *s, uint64_t *out);

/* --- serial (COM1, polled) --------------------------------------------- */
void serial_putc(char c);
void serial_write(const char *s, size_t n);
void serial_puts(const char *s); /* no newline added */
int serial_getc_nowait(void);    /* -1 if no byte is waiting */
/*
 * Blocking reads poll the line status every serial_poll_us microseconds
 * (cmdline serial_poll_us=, default 100): each poll is a port-I/O exit.
 */
extern uint64_t serial_poll_us;
int serial_getc(void);           /* blocks */
/*
 * Read one line (without its "\n" or "\r\n") into buf, NUL-terminated,
 * silently truncated to len-1.  timeout_us 0 blocks.  Returns the length,
 * or -1 on timeout.
 */
int serial_getline(char *buf, size_t len, uint64_t timeout_us);

int vsnprintf(char *buf, size_t len, const char *fmt, va_list ap);
int snprintf(char *buf, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* %d %i %u %x %X %p %s %c %% with l/ll/z, '0' flag, width; output <= 255 bytes */
int printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* --- command line: space-separated key=value --------------------------- */
uint64_t cmdline_get_u64(const char *name, uint64_t def);
/* copies the value into buf (truncated), returns buf, or NULL if absent */
const char *cmdline_get_str(const char *name, char *buf, size_t len);
bool cmdline_has(const char *name);

/* --- time -------------------------------------------------------------- */
extern uint64_t tsc_khz;

static inline uint64_t rdtsc(void)
{
	uint32_t lo, hi;
	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return ((uint64_t)hi << 32) | lo;
}

static inline void cpu_relax(void)
{
	__asm__ volatile("pause" ::: "memory");
}

uint64_t tsc_to_us(uint64_t tsc);
uint64_t us_to_tsc(uint64_t us);
uint64_t now_us(void); /* microseconds since boot (TSC based) */
void delay_us(uint64_t us);

/* --- port I/O (ring 3: allowed by IOPL=3 and the TSS bitmap) ----------- */
static inline void outb(uint16_t port, uint8_t v)
{
	__asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port) : "memory");
}
static inline void outl(uint16_t port, uint32_t v)
{
	__asm__ volatile("outl %0, %1" : : "a"(v), "Nd"(port) : "memory");
}
static inline uint8_t inb(uint16_t port)
{
	uint8_t v;
	__asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port) : "memory");
	return v;
}

/* --- test calls -------------------------------------------------------- */
void ucall(uint64_t cmd, const char *text, uint64_t a0, uint64_t a1, uint64_t a2, uint64_t a3);
__attribute__((noreturn)) void power_off(unsigned status);
__attribute__((noreturn)) void guest_done(void);
__attribute__((noreturn)) void guest_assert_fail(const char *file, int line, const char *expr,
						 uint64_t a, uint64_t b);

#ifdef __FILE_NAME__
#define GUEST_FILE __FILE_NAME__
#else
#define GUEST_FILE __FILE__
#endif

#define GUEST_SYNC(stage) ucall(UCALL_SYNC, NULL, (uint64_t)(stage), 0, 0, 0)
#define GUEST_REPORT(key, value) ucall(UCALL_REPORT, (key), (uint64_t)(value), 0, 0, 0)
#define GUEST_DONE() guest_done()
#define GUEST_ASSERT(cond)                                                   \
	do {                                                                 \
		if (!(cond))                                                 \
			guest_assert_fail(GUEST_FILE, __LINE__, #cond, 0, 0); \
	} while (0)
#define GUEST_ASSERT_EQ(a, b)                                                          \
	do {                                                                           \
		uint64_t __ga = (uint64_t)(a), __gb = (uint64_t)(b);                   \
		if (__ga != __gb)                                                      \
			guest_assert_fail(GUEST_FILE, __LINE__, #a " == " #b, __ga, __gb); \
	} while (0)

/* --- SMP --------------------------------------------------------------- */
/* cpus=N from the command line (default 1, at most GUEST_MAX_CPUS) */
unsigned smp_cpus(void);
/*
 * Start the APs (once); each runs fn(cpu) in ring 3, cpu = 1..N-1, and spins
 * when fn returns.  Waits until all have checked in (asserts after 10 s) and
 * returns N.  With N = 1 it does nothing and returns 1.
 */
unsigned smp_start(void (*fn)(unsigned cpu));
/* the number of APs that have reached ring 3 */
unsigned smp_online(void);

/* Enter ring 0 and triple-fault (empty IDT + ud2). */
__attribute__((noreturn)) void triple_fault(void);
/* Runs lock cmpxchg16b in ring 0 (see crt0.S). */
void ring0_cmpxchg16b(void);
/* Halts in ring 0 with interrupts off, for good: the vCPU sleeps in KVM. */
__attribute__((noreturn)) void halt_forever(void);

#endif
