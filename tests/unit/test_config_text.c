/*
 * The configuration as a text: `hactl config diff`'s unified diff
 * (hasvc/text_diff.h, checked against what diff -u prints), the size bound
 * and the checks of a peer's ConfigHeld (hasvc/config_text.h), the atomic
 * write of a node's file (hasvc/atomic_file.h).
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hasvc/atomic_file.h"
#include "hasvc/config_text.h"
#include "hasvc/limits.h"
#include "hasvc/text_diff.h"

static const char letters[] = "a\nb\nc\nd\ne\nf\ng\nh\ni\nj\nk\nl\nm\nn\n";

/* The diff of old and new: its return value, and the text after the header. */
static int diff(const char *old_text, const char *new_text, char **hunks)
{
	char *buf = NULL, *nl;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	int rc;

	ck_assert_ptr_nonnull(f);
	rc = text_diff__unified(f, old_text, new_text, "old", "new");
	fclose(f);
	*hunks = buf;
	if (rc == 1) {
		ck_assert_msg(!strncmp(buf, "--- old\n+++ new\n", 16), "header: %s", buf);
		nl = buf + 16;
		memmove(buf, nl, strlen(nl) + 1);
	}
	return rc;
}

START_TEST(test_same)
{
	char *out;

	ck_assert_int_eq(diff(letters, letters, &out), 0);
	ck_assert_str_eq(out, "");
	free(out);
	ck_assert_int_eq(diff("", "", &out), 0);
	free(out);
}
END_TEST

/* Changes 11 lines apart: two hunks, as diff -u prints them. */
START_TEST(test_two_hunks)
{
	char *out, *new_text = strdup(letters);

	new_text[2] = 'B';
	new_text[24] = 'M';
	ck_assert_int_eq(diff(letters, new_text, &out), 1);
	ck_assert_str_eq(out, "@@ -1,5 +1,5 @@\n a\n-b\n+B\n c\n d\n e\n"
			 "@@ -10,5 +10,5 @@\n j\n k\n l\n-m\n+M\n n\n");
	free(out);
	free(new_text);
}
END_TEST

/* Changes 6 lines apart: their contexts meet, one hunk. */
START_TEST(test_merged_hunk)
{
	char *out, *new_text = strdup(letters);

	new_text[2] = 'B';
	new_text[14] = 'H';
	ck_assert_int_eq(diff(letters, new_text, &out), 1);
	ck_assert_str_eq(out, "@@ -1,11 +1,11 @@\n a\n-b\n+B\n c\n d\n e\n f\n g\n-h\n+H\n"
			 " i\n j\n k\n");
	free(out);
	free(new_text);
}
END_TEST

START_TEST(test_empty_sides_and_last_newline)
{
	char *out;

	ck_assert_int_eq(diff("", "x\ny\n", &out), 1);
	ck_assert_str_eq(out, "@@ -0,0 +1,2 @@\n+x\n+y\n");
	free(out);
	ck_assert_int_eq(diff("x\ny\n", "", &out), 1);
	ck_assert_str_eq(out, "@@ -1,2 +0,0 @@\n-x\n-y\n");
	free(out);
	ck_assert_int_eq(diff("x\ny", "x\ny\n", &out), 1);
	ck_assert_str_eq(out, "@@ -1,2 +1,2 @@\n x\n-y\n\\ No newline at end of file\n+y\n");
	free(out);
	/* An added section at the end, as config diff shows a new VM. */
	ck_assert_int_eq(diff("[node a]\nx = 1\n", "[node a]\nx = 1\n[vm w]\nmemory = 1M\n", &out),
			 1);
	ck_assert_str_eq(out, "@@ -1,2 +1,4 @@\n [node a]\n x = 1\n+[vm w]\n+memory = 1M\n");
	free(out);
}
END_TEST

/* Past the table's bound the middle is removed and added whole: still a diff. */
START_TEST(test_large)
{
	size_t n = 3000, minus = 0, plus = 0;
	char *a = malloc(n * 8 + 1), *b = malloc(n * 8 + 1), *out, *p;

	ck_assert_ptr_nonnull(a);
	ck_assert_ptr_nonnull(b);
	a[0] = b[0] = 0;
	for (size_t i = 0; i < n; i++) {
		sprintf(a + strlen(a), "a%05zu\n", i);
		sprintf(b + strlen(b), "b%05zu\n", i);
	}
	ck_assert_int_eq(diff(a, b, &out), 1);
	for (p = out; (p = strchr(p, '\n')); p++) {
		minus += p[1] == '-';
		plus += p[1] == '+';
	}
	ck_assert_uint_eq(minus, n);
	ck_assert_uint_eq(plus, n);
	ck_assert(!strncmp(out, "@@ -1,3000 +1,3000 @@\n-a00000\n", 29));
	free(out);
	free(a);
	free(b);
}
END_TEST

