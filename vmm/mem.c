/* Guest RAM: a sparse memfd, mapped shared, registered as KVM memory slots. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <linux/userfaultfd.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "vmm/mem.h"

int mem__init(struct vm_mem *mem, uint64_t size)
{
	int ret;

	memset(mem, 0, sizeof(*mem));
	mem->memfd = -1;
	if (size < (2ULL << 20) || size % MEM_PAGE_SIZE)
		return -EINVAL;
	mem->memfd = memfd_create("guest-ram", MFD_CLOEXEC);
	if (mem->memfd < 0)
		return -errno;
	/* ftruncate allocates nothing: a page costs memory when first touched. */
	if (ftruncate(mem->memfd, (off_t)size) < 0) {
		ret = -errno;
		goto err_close;
	}
	mem->host = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE,
			 mem->memfd, 0);
	if (mem->host == MAP_FAILED) {
		ret = -errno;
		goto err_close;
	}
	/* Guest RAM is never shared with children we may fork (fencing scripts). */
	madvise(mem->host, size, MADV_DONTFORK);
	mem->size = size;

	mem->slots[0] = (struct mem_slot){ .id = 0, .gpa = 0, .offset = 0,
		.size = size < MEM_LOW_LIMIT ? size : MEM_LOW_LIMIT };
	mem->nr_slots = 1;
	if (size > MEM_LOW_LIMIT) {
		mem->slots[1] = (struct mem_slot){ .id = 1, .gpa = MEM_HIGH_START,
			.offset = MEM_LOW_LIMIT, .size = size - MEM_LOW_LIMIT };
		mem->nr_slots = 2;
	}
	return 0;

err_close:
	close(mem->memfd);
	mem->memfd = -1;
	return ret;
}

void mem__exit(struct vm_mem *mem)
{
	if (mem->host && mem->host != MAP_FAILED)
		munmap(mem->host, mem->size);
	if (mem->memfd >= 0)
		close(mem->memfd);
	mem->host = NULL;
	mem->memfd = -1;
}

static int register_slots(struct vm_mem *mem, int vm_fd, uint32_t flags)
{
	for (unsigned i = 0; i < mem->nr_slots; i++) {
		const struct mem_slot *s = &mem->slots[i];
		struct kvm_userspace_memory_region r = {
			.slot = s->id,
			.flags = flags,
			.guest_phys_addr = s->gpa,
			.memory_size = s->size,
			.userspace_addr = (uintptr_t)(mem->host + s->offset),
		};

		if (ioctl(vm_fd, KVM_SET_USER_MEMORY_REGION, &r) < 0)
			return -errno;
	}
	return 0;
}

int mem__register(struct vm_mem *mem, int vm_fd)
{
	return register_slots(mem, vm_fd, mem->dirty_logging ? KVM_MEM_LOG_DIRTY_PAGES : 0);
}

int mem__set_dirty_logging(struct vm_mem *mem, int vm_fd, bool on)
{
	int ret = register_slots(mem, vm_fd, on ? KVM_MEM_LOG_DIRTY_PAGES : 0);

	if (ret == 0)
		mem->dirty_logging = on;
	return ret;
}

void *mem__gpa_to_hva(const struct vm_mem *mem, uint64_t gpa, uint64_t len)
{
	for (unsigned i = 0; i < mem->nr_slots; i++) {
		const struct mem_slot *s = &mem->slots[i];

		if (gpa < s->gpa || gpa - s->gpa >= s->size)
			continue;
		if (len > s->size - (gpa - s->gpa))
			return NULL;
		return mem->host + s->offset + (gpa - s->gpa);
	}
	return NULL;
}

int mem__write(struct vm_mem *mem, uint64_t gpa, const void *src, uint64_t len)
{
	void *dst = mem__gpa_to_hva(mem, gpa, len);

	if (!dst)
		return -EFAULT;
	memcpy(dst, src, len);
	return 0;
}

int mem__read(const struct vm_mem *mem, uint64_t gpa, void *dst, uint64_t len)
{
	const void *src = mem__gpa_to_hva(mem, gpa, len);

	if (!src)
		return -EFAULT;
	memcpy(dst, src, len);
	return 0;
}

int mem__discard_all(struct vm_mem *mem)
{
	if (fallocate(mem->memfd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0,
		      (off_t)mem->size) < 0)
		return -errno;
	return 0;
}

int mem__discard(struct vm_mem *mem, uint64_t offset, uint64_t len)
{
	if (offset > mem->size || len > mem->size - offset)
		return -EINVAL;
	if (fallocate(mem->memfd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)offset,
		      (off_t)len) < 0)
		return -errno;
	return 0;
}

int mem__uffd_register(struct vm_mem *mem, int *out)
{
	struct uffdio_api api = { .api = UFFD_API };
	struct uffdio_register reg = {
		.range = { .start = (uintptr_t)mem->host, .len = mem->size },
		.mode = UFFDIO_REGISTER_MODE_MISSING,
	};
	int fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK), ret;

	if (fd < 0)
		return -errno;
	if (ioctl(fd, UFFDIO_API, &api) < 0 || ioctl(fd, UFFDIO_REGISTER, &reg) < 0) {
		ret = -errno;
		close(fd);
		return ret;
	}
	if (!(reg.ioctls & (1ULL << _UFFDIO_COPY))) {
		close(fd);
		return -EOPNOTSUPP;
	}
	*out = fd;
	return 0;
}

int mem__uffd_unregister(struct vm_mem *mem, int uffd)
{
	struct uffdio_range r = { .start = (uintptr_t)mem->host, .len = mem->size };

	return ioctl(uffd, UFFDIO_UNREGISTER, &r) < 0 ? -errno : 0;
}

unsigned mem__e820(const struct vm_mem *mem, struct mem_region *out, unsigned max)
{
	/* The PC layout: conventional memory, the legacy hole, then the rest. */
	struct mem_region r[4];
	unsigned n = 0;
	uint64_t low_end = mem->slots[0].size;

	r[n++] = (struct mem_region){ 0, 0x9fc00, MEM_E820_RAM };
	r[n++] = (struct mem_region){ 0x9fc00, 0x100000 - 0x9fc00, MEM_E820_RESERVED };
	if (low_end > 0x100000)
		r[n++] = (struct mem_region){ 0x100000, low_end - 0x100000, MEM_E820_RAM };
	if (mem->nr_slots > 1)
		r[n++] = (struct mem_region){ mem->slots[1].gpa, mem->slots[1].size, MEM_E820_RAM };
	if (n > max)
		n = max;
	memcpy(out, r, n * sizeof(r[0]));
	return n;
}
