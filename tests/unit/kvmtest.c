#include "config.h"

#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "tests/unit/kvmtest.h"

int kvmtest__need_guest(const char *test, const char *guest, char *out, size_t len)
{
	const char *dir = getenv("GUESTS");
	int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);

	if (fd < 0) {
		/* A KVM test that cannot run fails (99: automake's hard error). */
		fprintf(stderr, "%s: no usable /dev/kvm: this test needs KVM\n", test);
		return 99;
	}
	close(fd);
	snprintf(out, len, "%s/%s", dir ? dir : "tests/guests", guest);
	if (access(out, R_OK)) {
		fprintf(stderr, "%s: %s not found\n", test, out);
		return 99;
	}
	return 0;
}

int kvmtest__main(const char *test, const char *guest, char *out, size_t len,
		  Suite *(*suite)(void))
{
	SRunner *sr;
	int failed;
	int rc = kvmtest__need_guest(test, guest, out, len);

	if (rc)
		return rc;
	sr = srunner_create(suite());
	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
