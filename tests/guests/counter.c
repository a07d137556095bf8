/*
 * counter: a tiny service on the serial port, for save/restore, migration
 * and fail-over tests.  Requests, one per line:
 *   inc K    add K (decimal or 0x hex, may be negative) -> "val <n>"
 *   get      -> "val <n>"
 *   check    the log of changes sums to the counter -> "check ok <entries>"
 *            or "check BAD <reason>"
 *   sync T   -> "sync T": a client that connects marks where its own
 *            answers start (what comes before may answer an earlier one's)
 *   quit [S] power off with status S (default 0), without an answer
 * Anything else -> "err <reason>".  Prints "counter ready" at start.
 * All state (the counter and an append-only log of every change) lives in
 * guest memory.
 *
 * Command line (both off by default):
 *   disk=1   the counter is also on the virtio-blk disk: read from sector 0
 *            at start ("counter disk N"), written and flushed there before
 *            each inc is answered, so an answered value survives a
 *            shutdown; the log then starts at the value read
 *   acpi=1   the ACPI power button powers the guest off through S5, as an
 *            operating system would ("counter power button" first)
 */
#include "guest.h"
#include "vblk.h"
#include "vmm/acpi.h"

#define DISK_MAGIC 0x726574756f63ULL /* "couter": sector 0 holds a counter */
#define PM1_PWRBTN_HI 0x01           /* bit 8 of PM1 status/enable, high byte */
#define PM1_CNT_S5_HI ((ACPI_S5_SLP_TYP << 10 | 1u << 13) >> 8) /* SLP_TYP, SLP_EN */

#define LOG_MAX (1u << 17)

struct log_entry {
	uint64_t seq;
	int64_t delta;
	uint64_t value;
};

static struct {
	uint64_t base;     /* read from the disk at start */
	uint64_t value;
	uint64_t entries;
	struct log_entry log[LOG_MAX];
} st;

/* ---- disk=1 ---- */

static bool with_disk;

/* Sector 0: {DISK_MAGIC, value}; written and flushed before the answer. */
static bool disk_put(uint64_t value)
{
	uint64_t *w = (uint64_t *)(uintptr_t)DATA;

	memset(w, 0, 512);
	w[0] = DISK_MAGIC;
	w[1] = value;
	return !request(T_OUT, 0, DATA, 512) && !request(T_FLUSH, 0, DATA, 0);
}

/* The value on the disk (0 on a blank one), or false when there is no disk. */
static bool disk_open(uint64_t *value)
{
	const uint64_t *w = (const uint64_t *)(uintptr_t)DATA;

	vblk_map(GUEST_ABI_VIRTIO_BLK_SLOT);
	if (rd(R_MAGIC) != 0x74726976 || rd(R_DEVICE_ID) != 2 || !dev_init(QSIZE, RINGS) ||
	    request(T_IN, 0, DATA, 512))
		return false;
	*value = w[0] == DISK_MAGIC ? w[1] : 0;
	return true;
}

/* ---- acpi=1 ---- */

static bool with_acpi;

static void acpi_enable_button(void)
{
	outb(ACPI_PM1A_EVT_PORT + 3, PM1_PWRBTN_HI); /* PM1_EN, high byte */
}

/* Power off through S5 once the button was pressed (never returns then). */
static void acpi_check_button(void)
{
	if (!(inb(ACPI_PM1A_EVT_PORT + 1) & PM1_PWRBTN_HI))
		return;
	printf("counter power button\n");
	outb(ACPI_PM1A_EVT_PORT + 1, PM1_PWRBTN_HI); /* clear the status */
	outb(ACPI_PM1A_CNT_PORT + 1, PM1_CNT_S5_HI);
	for (;;)
		cpu_relax();
}

/* One request line; the power button is looked at while none comes. */
static int next_line(char *buf, size_t len)
{
	size_t n = 0;

	for (;;) {
		int c = serial_getc_nowait();

		if (c < 0) {
			if (with_acpi)
				acpi_check_button();
			delay_us(serial_poll_us);
			continue;
		}
		if (c == '\n')
			break;
		if (c != '\r' && n + 1 < len)
			buf[n++] = (char)c;
	}
	buf[n] = 0;
	return (int)n;
}

static void do_check(void)
{
	uint64_t sum = st.base;
	for (uint64_t i = 0; i < st.entries; i++) {
		const struct log_entry *e = &st.log[i];
		sum += (uint64_t)e->delta;
		if (e->seq != i + 1 || e->value != sum) {
			printf("check BAD entry %lu\n", i + 1);
			return;
		}
	}
	if (sum != st.value) {
		printf("check BAD sum %lu value %lu\n", sum, st.value);
		return;
	}
	printf("check ok %lu\n", st.entries);
}

static void do_inc(const char *arg)
{
	bool neg = false;
	uint64_t k;
	while (*arg == ' ')
		arg++;
	if (*arg == '-' || *arg == '+')
		neg = *arg++ == '-';
	const char *end = parse_u64(arg, &k);
	if (!end) {
		printf("err bad number\n");
		return;
	}
	while (*end == ' ')
		end++;
	if (*end) {
		printf("err bad number\n");
		return;
	}
	if (st.entries >= LOG_MAX) {
		printf("err log full\n");
		return;
	}
	int64_t delta = neg ? -(int64_t)k : (int64_t)k;
	st.value += (uint64_t)delta;
	st.log[st.entries] = (struct log_entry){ st.entries + 1, delta, st.value };
	st.entries++;
	if (with_disk && !disk_put(st.value)) {
		printf("err disk write failed\n");
		return;
	}
	printf("val %lu\n", st.value);
}

int guest_main(const char *cmdline)
{
	char line[128];

	with_disk = cmdline_get_u64("disk", 0);
	with_acpi = cmdline_get_u64("acpi", 0);
	if (with_disk) {
		if (!disk_open(&st.base)) {
			printf("counter BAD no disk\n");
			return 1;
		}
		st.value = st.base;
		printf("counter disk %lu\n", st.base);
	}
	if (with_acpi)
		acpi_enable_button();
	printf("counter ready\n");
	for (;;) {
		int n = next_line(line, sizeof(line));
		if (n <= 0)
			continue;
		if (!strncmp(line, "inc ", 4))
			do_inc(line + 4);
		else if (!strcmp(line, "get"))
			printf("val %lu\n", st.value);
		else if (!strcmp(line, "check"))
			do_check();
		else if (!strncmp(line, "sync ", 5))
			printf("sync %s\n", line + 5);
		else if (!strcmp(line, "quit"))
			return 0;
		else if (!strncmp(line, "quit ", 5)) {
			uint64_t status = 0;
			parse_u64(line + 5, &status);
			return (int)(status & 0xff);
		}
		else
			printf("err unknown request\n");
	}
}
