/* logtext__clean: outside text made printable and bounded (vmm/logtext.h). */
#include "config.h"

#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vmm/logtext.h"

START_TEST(test_printable_kept)
{
	char out[32];

	ck_assert_str_eq(logtext__clean(out, sizeof(out), "disk full: ENOSPC", SIZE_MAX),
			 "disk full: ENOSPC");
	ck_assert_str_eq(logtext__clean(out, sizeof(out), NULL, SIZE_MAX), "");
	ck_assert_str_eq(logtext__clean(out, sizeof(out), "", SIZE_MAX), "");
}
END_TEST

START_TEST(test_control_and_high_bytes)
{
	char out[32];

	ck_assert_str_eq(logtext__clean(out, sizeof(out), "a\nb\rc\x1b[2J\x7f\xff~", SIZE_MAX),
			 "a?b?c?[2J??~");
}
END_TEST

START_TEST(test_bounded)
{
	char in[300], out[16];

	memset(in, 'x', sizeof(in) - 1);
	in[sizeof(in) - 1] = '\0';
	logtext__clean(out, sizeof(out), in, SIZE_MAX);
	ck_assert_uint_eq(strlen(out), sizeof(out) - 1);
	ck_assert_str_eq(out + sizeof(out) - 4, "...");
	/* Exactly fits: not cut, no dots. */
	ck_assert_str_eq(logtext__clean(out, sizeof(out), "123456789012345", SIZE_MAX),
			 "123456789012345");
	/* inlen bounds an unterminated input (a guest's fixed-size field). */
	ck_assert_str_eq(logtext__clean(out, sizeof(out), "abcdef", 3), "abc");
	/* Too small for the dots: cut all the same. */
	ck_assert_str_eq(logtext__clean(out, 3, "abcdef", SIZE_MAX), "ab");
	ck_assert_str_eq(logtext__clean(out, 1, "abcdef", SIZE_MAX), "");
}
END_TEST

int main(void)
{
	Suite *s = suite_create("logtext");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, test_printable_kept);
	tcase_add_test(tc, test_control_and_high_bytes);
	tcase_add_test(tc, test_bounded);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
