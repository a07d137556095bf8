/*
 * The hasvc test guests' library: ring-3 runtime (serial, printf, command
 * line, TSC, test calls, SMP) and the ring-0 exception reporter.
 */
#include "guest.h"

/* ---------------------------------------------------------------------- */
/* start info, memory map                                                  */
/* ---------------------------------------------------------------------- */

extern uint64_t start_info_pa; /* crt0.S */

const struct hvm_start_info *guest_start_info;
const char *guest_cmdline = "";
uint64_t tsc_khz = 2000000;
uint64_t serial_poll_us = 100;
static uint64_t boot_tsc;

bool mem_range_is_ram(uint64_t addr, uint64_t len)
{
	const struct hvm_start_info *si = guest_start_info;
	if (!si || si->version < 1 || !si->memmap_paddr)
		return false;
	const struct hvm_memmap_entry *e = (const void *)(uintptr_t)si->memmap_paddr;
	for (uint32_t i = 0; i < si->memmap_entries; i++) {
		if (e[i].type == 1 && e[i].addr <= addr && addr + len >= addr &&
		    addr + len <= e[i].addr + e[i].size)
			return true;
	}
	return false;
}

/* ---------------------------------------------------------------------- */
/* strings                                                                 */
/* ---------------------------------------------------------------------- */

void *memcpy(void *d, const void *s, size_t n)
{
	unsigned char *dp = d;
	const unsigned char *sp = s;
	while (n--)
		*dp++ = *sp++;
	return d;
}

void *memmove(void *d, const void *s, size_t n)
{
	unsigned char *dp = d;
	const unsigned char *sp = s;
	if (dp < sp) {
		while (n--)
			*dp++ = *sp++;
	} else {
		while (n--)
			dp[n] = sp[n];
	}
	return d;
}

void *memset(void *d, int c, size_t n)
{
	unsigned char *dp = d;
	while (n--)
		*dp++ = (unsigned char)c;
	return d;
}

int memcmp(const void *a, const void *b, size_t n)
{
	const unsigned char *x = a, *y = b;
	for (; n; n--, x++, y++)
		if (*x != *y)
			return *x - *y;
	return 0;
}

size_t strlen(const char *s)
{
	size_t n = 0;
	while (s[n])
		n++;
	return n;
}

int strcmp(const char *a, const char *b)
{
	while (*a && *a == *b)
		a++, b++;
	return (unsigned char)*a - (unsigned char)*b;
}

int strncmp(const char *a, const char *b, size_t n)
{
	for (; n; n--, a++, b++) {
		if (*a != *b)
			return (unsigned char)*a - (unsigned char)*b;
		if (!*a)
			break;
	}
	return 0;
}

const char *parse_u64(const char *s, uint64_t *out)
{
	uint64_t v = 0;
	int digits = 0;
	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		s += 2;
		for (;; s++, digits++) {
			unsigned d;
			if (*s >= '0' && *s <= '9')
				d = *s - '0';
			else if (*s >= 'a' && *s <= 'f')
				d = *s - 'a' + 10;
			else if (*s >= 'A' && *s <= 'F')
				d = *s - 'A' + 10;
			else
				break;
			v = v * 16 + d;
		}
	} else {
		for (; *s >= '0' && *s <= '9'; s++, digits++)
			v = v * 10 + (uint64_t)(*s - '0');
	}
	if (!digits)
		return NULL;
	*out = v;
	return s;
}

/* ---------------------------------------------------------------------- */
/* serial                                                                  */
/* ---------------------------------------------------------------------- */

#define COM1 GUEST_ABI_COM1_PORT
#define LSR_DR 0x01
#define LSR_THRE 0x20

void serial_putc(char c)
{
	while (!(inb(COM1 + 5) & LSR_THRE))
		cpu_relax();
	outb(COM1, (uint8_t)c);
}

void serial_write(const char *s, size_t n)
{
	while (n--)
		serial_putc(*s++);
}

void serial_puts(const char *s)
{
	while (*s)
		serial_putc(*s++);
}

int serial_getc_nowait(void)
{
	if (inb(COM1 + 5) & LSR_DR)
		return inb(COM1);
	return -1;
}

int serial_getc(void)
{
	int c;
	while ((c = serial_getc_nowait()) < 0)
		delay_us(serial_poll_us);
	return c;
}

