/*
 * The ACPI tables of vmm/acpi.c, read back as Linux would: the RSDP found
 * by its signature with both checksums right, every table reached through
 * the XSDT (and the DSDT and FACS through the FADT) inside the area with
 * its length and checksum right, the MADT's CPUs and IOAPIC, and the DSDT's
 * AML walked term by term: every package length ends exactly where its
 * parent's contents do, and the devices carry the resources asked for.
 * Then acpica-tools' disassembler must read every table without an error.
 */
#include "config.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vmm/acpi.h"
#include "vmm/acpi_aml.h"

#define BASE ACPI_TABLES_ADDR

static uint8_t buf[ACPI_TABLES_MAX];
static long used;

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get64(const uint8_t *p)
{
	return get32(p) | (uint64_t)get32(p + 4) << 32;
}

static uint8_t sum(const uint8_t *p, size_t n)
{
	uint8_t s = 0;

	while (n--)
		s = (uint8_t)(s + *p++);
	return s;
}

/* The table at guest address addr, checked; its length in *len. */
static const uint8_t *table(uint64_t addr, const char *sig, uint32_t *len)
{
	const uint8_t *t;

	ck_assert_msg(addr >= BASE && addr + 36 <= BASE + (uint64_t)used,
		      "%s at 0x%llx is outside the tables", sig, (unsigned long long)addr);
	t = buf + (addr - BASE);
	ck_assert_msg(!memcmp(t, sig, 4), "expected %s at 0x%llx", sig, (unsigned long long)addr);
	*len = get32(t + 4);
	ck_assert_msg(addr + *len <= BASE + (uint64_t)used, "%s runs past the tables", sig);
	ck_assert_msg(sum(t, *len) == 0, "%s checksum", sig);
	return t;
}

static const struct acpi_cfg two = {
	.nr_vcpus = 2, .nr_virtio = 2,
	.virtio = { { 0xd0000000, 0x1000, 5 }, { 0xd0001000, 0x1000, 6 } },
};

static void build(const struct acpi_cfg *cfg)
{
	memset(buf, 0xcc, sizeof(buf));
	used = acpi__build(cfg, BASE, buf, sizeof(buf));
	ck_assert_int_gt(used, 0);
}

/* The RSDP as Linux's scan finds it: on a 16-byte boundary, by signature. */
static const uint8_t *find_rsdp(void)
{
	for (long off = 0; off + 36 <= used; off += 16)
		if (!memcmp(buf + off, "RSD PTR ", 8))
			return buf + off;
	return NULL;
}

/* The table the XSDT lists with this signature (NULL: none). */
static const uint8_t *xsdt_entry(const char *sig, uint32_t *len)
{
	const uint8_t *r = find_rsdp(), *x;
	uint32_t xlen;

	x = table(get64(r + 24), "XSDT", &xlen);
	for (uint32_t off = 36; off + 8 <= xlen; off += 8) {
		uint64_t a = get64(x + off);

		if (a >= BASE && a + 4 <= BASE + (uint64_t)used && !memcmp(buf + (a - BASE), sig, 4))
			return table(a, sig, len);
	}
	return NULL;
}

START_TEST(test_rsdp_and_tables)
{
	const uint8_t *r, *fadt, *facs;
	uint32_t len;

	build(&two);
	r = find_rsdp();
	ck_assert_ptr_nonnull(r);
	ck_assert_int_eq(sum(r, 20), 0);
	ck_assert_int_eq(r[15], 2);
	ck_assert_uint_eq(get32(r + 20), 36);
	ck_assert_int_eq(sum(r, 36), 0);
	fadt = xsdt_entry("FACP", &len);
	ck_assert_ptr_nonnull(fadt);
	ck_assert_uint_eq(len, 276);
	ck_assert_ptr_nonnull(xsdt_entry("APIC", &len));
	/* DSDT and FACS through the FADT, 32- and 64-bit fields agreeing. */
	ck_assert_uint_eq(get32(fadt + 40), get64(fadt + 140));
	ck_assert_uint_eq(get32(fadt + 36), get64(fadt + 132));
	table(get64(fadt + 140), "DSDT", &len);
	ck_assert_uint_eq(get64(fadt + 132) % 64, 0);
	facs = buf + (get64(fadt + 132) - BASE);
	ck_assert(!memcmp(facs, "FACS", 4));
	/* Not hardware-reduced; PM1 blocks and the SCI where vmm/acpi_pm.c serves them. */
	ck_assert_uint_eq(get32(fadt + 112) & (1u << 20), 0);
	ck_assert_uint_eq(get32(fadt + 56), ACPI_PM1A_EVT_PORT);
	ck_assert_uint_eq(get32(fadt + 64), ACPI_PM1A_CNT_PORT);
	ck_assert_uint_eq(get64(fadt + 148 + 4), ACPI_PM1A_EVT_PORT);
	ck_assert_uint_eq(fadt[46] | fadt[47] << 8, ACPI_SCI_IRQ);
	ck_assert_uint_eq(fadt[108], ACPI_RTC_CENTURY_REG);
}
END_TEST

