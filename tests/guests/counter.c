/*
 * counter: a tiny service on the serial port, for save/restore, migration
 * and fail-over tests.  Requests, one per line:
 *   inc K    add K (decimal or 0x hex, may be negative) -> "val <n>"
 *   get      -> "val <n>"
 *   check    the log of changes sums to the counter -> "check ok <entries>"
 *            or "check BAD <reason>"
 *   quit [S] power off with status S (default 0), without an answer
 * Anything else -> "err <reason>".  Prints "counter ready" at start.
 * All state (the counter and an append-only log of every change) lives in
 * guest memory.
 */
#include "guest.h"

#define LOG_MAX (1u << 17)

struct log_entry {
	uint64_t seq;
	int64_t delta;
	uint64_t value;
};

static struct {
	uint64_t value;
	uint64_t entries;
	struct log_entry log[LOG_MAX];
} st;

static void do_check(void)
{
	uint64_t sum = 0;
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
	printf("val %lu\n", st.value);
}

int guest_main(const char *cmdline)
{
	char line[128];
	printf("counter ready\n");
	for (;;) {
		int n = serial_getline(line, sizeof(line), 0);
		if (n <= 0)
			continue;
		if (!strncmp(line, "inc ", 4))
			do_inc(line + 4);
		else if (!strcmp(line, "get"))
			printf("val %lu\n", st.value);
		else if (!strcmp(line, "check"))
			do_check();
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