int serial_getline(char *buf, size_t len, uint64_t timeout_us)
{
	uint64_t deadline = timeout_us ? rdtsc() + us_to_tsc(timeout_us) : 0;
	size_t n = 0;
	for (;;) {
		int c = serial_getc_nowait();
		if (c < 0) {
			if (deadline && rdtsc() > deadline)
				return -1;
			delay_us(serial_poll_us);
			continue;
		}
		if (c == '\n')
			break;
		if (c == '\r')
			continue;
		if (n + 1 < len)
			buf[n++] = (char)c;
	}
	if (len)
		buf[n] = 0;
	return (int)n;
}

/* ---------------------------------------------------------------------- */
/* formatting                                                              */
/* ---------------------------------------------------------------------- */

struct outbuf {
	char *buf;
	size_t len, pos;
};

static void ob_put(struct outbuf *o, char c)
{
	if (o->pos + 1 < o->len)
		o->buf[o->pos] = c;
	o->pos++;
}

static void ob_num(struct outbuf *o, uint64_t v, unsigned base, bool neg, int width, char pad,
		   bool upper)
{
	char tmp[24];
	const char *digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
	int n = 0;
	do {
		tmp[n++] = digits[v % base];
		v /= base;
	} while (v);
	if (neg)
		width--;
	if (neg && pad == '0')
		ob_put(o, '-');
	for (int i = n; i < width; i++)
		ob_put(o, pad);
	if (neg && pad != '0')
		ob_put(o, '-');
	while (n)
		ob_put(o, tmp[--n]);
}

int vsnprintf(char *buf, size_t len, const char *fmt, va_list ap)
{
	struct outbuf o = { buf, len, 0 };
	for (; *fmt; fmt++) {
		if (*fmt != '%') {
			ob_put(&o, *fmt);
			continue;
		}
		fmt++;
		char pad = ' ';
		int width = 0, lng = 0;
		bool left = false;
		if (*fmt == '-') {
			left = true;
			fmt++;
		}
		if (*fmt == '0') {
			pad = '0';
			fmt++;
		}
		while (*fmt >= '0' && *fmt <= '9')
			width = width * 10 + (*fmt++ - '0');
		while (*fmt == 'l' || *fmt == 'z') {
			lng++;
			fmt++;
		}
		switch (*fmt) {
		case 'd':
		case 'i': {
			int64_t v = lng ? va_arg(ap, int64_t) : va_arg(ap, int);
			ob_num(&o, v < 0 ? -(uint64_t)v : (uint64_t)v, 10, v < 0, width, pad, false);
			break;
		}
		case 'u':
		case 'x':
		case 'X': {
			uint64_t v = lng ? va_arg(ap, uint64_t) : va_arg(ap, unsigned);
			ob_num(&o, v, *fmt == 'u' ? 10 : 16, false, width, pad, *fmt == 'X');
			break;
		}
		case 'p':
			ob_put(&o, '0');
			ob_put(&o, 'x');
			ob_num(&o, (uintptr_t)va_arg(ap, void *), 16, false, width, pad, false);
			break;
		case 'c':
			ob_put(&o, (char)va_arg(ap, int));
			break;
		case 's': {
			const char *s = va_arg(ap, const char *);
			if (!s)
				s = "(null)";
			int n = (int)strlen(s);
			if (!left)
				for (int i = n; i < width; i++)
					ob_put(&o, ' ');
			while (*s)
				ob_put(&o, *s++);
			if (left)
				for (int i = n; i < width; i++)
					ob_put(&o, ' ');
			break;
		}
		case '%':
			ob_put(&o, '%');
			break;
		case 0:
			fmt--;
			break;
		default:
			ob_put(&o, '%');
			ob_put(&o, *fmt);
			break;
		}
	}
	if (len)
		buf[o.pos < len ? o.pos : len - 1] = 0;
	return (int)o.pos;
}

int snprintf(char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf, len, fmt, ap);
	va_end(ap);
	return n;
}

int printf(const char *fmt, ...)
{
	char buf[256];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	serial_write(buf, n < (int)sizeof(buf) ? (size_t)n : sizeof(buf) - 1);
	return n;
}

/* ---------------------------------------------------------------------- */
/* command line                                                            */
/* ---------------------------------------------------------------------- */

