#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vmm/image.h"

static int read_file(const char *path, void **out, size_t *len, char *msg, size_t msg_size)
{
	struct stat st;
	size_t done = 0;
	uint8_t *buf;
	int fd, ret;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		ret = -errno;
		snprintf(msg, msg_size, "cannot open the file %s", path);
		return ret;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size == 0 ||
	    st.st_size > IMAGE_MAX_SIZE) {
		snprintf(msg, msg_size, "%s: not a regular, non-empty file of at most 512 MiB",
			 path);
		close(fd);
		return -EINVAL;
	}
	buf = malloc((size_t)st.st_size);
	if (!buf) {
		close(fd);
		return -ENOMEM;
	}
	while (done < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + done, (size_t)st.st_size - done);

		if (n <= 0) {
			snprintf(msg, msg_size, "%s: read failed", path);
			free(buf);
			close(fd);
			return -EIO;
		}
		done += (size_t)n;
	}
	close(fd);
	*out = buf;
	*len = done;
	return 0;
}

int image__read(struct image *img, const char *kernel, const char *initrd,
		const char *cmdline, const char **err)
{
	static __thread char msg[512]; /* one message per thread, not per VM: fine for errors */
	int ret;

	memset(img, 0, sizeof(*img));
	if (!kernel) {
		*err = "no kernel image given";
		return -EINVAL;
	}
	ret = read_file(kernel, &img->kernel, &img->kernel_len, msg, sizeof(msg));
	if (!ret && initrd)
		ret = read_file(initrd, &img->initrd, &img->initrd_len, msg, sizeof(msg));
	if (!ret && cmdline && !(img->cmdline = strdup(cmdline)))
		ret = -ENOMEM;
	if (ret) {
		*err = msg;
		image__free(img);
	}
	return ret;
}

int image__load(const struct image *img, struct vm_mem *mem, struct boot_entry *entry,
		const char **err)
{
	struct boot_args args = {
		.kernel = img->kernel, .kernel_len = img->kernel_len,
		.initrd = img->initrd, .initrd_len = img->initrd_len,
		.cmdline = img->cmdline,
	};

	if (bzimage__probe(img->kernel, img->kernel_len))
		return bzimage__load(mem, &args, entry, err);
	return pvh__load(mem, &args, entry, err);
}

void image__free(struct image *img)
{
	free(img->kernel);
	free(img->initrd);
	free(img->cmdline);
	memset(img, 0, sizeof(*img));
}
