/* The boot image: kernel, initrd and command line, read once and kept for resets. */
#ifndef VMM_IMAGE_H
#define VMM_IMAGE_H

#include <stddef.h>

#include "vmm/boot.h"
#include "vmm/mem.h"

#define IMAGE_MAX_SIZE (512u << 20)

struct image {
	void *kernel;
	size_t kernel_len;
	void *initrd;
	size_t initrd_len;
	char *cmdline;
};

/* Read the files; *err names the file and the problem. */
int image__read(struct image *img, const char *kernel, const char *initrd,
		const char *cmdline, const char **err);
/* Pick the loader by the image's format and load it. */
int image__load(const struct image *img, struct vm_mem *mem, struct boot_entry *entry,
		const char **err);
void image__free(struct image *img);

#endif
