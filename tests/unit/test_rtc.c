/*
 * The CMOS RTC of vmm/rtc.c driven through its ports as a guest would, with
 * the host's clock replaced by a fixed one: the date in BCD and in binary,
 * 12- and 24-hour forms, the century register, setting the time (an offset
 * kept against the moving host clock), and the status registers.
 */
#include "config.h"

#include <check.h>
#include <stdlib.h>

#include "vmm/rtc.h"

static time_t fake_now;

static time_t now_fake(void)
{
	return fake_now;
}

static uint8_t rd(struct rtc *rtc, uint8_t reg)
{
	uint8_t v = reg;

	rtc__io(rtc, 0x70, &v, 1);
	rtc__io(rtc, 0x71, &v, 0);
	return v;
}

static void wr(struct rtc *rtc, uint8_t reg, uint8_t v)
{
	rtc__io(rtc, 0x70, &reg, 1);
	rtc__io(rtc, 0x71, &v, 1);
}

static struct rtc *make(void)
{
	struct rtc *rtc;

	ck_assert_int_eq(rtc__create(&rtc, NULL), 0);
	rtc->now = now_fake;
	/* Tuesday 2026-12-01 21:07:09 UTC */
	fake_now = 1796159229;
	return rtc;
}

START_TEST(test_bcd_24h)
{
	struct rtc *rtc = make();

	ck_assert_uint_eq(rd(rtc, 0x0b) & 0x06, 0x02); /* BCD, 24-hour by default */
	ck_assert_uint_eq(rd(rtc, 0x00), 0x09);
	ck_assert_uint_eq(rd(rtc, 0x02), 0x07);
	ck_assert_uint_eq(rd(rtc, 0x04), 0x21);
	ck_assert_uint_eq(rd(rtc, 0x06), 0x03); /* Sunday is 1 */
	ck_assert_uint_eq(rd(rtc, 0x07), 0x01);
	ck_assert_uint_eq(rd(rtc, 0x08), 0x12);
	ck_assert_uint_eq(rd(rtc, 0x09), 0x26);
	ck_assert_uint_eq(rd(rtc, 0x32), 0x20);
	fake_now += 60;
	ck_assert_uint_eq(rd(rtc, 0x02), 0x08); /* the clock follows the host's */
	rtc__destroy(rtc);
}
END_TEST

START_TEST(test_binary_12h)
{
	struct rtc *rtc = make();

	wr(rtc, 0x0b, 0x04); /* binary, 12-hour */
	ck_assert_uint_eq(rd(rtc, 0x04), 0x80 | 9); /* 9 PM */
	ck_assert_uint_eq(rd(rtc, 0x09), 26);
	ck_assert_uint_eq(rd(rtc, 0x32), 20);
	fake_now -= 21 * 3600; /* 00:07 */
	ck_assert_uint_eq(rd(rtc, 0x04), 12); /* 12 AM */
	rtc__destroy(rtc);
}
END_TEST

START_TEST(test_set_time)
{
	struct rtc *rtc = make();

	/* As Linux's mc146818_set_time: SET on, write the fields, SET off. */
	wr(rtc, 0x0b, 0x82);
	wr(rtc, 0x09, 0x30);
	wr(rtc, 0x08, 0x01);
	wr(rtc, 0x07, 0x15);
	wr(rtc, 0x04, 0x08);
	wr(rtc, 0x02, 0x30);
	wr(rtc, 0x00, 0x00);
	ck_assert_uint_eq(rd(rtc, 0x09), 0x30); /* frozen while SET is on */
	fake_now += 100;
	ck_assert_uint_eq(rd(rtc, 0x00), 0x00);
	wr(rtc, 0x0b, 0x02);
	ck_assert_uint_eq(rd(rtc, 0x09), 0x30);
	ck_assert_uint_eq(rd(rtc, 0x04), 0x08);
	fake_now += 75;
	ck_assert_uint_eq(rd(rtc, 0x02), 0x31);
	ck_assert_uint_eq(rd(rtc, 0x00), 0x15);
	/* A reset keeps the time (the CMOS has a battery). */
	rtc__reset(rtc);
	ck_assert_uint_eq(rd(rtc, 0x09), 0x30);
	rtc__destroy(rtc);
}
END_TEST

START_TEST(test_status_and_ram)
{
	struct rtc *rtc = make();

	ck_assert_uint_eq(rd(rtc, 0x0d), 0x80);     /* valid RAM and time */
	ck_assert_uint_eq(rd(rtc, 0x0a) & 0x80, 0); /* never mid-update */
	ck_assert_uint_eq(rd(rtc, 0x0c), 0);
	wr(rtc, 0x0d, 0);
	ck_assert_uint_eq(rd(rtc, 0x0d), 0x80); /* read-only */
	wr(rtc, 0x40, 0x5a);
	ck_assert_uint_eq(rd(rtc, 0x40), 0x5a);
	wr(rtc, 0x80 | 0x41, 0xa5); /* bit 7 of the index masks NMIs: same register */
	ck_assert_uint_eq(rd(rtc, 0x41), 0xa5);
	rtc__destroy(rtc);
}
END_TEST

static Suite *rtc_suite(void)
{
	Suite *s = suite_create("rtc");
	TCase *tc = tcase_create("cmos");

	tcase_add_test(tc, test_bcd_24h);
	tcase_add_test(tc, test_binary_12h);
	tcase_add_test(tc, test_set_time);
	tcase_add_test(tc, test_status_and_ram);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(rtc_suite());
	int failed;

	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
