/*
 * The AML writer (vmm/acpi_aml.h).  Open terms (Scope, Device, Package,
 * Buffer) remember where their contents start; acpi_aml__end measures them
 * and inserts the PkgLength, whose own size (1 to 4 bytes) depends on the
 * total (ACPI 6.4, 20.2.4 "Package Length Encoding").
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "vmm/acpi_aml.h"

#define AML_ZERO 0x00
#define AML_ONE 0x01
#define AML_NAME 0x08
#define AML_BYTE 0x0a
#define AML_WORD 0x0b
#define AML_DWORD 0x0c
#define AML_STRING 0x0d
#define AML_QWORD 0x0e
#define AML_SCOPE 0x10
#define AML_BUFFER 0x11
#define AML_PACKAGE 0x12
#define AML_EXT 0x5b
#define AML_DEVICE 0x82
#define AML_ROOT '\\'
#define AML_DUAL_NAME 0x2e
#define AML_MULTI_NAME 0x2f

#define RES_IRQ_NOFLAGS 0x22
#define RES_IO 0x47
#define RES_END 0x79
#define RES_MEM32_FIXED 0x86
#define RES_EXT_IRQ 0x89

void acpi_aml__init(struct aml *a)
{
	memset(a, 0, sizeof(*a));
}

void acpi_aml__free(struct aml *a)
{
	free(a->buf);
	acpi_aml__init(a);
}

int acpi_aml__finish(struct aml *a)
{
	if (!a->err && a->depth)
		a->err = -EINVAL;
	return a->err;
}

static uint8_t *reserve(struct aml *a, size_t n)
{
	if (a->err)
		return NULL;
	if (a->len + n > a->cap) {
		size_t cap = a->cap ? a->cap * 2 : 256;
		uint8_t *p;

		while (cap < a->len + n)
			cap *= 2;
		p = realloc(a->buf, cap);
		if (!p) {
			a->err = -ENOMEM;
			return NULL;
		}
		a->buf = p;
		a->cap = cap;
	}
	a->len += n;
	return a->buf + a->len - n;
}

void acpi_aml__bytes(struct aml *a, const void *p, size_t n)
{
	uint8_t *d = reserve(a, n);

	if (d)
		memcpy(d, p, n);
}

static void byte(struct aml *a, uint8_t b)
{
	acpi_aml__bytes(a, &b, 1);
}

static void le(struct aml *a, uint64_t v, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		byte(a, (uint8_t)(v >> (8 * i)));
}

static int lead_char(char c)
{
	return (c >= 'A' && c <= 'Z') || c == '_';
}

/* One NameSeg from s (up to 4 characters before '.' or the end), padded with '_'. */
static const char *name_seg(struct aml *a, const char *s)
{
	char seg[4] = { '_', '_', '_', '_' };
	unsigned n = 0;

	if (!lead_char(*s))
		a->err = a->err ? a->err : -EINVAL;
	for (; *s && *s != '.'; s++, n++) {
		if (n == 4 || !(lead_char(*s) || (*s >= '0' && *s <= '9'))) {
			a->err = a->err ? a->err : -EINVAL;
			return s + strlen(s);
		}
		seg[n] = *s;
	}
	acpi_aml__bytes(a, seg, 4);
	return *s == '.' ? s + 1 : s;
}

void acpi_aml__name_string(struct aml *a, const char *path)
{
	unsigned segs = 1;

	if (*path == AML_ROOT) {
		byte(a, AML_ROOT);
		path++;
	}
	for (const char *p = path; *p; p++)
		segs += *p == '.';
	if (segs == 2)
		byte(a, AML_DUAL_NAME);
	else if (segs > 2) {
		byte(a, AML_MULTI_NAME);
		byte(a, (uint8_t)segs);
	}
	while (*path)
		path = name_seg(a, path);
}

void acpi_aml__integer(struct aml *a, uint64_t v)
{
	if (v == 0)
		byte(a, AML_ZERO);
	else if (v == 1)
		byte(a, AML_ONE);
	else if (v <= 0xff) {
		byte(a, AML_BYTE);
		le(a, v, 1);
	} else if (v <= 0xffff) {
		byte(a, AML_WORD);
		le(a, v, 2);
	} else if (v <= 0xffffffff) {
		byte(a, AML_DWORD);
		le(a, v, 4);
	} else {
		byte(a, AML_QWORD);
		le(a, v, 8);
	}
}

void acpi_aml__string(struct aml *a, const char *s)
{
	byte(a, AML_STRING);
	acpi_aml__bytes(a, s, strlen(s) + 1);
}

static unsigned hexval(char c)
{
	return c >= '0' && c <= '9' ? (unsigned)(c - '0') : (unsigned)(c - 'A' + 10);
}