START_TEST(test_size_bound)
{
	char err[CONFIG_ERR_MAX];
	struct config *conf = (struct config *)1;
	char *big = malloc(HASVC_CONFIG_TEXT_MAX + 2);

	ck_assert_ptr_nonnull(big);
	memset(big, '#', HASVC_CONFIG_TEXT_MAX + 1);
	big[HASVC_CONFIG_TEXT_MAX + 1] = 0;
	ck_assert_int_eq(config_text__parse(big, "big.conf", &conf, err, sizeof(err)), -EFBIG);
	ck_assert_ptr_null(conf);
	ck_assert_msg(strstr(err, "big.conf: more than 196608 bytes"), "%s", err);
	free(big);
	ck_assert_int_eq(config_text__parse("[vm x]\nmemory = 12Q\n", "t.conf", &conf, err,
					    sizeof(err)), -EINVAL);
	ck_assert_msg(strstr(err, "t.conf:2"), "%s", err);
}
END_TEST

START_TEST(test_held)
{
	uint8_t d32[HASVC_DIGEST_LEN] = { 0 }, d5[5] = { 0 };
	Hasvc__Cluster__ConfigHeld h = HASVC__CLUSTER__CONFIG_HELD__INIT;
	char why[160], name[HASVC_NAME_MAX + 1];

	ck_assert_int_eq(config_text__check_held(&h, why, sizeof(why)), 0);
	h.file_digest.data = d32;
	h.file_digest.len = sizeof(d32);
	h.initiator = "a";
	h.request = 3;
	ck_assert_int_eq(config_text__check_held(&h, why, sizeof(why)), 0);
	h.running_digest.data = d5;
	h.running_digest.len = sizeof(d5);
	ck_assert_int_eq(config_text__check_held(&h, why, sizeof(why)), -EINVAL);
	ck_assert_str_eq(why, "ConfigHeld.running_digest: 5 bytes, not 32");
	h.running_digest.len = 0;
	memset(name, 'n', HASVC_NAME_MAX);
	name[HASVC_NAME_MAX] = 0;
	h.initiator = name;
	ck_assert_int_eq(config_text__check_held(&h, why, sizeof(why)), -EINVAL);
	h.initiator = "";
	ck_assert_int_eq(config_text__check_held(&h, why, sizeof(why)), -EINVAL);
	ck_assert_str_eq(why, "ConfigHeld: request 3 without an initiator");
}
END_TEST

static char *slurp(const char *path)
{
	static char buf[256];
	FILE *f = fopen(path, "r");
	size_t n;

	ck_assert_ptr_nonnull(f);
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = 0;
	fclose(f);
	return buf;
}

/* New file, replaced file (mode kept), through a symbolic link, no folder. */
START_TEST(test_atomic_write)
{
	char dir[] = "/tmp/atomic-file.XXXXXX", path[64], link_path[64], err[256];
	struct stat st;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/hasvc.conf", dir);
	snprintf(link_path, sizeof(link_path), "%s/link.conf", dir);
	ck_assert_int_eq(atomic_file__write(path, "one\n", err, sizeof(err)), 0);
	ck_assert_str_eq(slurp(path), "one\n");
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_uint_eq(st.st_mode & 07777, 0640);
	ck_assert_int_eq(chmod(path, 0600), 0);
	ck_assert_int_eq(atomic_file__write(path, "two\n", err, sizeof(err)), 0);
	ck_assert_str_eq(slurp(path), "two\n");
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_uint_eq(st.st_mode & 07777, 0600);
	ck_assert_int_eq(symlink(path, link_path), 0);
	ck_assert_int_eq(atomic_file__write(link_path, "three\n", err, sizeof(err)), 0);
	ck_assert_int_eq(lstat(link_path, &st), 0);
	ck_assert(S_ISLNK(st.st_mode));
	ck_assert_str_eq(slurp(path), "three\n");
	ck_assert_int_eq(unlink(link_path), 0);
	ck_assert_int_eq(unlink(path), 0);
	ck_assert_int_eq(rmdir(dir), 0);  /* no temporary file left */
	ck_assert_int_eq(atomic_file__write(path, "four\n", err, sizeof(err)), -ENOENT);
	ck_assert_msg(strstr(err, "cannot write ") && strstr(err, "No such file"), "%s", err);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("config_text");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, test_same);
	tcase_add_test(tc, test_two_hunks);
	tcase_add_test(tc, test_merged_hunk);
	tcase_add_test(tc, test_empty_sides_and_last_newline);
	tcase_add_test(tc, test_large);
	tcase_add_test(tc, test_size_bound);
	tcase_add_test(tc, test_held);
	tcase_add_test(tc, test_atomic_write);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