/* the value of the last "name=value" word, or NULL; *vlen gets its length */
static const char *cmdline_find(const char *name, size_t *vlen)
{
	size_t nl = strlen(name);
	const char *found = NULL;
	const char *p = guest_cmdline;
	while (*p) {
		while (*p == ' ' || *p == '\t')
			p++;
		const char *w = p;
		while (*p && *p != ' ' && *p != '\t')
			p++;
		if ((size_t)(p - w) >= nl && !strncmp(w, name, nl) &&
		    (w[nl] == '=' || w + nl == p)) {
			found = w + nl + (w[nl] == '=');
			*vlen = (size_t)(p - found);
		}
	}
	return found;
}

bool cmdline_has(const char *name)
{
	size_t vl;
	return cmdline_find(name, &vl) != NULL;
}

const char *cmdline_get_str(const char *name, char *buf, size_t len)
{
	size_t vl;
	const char *v = cmdline_find(name, &vl);
	if (!v || !len)
		return NULL;
	if (vl > len - 1)
		vl = len - 1;
	memcpy(buf, v, vl);
	buf[vl] = 0;
	return buf;
}

uint64_t cmdline_get_u64(const char *name, uint64_t def)
{
	char buf[32];
	uint64_t v;
	const char *end;
	if (!cmdline_get_str(name, buf, sizeof(buf)))
		return def;
	end = parse_u64(buf, &v);
	if (!end || *end) {
		printf("bad number %s=%s\n", name, buf);
		return def;
	}
	return v;
}

/* ---------------------------------------------------------------------- */
/* time                                                                    */
/* ---------------------------------------------------------------------- */

static uint64_t sys0(uint64_t op, uint64_t arg);

/*
 * CPUID's EAX, executed in ring 0 through a service call: on the test
 * machines a ring-3 CPUID runs natively and shows the outer host's leaves,
 * not the ones our vmm set.
 */
static uint32_t cpuid_eax(uint32_t leaf)
{
	return (uint32_t)sys0(4, leaf);
}

static void tsc_init(void)
{
	uint32_t a = cpuid_eax(0x40000000);
	if (a >= 0x40000010 && a < 0x40010000) {
		a = cpuid_eax(0x40000010);
		if (a) {
			tsc_khz = a;
			return;
		}
	}
	tsc_khz = cmdline_get_u64("tsc_khz", 2000000);
	if (!tsc_khz)
		tsc_khz = 2000000;
}

uint64_t tsc_to_us(uint64_t t)
{
	return t / tsc_khz * 1000 + t % tsc_khz * 1000 / tsc_khz;
}

uint64_t us_to_tsc(uint64_t us)
{
	return us / 1000 * tsc_khz + us % 1000 * tsc_khz / 1000;
}

uint64_t now_us(void)
{
	return tsc_to_us(rdtsc() - boot_tsc);
}

void delay_us(uint64_t us)
{
	uint64_t end = rdtsc() + us_to_tsc(us);
	while (rdtsc() < end)
		cpu_relax();
}

/* ---------------------------------------------------------------------- */
/* test calls                                                              */
/* ---------------------------------------------------------------------- */

void ucall(uint64_t cmd, const char *text, uint64_t a0, uint64_t a1, uint64_t a2, uint64_t a3)
{
	struct guest_ucall uc;
	uc.cmd = cmd;
	uc.args[0] = a0;
	uc.args[1] = a1;
	uc.args[2] = a2;
	uc.args[3] = a3;
	size_t n = 0;
	if (text)
		for (; text[n] && n < sizeof(uc.text) - 1; n++)
			uc.text[n] = text[n];
	uc.text[n] = 0;
	outl(GUEST_ABI_UCALL_PORT, (uint32_t)(uintptr_t)&uc);
}

void power_off(unsigned status)
{
	outl(GUEST_ABI_POWEROFF_PORT, status);
	/* only reached when the port is not a power-off device (e.g. QEMU) */
	for (;;)
		cpu_relax();
}

void guest_done(void)
{
	ucall(UCALL_DONE, NULL, 0, 0, 0, 0);
	power_off(0);
}

void guest_assert_fail(const char *file, int line, const char *expr, uint64_t a, uint64_t b)
{
	char text[GUEST_UCALL_TEXT];
	printf("ASSERT %s:%d: %s (0x%lx, 0x%lx)\n", file, line, expr, a, b);
	snprintf(text, sizeof(text), "%s: %s", file, expr);
	ucall(UCALL_ASSERT, text, (uint64_t)line, a, b, 0);
	power_off(VMM_EXIT_GUEST_ASSERT);
}

/* ---------------------------------------------------------------------- */
/* ring 0 entry points (crt0.S)                                            */
/* ---------------------------------------------------------------------- */