START_TEST(test_madt)
{
	struct acpi_cfg cfg = { .nr_vcpus = 5 };
	unsigned lapics = 0, ioapics = 0, sci_override = 0;
	const uint8_t *m;
	uint32_t len;

	build(&cfg);
	m = xsdt_entry("APIC", &len);
	ck_assert_ptr_nonnull(m);
	for (uint32_t off = 44; off < len; off += m[off + 1]) {
		ck_assert_msg(m[off + 1] >= 2 && off + m[off + 1] <= len, "bad MADT entry at %u", off);
		switch (m[off]) {
		case 0:
			ck_assert_uint_eq(m[off + 3], lapics); /* APIC id = vCPU index */
			ck_assert_uint_eq(get32(m + off + 4) & 1, 1);
			lapics++;
			break;
		case 1:
			ck_assert_uint_eq(m[off + 2], cfg.nr_vcpus);
			ck_assert_uint_eq(get32(m + off + 4), 0xfec00000);
			ioapics++;
			break;
		case 2:
			ck_assert_uint_eq(m[off + 3], ACPI_SCI_IRQ);
			ck_assert_uint_eq(get32(m + off + 4), ACPI_SCI_IRQ);
			ck_assert_uint_eq(m[off + 8] | m[off + 9] << 8, 0xd); /* level, high */
			sci_override++;
			break;
		}
	}
	ck_assert_uint_eq(lapics, cfg.nr_vcpus);
	ck_assert_uint_eq(ioapics, 1);
	ck_assert_uint_eq(sci_override, 1);
}
END_TEST

/* --- a reader for the AML subset the DSDT uses --------------------------- */

struct found {
	unsigned devices, lnro, com1, s5;
	uint64_t mem_base[ACPI_MAX_VIRTIO];
	uint32_t irq[ACPI_MAX_VIRTIO];
	unsigned nr_mem, nr_irq;
	int in_lnro;
};

static size_t name_string(const uint8_t *p, size_t n)
{
	size_t i = 0, segs = 1;

	while (i < n && (p[i] == '\\' || p[i] == '^'))
		i++;
	ck_assert(i < n);
	if (p[i] == 0x2e) {
		segs = 2;
		i++;
	} else if (p[i] == 0x2f) {
		segs = p[i + 1];
		i += 2;
	} else if (p[i] == 0) {
		return i + 1;
	}
	ck_assert_msg(i + 4 * segs <= n, "name runs past its package");
	return i + 4 * segs;
}

static void resources(const uint8_t *p, size_t n, struct found *f)
{
	size_t i = 0;

	while (i < n) {
		uint8_t tag = p[i];

		if (tag == 0x79) {
			ck_assert_uint_eq(i + 2, n); /* the end tag ends the buffer */
			return;
		}
		if (tag & 0x80) {
			size_t l = p[i + 1] | p[i + 2] << 8;

			ck_assert_msg(i + 3 + l <= n, "large resource runs past the buffer");
			if (tag == 0x86 && f->in_lnro)
				f->mem_base[f->nr_mem++] = get32(p + i + 4);
			if (tag == 0x89 && f->in_lnro)
				f->irq[f->nr_irq++] = get32(p + i + 5);
			i += 3 + l;
		} else {
			i += 1 + (tag & 7);
		}
	}
	ck_abort_msg("no end tag in a resource template");
}

static size_t term(const uint8_t *p, size_t n, struct found *f);

