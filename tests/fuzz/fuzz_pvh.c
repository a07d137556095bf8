/*
 * libFuzzer target: the PVH ELF loader on arbitrary bytes, against a bare
 * 64 MiB guest RAM made once and reused.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>

#include "vmm/boot.h"

#define FUZZ_RAM_SIZE (64ULL << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct vm_mem mem;
	static int ready;
	static const char initrd[] = "INITRD-MAGIC fuzz initrd";
	struct boot_args args = {
		.kernel = data, .kernel_len = size,
		.initrd = initrd, .initrd_len = sizeof(initrd),
		.cmdline = "console=ttyS0 fuzz=1",
	};
	struct boot_entry entry;
	const char *err;

	if (!ready) {
		if (mem__init(&mem, FUZZ_RAM_SIZE))
			abort();
		ready = 1;
	}
	(void)pvh__load(&mem, &args, &entry, &err);
	return 0;
}
