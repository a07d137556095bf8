/*
 * libFuzzer target: the bzImage loader on arbitrary bytes.  Guest RAM is
 * made once (64 MiB, sparse) and reused; the loader must never touch memory
 * outside it or read past the input, whatever the input says.
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
	(void)bzimage__probe(data, size);
	(void)bzimage__load(&mem, &args, &entry, &err);
	return 0;
}
