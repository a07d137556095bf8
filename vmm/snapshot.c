#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vmm/durable.h"
#include "vmm/snapshot.h"
#include "vmm/stream.h"
#include "vmm/vm.h"
#include "vmm/virtio_blk.h"
#include "vmm/vm_state.h"

int snapshot__save_file(struct vm *vm, const char *path, uint64_t *bytes, char *err,
			size_t errlen)
{
	char tmp[4096];
	struct stream s;
	int fd, ret;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp.%d", path, (int)getpid()) >= (int)sizeof(tmp)) {
		snprintf(err, errlen, "the path is too long");
		return -ENAMETOOLONG;
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		ret = -errno;
		snprintf(err, errlen, "cannot create %s: %s", tmp, strerror(errno));
		return ret;
	}
	stream__init_fd(&s, fd);
	ret = vm_state__save(vm, &s);
	/*
	 * The image with it, whoever opens it next: the state's save leaves
	 * that to a checkpoint's engine while one runs (virtio_blk__save).
	 */
	if (!ret && vm->blk)
		ret = virtio_blk__sync(vm->blk);
	if (!ret)
		ret = stream__flush(&s);
	*bytes = s.bytes;
	stream__close(&s);
	if (!ret && fsync(fd) < 0)
		ret = -errno;
	if (close(fd) < 0 && !ret)
		ret = -errno;
	if (!ret && rename(tmp, path) < 0)
		ret = -errno;
	if (ret) {
		snprintf(err, errlen, "writing the state failed: %s", strerror(-ret));
		unlink(tmp);
		return ret;
	}
	ret = durable__sync_parent_dir(path);
	if (ret)
		snprintf(err, errlen, "%s is written but its directory could not be synced "
			 "(a crash now may lose it): %s", path, strerror(-ret));
	return ret;
}

int snapshot__load_file(struct vm *vm, const char *path, char *err, size_t errlen)
{
	const char *why = NULL;
	struct stream s;
	int fd, ret;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		ret = -errno;
		snprintf(err, errlen, "cannot open the state file %s: %s", path, strerror(errno));
		return ret;
	}
	stream__init_fd(&s, fd);
	ret = vm_state__load(vm, &s, &why);
	stream__close(&s);
	close(fd);
	if (ret)
		snprintf(err, errlen, "%s: %s", path, why ? why : strerror(-ret));
	return ret;
}