/* A PkgLength-framed term: its end must fall inside n; contents walked by fn. */
static size_t framed(const uint8_t *p, size_t n, size_t op_len, struct found *f, int kind)
{
	size_t len, pl = acpi_aml__pkg_length_decode(p + op_len, n - op_len, &len), i;

	ck_assert_msg(pl && op_len + len <= n, "package length past its parent");
	i = op_len + pl;
	if (kind == 'S' || kind == 'D') {
		i += name_string(p + i, op_len + len - i);
		if (kind == 'D')
			f->devices++;
		while (i < op_len + len)
			i += term(p + i, op_len + len - i, f);
		f->in_lnro = 0;
	} else if (kind == 'P') {
		unsigned count = p[i++], seen = 0;

		while (i < op_len + len) {
			i += term(p + i, op_len + len - i, f);
			seen++;
		}
		ck_assert_uint_eq(seen, count);
	} else { /* buffer: a size, then bytes */
		size_t start = i, size;

		i += term(p + i, op_len + len - i, f);
		size = p[start] == 0x0c ? get32(p + start + 1) : p[start] == 0x0a ? p[start + 1] : 0;
		ck_assert_uint_eq(i + size, op_len + len);
		resources(p + i, size, f);
		i += size;
	}
	ck_assert_uint_eq(i, op_len + len);
	return op_len + len;
}

static size_t term(const uint8_t *p, size_t n, struct found *f)
{
	size_t k;

	ck_assert(n > 0);
	switch (p[0]) {
	case 0x00: case 0x01: case 0xff:
		return 1;
	case 0x0a: return 2;
	case 0x0b: return 3;
	case 0x0c: return 5;
	case 0x0e: return 9;
	case 0x0d:
		k = strnlen((const char *)p + 1, n - 1);
		ck_assert_msg(k < n - 1, "unterminated string");
		if (!strcmp((const char *)p + 1, "LNRO0005")) {
			f->lnro++;
			f->in_lnro = 1;
		}
		return k + 2;
	case 0x08:
		k = 1 + name_string(p + 1, n - 1);
		if (!memcmp(p + 1, "\\_S5_", 5))
			f->s5++;
		if (!memcmp(p + 1, "_HID\x0c", 5) && get32(p + 6) == 0x0105d041) /* PNP0501 */
			f->com1++;
		return k + term(p + k, n - k, f);
	case 0x10: return framed(p, n, 1, f, 'S');
	case 0x11: return framed(p, n, 1, f, 'B');
	case 0x12: return framed(p, n, 1, f, 'P');
	case 0x5b:
		ck_assert_msg(n > 1 && p[1] == 0x82, "unexpected extended opcode");
		return framed(p, n, 2, f, 'D');
	}
	ck_abort_msg("unexpected AML opcode 0x%02x", p[0]);
	return n;
}

static void walk_dsdt(struct found *f)
{
	const uint8_t *fadt, *d;
	uint32_t len, flen;

	memset(f, 0, sizeof(*f));
	fadt = xsdt_entry("FACP", &flen);
	d = table(get64(fadt + 140), "DSDT", &len);
	for (uint32_t i = 36; i < len;)
		i += (uint32_t)term(d + i, len - i, f);
}

START_TEST(test_dsdt_aml)
{
	struct found f;

	build(&two);
	walk_dsdt(&f);
	ck_assert_uint_eq(f.com1, 1);
	ck_assert_uint_eq(f.s5, 1);
	ck_assert_uint_eq(f.lnro, 2);
	ck_assert_uint_eq(f.nr_mem, 2);
	ck_assert_uint_eq(f.mem_base[0], 0xd0000000);
	ck_assert_uint_eq(f.mem_base[1], 0xd0001000);
	ck_assert_uint_eq(f.irq[0], 5);
	ck_assert_uint_eq(f.irq[1], 6);
	ck_assert_uint_eq(f.devices, 4); /* COM1, RTC, two virtio */
}
END_TEST

START_TEST(test_no_virtio_and_many_cpus)
{
	struct acpi_cfg cfg = { .nr_vcpus = 64 };
	struct found f;

	build(&cfg);
	walk_dsdt(&f);
	ck_assert_uint_eq(f.lnro, 0);
	ck_assert_uint_eq(f.devices, 2);
}
END_TEST

