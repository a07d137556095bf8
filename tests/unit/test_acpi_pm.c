/*
 * The ACPI PM1 registers of vmm/acpi_pm.c through their ports, as Linux's
 * ACPICA drives them: the power button's status and enable bits and the
 * SCI they raise, write-one-to-clear, SCI_EN always on, and S5 only when
 * SLP_EN comes with the \_S5 sleep type, also when written a byte at a time.
 */
#include "config.h"

#include <check.h>
#include <stdlib.h>

#include "vmm/acpi.h"
#include "vmm/acpi_pm.h"

#define STS ACPI_PM1A_EVT_PORT
#define EN (ACPI_PM1A_EVT_PORT + 2)
#define CNT ACPI_PM1A_CNT_PORT
#define PWRBTN 0x0100
#define SLP_EN 0x2000

static uint16_t rd16(struct acpi_pm *pm, uint16_t port)
{
	uint8_t d[2];

	ck_assert(!acpi_pm__io(pm, port, d, 2, false));
	return (uint16_t)(d[0] | d[1] << 8);
}

static bool wr16(struct acpi_pm *pm, uint16_t port, uint16_t v)
{
	uint8_t d[2] = { (uint8_t)v, (uint8_t)(v >> 8) };

	return acpi_pm__io(pm, port, d, 2, true);
}

START_TEST(test_power_button_raises_sci)
{
	struct acpi_pm *pm;

	ck_assert_int_eq(acpi_pm__create(&pm, NULL), 0);
	ck_assert_uint_eq(rd16(pm, CNT) & 1, 1); /* SCI_EN: always in ACPI mode */
	acpi_pm__press_power_button(pm);
	ck_assert_uint_eq(rd16(pm, STS) & PWRBTN, PWRBTN);
	ck_assert_int_eq(pm->sci_level, 0); /* not enabled yet */
	ck_assert(!wr16(pm, EN, PWRBTN));
	ck_assert_int_eq(pm->sci_level, 1);
	ck_assert(!wr16(pm, STS, 0x0001)); /* other bits: no effect */
	ck_assert_int_eq(pm->sci_level, 1);
	ck_assert(!wr16(pm, STS, PWRBTN)); /* write one to clear */
	ck_assert_uint_eq(rd16(pm, STS), 0);
	ck_assert_int_eq(pm->sci_level, 0);
	ck_assert_uint_eq(rd16(pm, EN), PWRBTN);
	acpi_pm__reset(pm);
	ck_assert_uint_eq(rd16(pm, EN), 0);
	acpi_pm__destroy(pm);
}
END_TEST

START_TEST(test_s5)
{
	struct acpi_pm *pm;
	uint16_t s5 = ACPI_S5_SLP_TYP << 10;
	uint8_t b;

	ck_assert_int_eq(acpi_pm__create(&pm, NULL), 0);
	/* ACPICA writes the sleep type first, then adds SLP_EN. */
	ck_assert(!wr16(pm, CNT, s5));
	ck_assert_uint_eq(rd16(pm, CNT), s5 | 1);
	ck_assert(wr16(pm, CNT, s5 | SLP_EN));
	ck_assert_uint_eq(rd16(pm, CNT) & SLP_EN, 0); /* write-only */
	/* Another sleep type (S1 and the like) is not a power-off. */
	ck_assert(!wr16(pm, CNT, (1 << 10) | SLP_EN));
	/* A byte at a time: the high byte holds SLP_TYP and SLP_EN. */
	b = (uint8_t)((s5 | SLP_EN) >> 8);
	ck_assert(acpi_pm__io(pm, CNT + 1, &b, 1, true));
	/* The event block is not the control block. */
	ck_assert(!wr16(pm, STS, s5 | SLP_EN));
	acpi_pm__destroy(pm);
}
END_TEST

static Suite *pm_suite(void)
{
	Suite *s = suite_create("acpi_pm");
	TCase *tc = tcase_create("pm1");

	tcase_add_test(tc, test_power_button_raises_sci);
	tcase_add_test(tc, test_s5);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(pm_suite());
	int failed;

	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
