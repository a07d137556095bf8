/*
 * Replacing a file so that a crash leaves the old text or the new one,
 * never a mix (atomic_file.h).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hasvc/atomic_file.h"
#include "vmm/durable.h"

static int write_all(int fd, const char *buf, size_t len)
{
	while (len) {
		ssize_t n = write(fd, buf, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

int atomic_file__write(const char *path, const char *text, char *err, size_t errlen)
{
	return atomic_file__write_bytes(path, text, strlen(text), err, errlen);
}

/* The old file's owner and mode carry over: hasvc.conf may hold secrets. */
int atomic_file__write_bytes(const char *path, const void *buf, size_t len, char *err,
			     size_t errlen)
{
	char real[PATH_MAX], tmp[PATH_MAX + 16];
	struct stat st = { .st_mode = 0640, .st_uid = (uid_t)-1, .st_gid = (gid_t)-1 };
	int fd, ret;

	if (!realpath(path, real))
		snprintf(real, sizeof(real), "%s", path);  /* not there yet */
	(void)stat(real, &st);
	snprintf(tmp, sizeof(tmp), "%s.XXXXXX", real);
	fd = mkstemp(tmp);
	if (fd < 0) {
		ret = -errno;
		snprintf(err, errlen, "cannot write %s: %s", path, strerror(-ret));
		return ret;
	}
	ret = fchmod(fd, st.st_mode & 07777) < 0 ? -errno : 0;
	if (!ret && fchown(fd, st.st_uid, st.st_gid) < 0 && errno != EPERM)
		ret = -errno;
	if (!ret)
		ret = write_all(fd, buf, len);
	if (!ret && fsync(fd) < 0)
		ret = -errno;
	if (close(fd) < 0 && !ret)
		ret = -errno;
	if (!ret && rename(tmp, real) < 0)
		ret = -errno;
	if (ret)
		unlink(tmp);
	if (!ret)
		ret = durable__sync_parent_dir(real);  /* the rename outlives a crash */
	if (ret)
		snprintf(err, errlen, "cannot write %s: %s", path, strerror(-ret));
	return ret;
}
