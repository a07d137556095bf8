#include "config.h"

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
		fprintf(stderr, "%s: no usable /dev/kvm, skipping\n", test);
		return 77;
	}
	close(fd);
	snprintf(out, len, "%s/%s", dir ? dir : "tests/guests", guest);
	if (access(out, R_OK)) {
		fprintf(stderr, "%s: %s not found, skipping\n", test, out);
		return 77;
	}
	return 0;
}