void acpi_aml__eisa_id(struct aml *a, const char *id)
{
	uint32_t v;

	if (strlen(id) != 7) {
		a->err = a->err ? a->err : -EINVAL;
		return;
	}
	/* Three letters in 5 bits each, then four hex digits; stored big-endian. */
	v = (uint32_t)((id[0] - '@') & 0x1f) << 26 | (uint32_t)((id[1] - '@') & 0x1f) << 21 |
	    (uint32_t)((id[2] - '@') & 0x1f) << 16 | hexval(id[3]) << 12 | hexval(id[4]) << 8 |
	    hexval(id[5]) << 4 | hexval(id[6]);
	byte(a, AML_DWORD);
	le(a, __builtin_bswap32(v), 4);
}

void acpi_aml__name(struct aml *a, const char *name)
{
	byte(a, AML_NAME);
	acpi_aml__name_string(a, name);
}

static void open_pkg(struct aml *a)
{
	if (a->depth == AML_MAX_DEPTH) {
		a->err = a->err ? a->err : -EINVAL;
		return;
	}
	a->open[a->depth++] = a->len;
}

void acpi_aml__scope(struct aml *a, const char *path)
{
	byte(a, AML_SCOPE);
	open_pkg(a);
	acpi_aml__name_string(a, path);
}

void acpi_aml__device(struct aml *a, const char *name)
{
	byte(a, AML_EXT);
	byte(a, AML_DEVICE);
	open_pkg(a);
	acpi_aml__name_string(a, name);
}

void acpi_aml__package(struct aml *a, uint8_t nr_elements)
{
	byte(a, AML_PACKAGE);
	open_pkg(a);
	byte(a, nr_elements);
}

void acpi_aml__buffer(struct aml *a)
{
	byte(a, AML_BUFFER);
	open_pkg(a);
	/* The BufferSize is patched in by acpi_aml__end_resources. */
	byte(a, AML_DWORD);
	le(a, 0, 4);
}

void acpi_aml__end(struct aml *a)
{
	size_t start, body, total;
	unsigned n;
	uint8_t enc[4];

	if (a->err)
		return;
	if (!a->depth) {
		a->err = -EINVAL;
		return;
	}
	start = a->open[--a->depth];
	body = a->len - start;
	/* The PkgLength counts itself: one byte holds up to 63, then 4 bits + 8 per byte. */
	n = body + 1 < 0x40 ? 1 : body + 2 < (1u << 12) ? 2 : body + 3 < (1u << 20) ? 3 : 4;
	total = body + n;
	if (n == 4 && total >= (1u << 28)) {
		a->err = -E2BIG;
		return;
	}
	if (n == 1) {
		enc[0] = (uint8_t)total;
	} else {
		enc[0] = (uint8_t)(((n - 1) << 6) | (total & 0xf));
		for (unsigned i = 1; i < n; i++)
			enc[i] = (uint8_t)(total >> (4 + 8 * (i - 1)));
	}
	if (!reserve(a, n))
		return;
	memmove(a->buf + start + n, a->buf + start, body);
	memcpy(a->buf + start, enc, n);
}

size_t acpi_aml__pkg_length_decode(const uint8_t *p, size_t n, size_t *value)
{
	unsigned follow;
	size_t v;

	if (n < 1)
		return 0;
	follow = p[0] >> 6;
	if (follow == 0) {
		*value = p[0] & 0x3f;
		return 1;
	}
	if (n < 1 + follow || (p[0] & 0x30))
		return 0;
	v = p[0] & 0xf;
	for (unsigned i = 1; i <= follow; i++)
		v |= (size_t)p[i] << (4 + 8 * (i - 1));
	*value = v;
	return 1 + follow;
}

void acpi_aml__res_io(struct aml *a, uint16_t port, uint8_t len)
{
	byte(a, RES_IO);
	byte(a, 1); /* 16-bit decode */
	le(a, port, 2);
	le(a, port, 2);
	byte(a, 1); /* alignment */
	byte(a, len);
}

void acpi_aml__res_irq_noflags(struct aml *a, unsigned irq)
{
	byte(a, RES_IRQ_NOFLAGS);
	le(a, irq < 16 ? 1u << irq : 0, 2);
	if (irq >= 16)
		a->err = a->err ? a->err : -EINVAL;
}

void acpi_aml__res_mem32_fixed(struct aml *a, uint32_t base, uint32_t len)
{
	byte(a, RES_MEM32_FIXED);
	le(a, 9, 2);
	byte(a, 1); /* read-write */
	le(a, base, 4);
	le(a, len, 4);
}

void acpi_aml__res_interrupt_level_high(struct aml *a, uint32_t gsi)
{
	byte(a, RES_EXT_IRQ);
	le(a, 6, 2);
	byte(a, 0x01); /* consumer, level-triggered, active-high, exclusive */
	byte(a, 1);    /* one interrupt */
	le(a, gsi, 4);
}

void acpi_aml__end_resources(struct aml *a)
{
	size_t size_at;

	byte(a, RES_END);
	byte(a, 0); /* no checksum */
	if (a->err || !a->depth)
		return;
	/* The DWordConst BufferSize sits right after the buffer's start. */
	size_at = a->open[a->depth - 1] + 1;
	for (unsigned i = 0; i < 4; i++)
		a->buf[size_at + i] = (uint8_t)((a->len - size_at - 4) >> (8 * i));
	acpi_aml__end(a);
}