static uint64_t sys0(uint64_t op, uint64_t arg)
{
	/* see crt0.S: hlt in ring 3 -> #GP -> the service call */
	op += 0x5ca11000;
	__asm__ volatile("hlt"
			 : "+a"(op), "+S"(arg)
			 :
			 : "rcx", "rdx", "rdi", "r8", "memory", "cc");
	return op;
}

void ring0_cmpxchg16b(void)
{
	sys0(3, 0);
}

void halt_forever(void)
{
	sys0(5, 0);
	for (;;)
		cpu_relax();
}

void triple_fault(void)
{
	sys0(2, 0);
	for (;;)
		cpu_relax();
}

/* ---------------------------------------------------------------------- */
/* SMP                                                                     */
/* ---------------------------------------------------------------------- */

static void (*volatile smp_fn)(unsigned cpu);
static volatile unsigned ap_online;
static bool smp_started;

unsigned smp_cpus(void)
{
	uint64_t n = cmdline_get_u64("cpus", 1);
	if (n < 1)
		n = 1;
	if (n > GUEST_MAX_CPUS)
		n = GUEST_MAX_CPUS;
	return (unsigned)n;
}

unsigned smp_online(void)
{
	return ap_online;
}

unsigned smp_start(void (*fn)(unsigned cpu))
{
	unsigned n = smp_cpus();
	if (n == 1 || smp_started)
		return n;
	smp_started = true;
	smp_fn = fn;
	sys0(1, us_to_tsc(10000));
	uint64_t deadline = rdtsc() + us_to_tsc(10000000);
	while (ap_online < n - 1) {
		if (rdtsc() > deadline)
			guest_assert_fail(GUEST_FILE, __LINE__, "all APs started", ap_online, n - 1);
		cpu_relax();
	}
	return n;
}

/* ---------------------------------------------------------------------- */
/* C entry points from crt0.S                                              */
/* ---------------------------------------------------------------------- */

void crt_bsp_main(void);
void crt_ap_main(unsigned cpu);
struct xframe;
void crt_exception(struct xframe *f);

void crt_bsp_main(void)
{
	boot_tsc = rdtsc();
	const struct hvm_start_info *si = (const void *)(uintptr_t)start_info_pa;
	if (si && si->magic == HVM_START_MAGIC) {
		guest_start_info = si;
		if (si->cmdline_paddr)
			guest_cmdline = (const char *)(uintptr_t)si->cmdline_paddr;
	}
	tsc_init();
	serial_poll_us = cmdline_get_u64("serial_poll_us", serial_poll_us);
	if (!guest_start_info)
		printf("warning: no PVH start info (ebx=0x%lx)\n", start_info_pa);
	power_off((unsigned)guest_main(guest_cmdline));
}

void crt_ap_main(unsigned cpu)
{
	__atomic_add_fetch(&ap_online, 1, __ATOMIC_SEQ_CST);
	void (*fn)(unsigned) = smp_fn;
	if (fn)
		fn(cpu);
	for (;;)
		cpu_relax();
}

struct xframe {
	uint64_t vector, error, rip, cs, rflags, rsp, ss;
};

static const char *const exc_names[32] = {
	"#DE", "#DB", "NMI", "#BP", "#OF", "#BR", "#UD", "#NM", "#DF", "CSO", "#TS",
	"#NP", "#SS", "#GP", "#PF", "?",   "#MF", "#AC", "#MC", "#XM", "#VE", "#CP",
};

/* Ring 0, on the faulting cpu's kernel stack: report and power off. */
void crt_exception(struct xframe *f)
{
	char text[GUEST_UCALL_TEXT];
	uint64_t cr2;
	__asm__ volatile("mov %%cr2, %0" : "=r"(cr2));
	const char *name = f->vector < 32 && exc_names[f->vector] ? exc_names[f->vector] : "?";
	snprintf(text, sizeof(text),
		 "exception: vector %lu %s error 0x%lx rip 0x%lx cs 0x%lx rsp 0x%lx cr2 0x%lx",
		 f->vector, name, f->error, f->rip, f->cs, f->rsp, cr2);
	serial_puts(text);
	serial_putc('\n');
	ucall(UCALL_ASSERT, text, 0, f->vector, f->rip, f->error);
	outl(GUEST_ABI_POWEROFF_PORT, VMM_EXIT_GUEST_ASSERT);
	for (;;)
		__asm__ volatile("cli; hlt");
}