/* Package lengths of every size class: 1 to 4 bytes. */
START_TEST(test_pkg_length_sizes)
{
	static const size_t sizes[] = { 10, 62, 63, 64, 4000, 4094, 5000, 70000, 1100000 };

	for (unsigned s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
		struct aml a;
		size_t len, pl;
		uint8_t *filler = calloc(1, sizes[s]);

		acpi_aml__init(&a);
		acpi_aml__scope(&a, "\\_SB_");
		acpi_aml__bytes(&a, filler, sizes[s]);
		acpi_aml__end(&a);
		ck_assert_int_eq(acpi_aml__finish(&a), 0);
		pl = acpi_aml__pkg_length_decode(a.buf + 1, a.len - 1, &len);
		ck_assert_msg(pl > 0, "size %zu: undecodable", sizes[s]);
		ck_assert_uint_eq(1 + len, a.len); /* the PkgLength counts itself, not the opcode */
		ck_assert_uint_eq(len, pl + 5 + sizes[s]);
		acpi_aml__free(&a);
		free(filler);
	}
}
END_TEST

START_TEST(test_bad_input)
{
	struct acpi_cfg cfg = { .nr_vcpus = 0 };
	struct aml a;

	ck_assert_int_lt(acpi__build(&cfg, BASE, buf, sizeof(buf)), 0);
	cfg.nr_vcpus = 1;
	ck_assert_int_lt(acpi__build(&cfg, BASE, buf, 100), 0); /* too small: -E2BIG */
	cfg.nr_virtio = 1;
	cfg.virtio[0] = (struct acpi_virtio){ 0xfffff000, 0x2000, 5 };
	ck_assert_int_lt(acpi__build(&cfg, BASE, buf, sizeof(buf)), 0);
	acpi_aml__init(&a);
	acpi_aml__name(&a, "lower"); /* not a valid NameSeg */
	ck_assert_int_lt(acpi_aml__finish(&a), 0);
	acpi_aml__free(&a);
	acpi_aml__init(&a);
	acpi_aml__scope(&a, "\\_SB_"); /* never closed */
	ck_assert_int_lt(acpi_aml__finish(&a), 0);
	acpi_aml__free(&a);
}
END_TEST

/* acpica-tools' iasl -d must take every table without an error. */
START_TEST(test_iasl_disassembles)
{
	static const char *const sigs[] = { "FACP", "APIC", "DSDT" };
	char dir[] = "/tmp/test_acpi.XXXXXX", cmd[512], path[256];
	uint32_t len;

	if (system("command -v iasl >/dev/null 2>&1") != 0)
		ck_abort_msg("iasl is missing (acpica-tools, in setup.sh's PACKAGES)");
	build(&two);
	ck_assert_ptr_nonnull(mkdtemp(dir));
	for (unsigned i = 0; i < 3; i++) {
		const uint8_t *fadt = xsdt_entry("FACP", &len), *t;
		FILE *f;

		t = i == 2 ? table(get64(fadt + 140), "DSDT", &len) : xsdt_entry(sigs[i], &len);
		snprintf(path, sizeof(path), "%s/%s.dat", dir, sigs[i]);
		f = fopen(path, "w");
		ck_assert_ptr_nonnull(f);
		ck_assert_uint_eq(fwrite(t, 1, len, f), len);
		fclose(f);
		snprintf(cmd, sizeof(cmd),
			 "cd %s && iasl -d %s.dat >%s.out 2>&1 && ! grep -Eiq 'error|warning|invalid' %s.dsl",
			 dir, sigs[i], sigs[i], sigs[i]);
		ck_assert_msg(system(cmd) == 0, "iasl -d %s failed or complained (see %s)", sigs[i], dir);
	}
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	ck_assert_int_eq(system(cmd), 0);
}
END_TEST

static Suite *acpi_suite(void)
{
	Suite *s = suite_create("acpi");
	TCase *tc = tcase_create("tables");

	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_rsdp_and_tables);
	tcase_add_test(tc, test_madt);
	tcase_add_test(tc, test_dsdt_aml);
	tcase_add_test(tc, test_no_virtio_and_many_cpus);
	tcase_add_test(tc, test_pkg_length_sizes);
	tcase_add_test(tc, test_bad_input);
	tcase_add_test(tc, test_iasl_disassembles);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(acpi_suite());
	int failed;

	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
