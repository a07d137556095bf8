/*
 * The bounds of the vmm logs in hasvcd's run directory (hasvc/vmmlog.h): a
 * log written through an O_APPEND descriptor (as the vmm's stderr is) is
 * moved aside and truncated past its size, and its writer goes on at the new
 * end; only the newest ended copies of a VM keep their logs, and none of
 * a VM no longer kept.
 */
#include "config.h"

#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hasvc/vmmlog.h"

static char dir[] = "/tmp/vmmlog.XXXXXX";

static void setup(void)
{
	ck_assert_ptr_nonnull(mkdtemp(strcpy(dir, "/tmp/vmmlog.XXXXXX")));
}

static void teardown(void)
{
	char cmd[64];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	ck_assert_int_eq(system(cmd), 0);
}

static off_t size_of(const char *path)
{
	struct stat st;

	return stat(path, &st) ? -1 : st.st_size;
}

static void touch(const char *name)
{
	char path[256];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_WRONLY | O_CREAT, 0640);
	ck_assert_int_ge(fd, 0);
	close(fd);
}

static bool exists(const char *name)
{
	char path[256];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return access(path, F_OK) == 0;
}

START_TEST(test_bound)
{
	char path[256], old[256], line[100];
	int fd;

	snprintf(path, sizeof(path), "%s/hasvc.web1.3.log", dir);
	snprintf(old, sizeof(old), "%s/hasvc.web1.3.log.1", dir);
	ck_assert_int_eq(vmmlog__bound(path, 1000), 0);   /* no log yet */
	fd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0640);
	ck_assert_int_ge(fd, 0);
	memset(line, 'a', sizeof(line) - 1);
	line[sizeof(line) - 1] = '\n';
	for (int i = 0; i < 10; i++)
		ck_assert_int_eq(write(fd, line, sizeof(line)), sizeof(line));
	ck_assert_int_eq(vmmlog__bound(path, 1000), 0);   /* 1000 bytes: not past */
	ck_assert_int_eq(write(fd, line, sizeof(line)), sizeof(line));
	ck_assert_int_eq(vmmlog__bound(path, 1000), 1);
	ck_assert_int_eq(size_of(old), 1100);
	ck_assert_int_eq(size_of(path), 0);
	/* The writer's next line lands at the start, not after a hole. */
	ck_assert_int_eq(write(fd, "next\n", 5), 5);
	ck_assert_int_eq(size_of(path), 5);
	/* Again: the older file is replaced, never a .2. */
	for (int i = 0; i < 20; i++)
		ck_assert_int_eq(write(fd, line, sizeof(line)), sizeof(line));
	ck_assert_int_eq(vmmlog__bound(path, 1000), 1);
	ck_assert_int_eq(size_of(old), 2005);
	ck_assert(!exists("hasvc.web1.3.log.2"));
	ck_assert(!exists("hasvc.web1.3.log.1.tmp"));
	close(fd);
}
END_TEST

static bool live_7(uint64_t token, void *opaque)
{
	return token == 7;
}

START_TEST(test_prune)
{
	const char *const names[] = {
		"hasvc.web1.1.log", "hasvc.web1.2.log", "hasvc.web1.2.log.1", "hasvc.web1.4.log",
		"hasvc.web1.5.log", "hasvc.web1.6.log", "hasvc.web1.7.log", "hasvc.web1.10.log",
		/* Not web1's, or not a vmm log. */
		"hasvc.web1.2.5.log", "hasvc.web10.1.log", "hasvc.web1.1.serial", "hasvc.web1.1.rec",
	};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		touch(names[i]);
	/* 7 runs (kept whatever its age); of the ended 10, 6, 5 stay. */
	ck_assert_int_eq(vmmlog__prune(dir, "web1", 3, live_7, NULL), 4);
	ck_assert(exists("hasvc.web1.10.log") && exists("hasvc.web1.7.log"));
	ck_assert(exists("hasvc.web1.6.log") && exists("hasvc.web1.5.log"));
	ck_assert(!exists("hasvc.web1.4.log") && !exists("hasvc.web1.2.log"));
	ck_assert(!exists("hasvc.web1.2.log.1") && !exists("hasvc.web1.1.log"));
	ck_assert(exists("hasvc.web1.2.5.log") && exists("hasvc.web10.1.log"));
	ck_assert(exists("hasvc.web1.1.serial") && exists("hasvc.web1.1.rec"));
	ck_assert_int_eq(vmmlog__prune(dir, "web1", 3, live_7, NULL), 0);
}
END_TEST

static bool keep_web1(const char *vm, void *opaque)
{
	(void)opaque;
	return !strcmp(vm, "web1") || !strcmp(vm, "db.2");
}

/* The logs of VMs that are not kept go, whatever their token. */
START_TEST(test_prune_vms)
{
	const char *const gone[] = {
		"hasvc.old.1.log", "hasvc.old.1.log.1", "hasvc.web1.5.3.log", "hasvc.web10.1.log",
		"hasvc.db.9.log",
	};
	const char *const stay[] = {
		"hasvc.web1.1.log", "hasvc.web1.2.log.1", "hasvc.db.2.4.log",
		/* Not vmm logs. */
		"hasvc.old.1.serial", "hasvc.old.1.rec", "hasvc.old.log", "hasvc..1.log",
		"hasvc.1.log", "old.1.log", "hasvc.old.1.log.2",
	};

	for (size_t i = 0; i < sizeof(gone) / sizeof(gone[0]); i++)
		touch(gone[i]);
	for (size_t i = 0; i < sizeof(stay) / sizeof(stay[0]); i++)
		touch(stay[i]);
	ck_assert_int_eq(vmmlog__prune_vms(dir, keep_web1, NULL), 5);
	for (size_t i = 0; i < sizeof(gone) / sizeof(gone[0]); i++)
		ck_assert_msg(!exists(gone[i]), "%s is still there", gone[i]);
	for (size_t i = 0; i < sizeof(stay) / sizeof(stay[0]); i++)
		ck_assert_msg(exists(stay[i]), "%s was removed", stay[i]);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("hasvc_vmmlog");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_bound);
	tcase_add_test(tc, test_prune);
	tcase_add_test(tc, test_prune_vms);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
