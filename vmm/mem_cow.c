/* Copy-on-write capture of guest RAM with userfaultfd write protection (mem_cow.h). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include <qb/qblog.h>

#include "vmm/mem_cow.h"

/*
 * A page's state in the current epoch.  PROT: protected, not copied; the
 * first of the copier (COPIER) or the handler (HANDLER) to claim it copies
 * it.  The copier reads a COPIER page from RAM while it is still protected;
 * the handler copies a HANDLER page into the pool (SAVED) before it lifts
 * the protection.  DONE: in the checkpoint; IDLE: not in this epoch.
 */
enum { PG_IDLE, PG_PROT, PG_COPIER, PG_HANDLER, PG_SAVED, PG_DONE };

/* The handler copies up to this many protected pages from the faulting one on. */
#define COW_CHUNK 32
/* The pool: a quarter of RAM, at most 64 MiB; past it a writer waits for the copier. */
#define COW_POOL_MAX (64ULL << 20)

struct mem_cow {
	struct vm_mem *mem;
	int uffd, stopfd;
	pthread_t thread;
	uint64_t npages;
	_Atomic uint8_t *state;
	uint32_t *slot;               /* a SAVED page's place in the pool */
	uint8_t *pool;
	uint64_t pool_pages;
	atomic_uint_fast64_t pool_next;
	atomic_bool aborted;          /* a failed copy lifted every protection */
	atomic_uint_fast64_t faults;
	bool no_fault_copy;           /* fault injection: the handler copies nothing */
	long copy_delay_us;           /* fault injection: the copier starts this late */
	uint64_t faults_at_protect;
};

static int wp(struct mem_cow *c, uint64_t pg, uint64_t n, bool on)
{
	struct uffdio_writeprotect w = {
		.range = { .start = (uintptr_t)(c->mem->host + pg * MEM_PAGE_SIZE),
			   .len = n * MEM_PAGE_SIZE },
		.mode = on ? UFFDIO_WRITEPROTECT_MODE_WP : 0,
	};

	return ioctl(c->uffd, UFFDIO_WRITEPROTECT, &w) < 0 ? -errno : 0;
}

static void wake(struct mem_cow *c, uint64_t pg)
{
	struct uffdio_range r = { .start = (uintptr_t)(c->mem->host + pg * MEM_PAGE_SIZE),
				  .len = MEM_PAGE_SIZE };

	ioctl(c->uffd, UFFDIO_WAKE, &r);
}

static void pause_us(long us)
{
	struct timespec ts = { 0, us * 1000 };

	nanosleep(&ts, NULL);
}

static bool claim(struct mem_cow *c, uint64_t pg, uint8_t who)
{
	uint8_t want = PG_PROT;

	return atomic_compare_exchange_strong(&c->state[pg], &want, who);
}

/* Handler: claim and save the protected pages from pg on; how many. */
static uint64_t save_chunk(struct mem_cow *c, uint64_t pg)
{
	uint64_t k = 0;

	while (k < COW_CHUNK && pg + k < c->npages && claim(c, pg + k, PG_HANDLER)) {
		uint64_t idx = atomic_fetch_add(&c->pool_next, 1);

		if (idx >= c->pool_pages) {
			atomic_store(&c->state[pg + k], PG_PROT);   /* the copier takes it */
			break;
		}
		c->slot[pg + k] = (uint32_t)idx;
		memcpy(c->pool + idx * MEM_PAGE_SIZE, c->mem->host + (pg + k) * MEM_PAGE_SIZE,
		       MEM_PAGE_SIZE);
		atomic_store(&c->state[pg + k], PG_SAVED);
		k++;
	}
	return k;
}

/* Handler: a write to page pg of RAM faulted. */
static void on_fault(struct mem_cow *c, uint64_t pg)
{
	uint64_t k;
	uint8_t s;

	if (pg >= c->npages)
		return;
	atomic_fetch_add(&c->faults, 1);
	if (c->no_fault_copy) {
		wp(c, pg, 1, false);
		return;
	}
	k = save_chunk(c, pg);
	if (k) {
		wp(c, pg, k, false);   /* wakes the writer */
		return;
	}
	/* The copier has it (or will: the pool is full): wait for it to be lifted. */
	for (;;) {
		s = atomic_load(&c->state[pg]);
		if (s == PG_IDLE || s == PG_SAVED || s == PG_DONE || atomic_load(&c->aborted))
			break;
		pause_us(10);
	}
	wake(c, pg);
}

static void *handler_main(void *arg)
{
	struct mem_cow *c = arg;
	struct pollfd p[2] = { { .fd = c->uffd, .events = POLLIN },
			       { .fd = c->stopfd, .events = POLLIN } };
	struct uffd_msg msg;

	for (;;) {
		if (poll(p, 2, -1) < 0 && errno != EINTR)
			break;
		if (p[1].revents)
			break;
		while (read(c->uffd, &msg, sizeof(msg)) == sizeof(msg)) {
			if (msg.event != UFFD_EVENT_PAGEFAULT)
				continue;
			on_fault(c, (msg.arg.pagefault.address - (uintptr_t)c->mem->host) /
				    MEM_PAGE_SIZE);
		}
	}
	return NULL;
}

/* A userfaultfd with RAM registered for write protection (-EOPNOTSUPP: no kernel support). */
static int open_uffd(struct vm_mem *mem)
{
#ifdef UFFD_FEATURE_WP_HUGETLBFS_SHMEM
	struct uffdio_api api = {
		.api = UFFD_API,
		.features = UFFD_FEATURE_PAGEFAULT_FLAG_WP | UFFD_FEATURE_WP_HUGETLBFS_SHMEM,
	};
	struct uffdio_register reg = {
		.range = { .start = (uintptr_t)mem->host, .len = mem->size },
		.mode = UFFDIO_REGISTER_MODE_WP,
	};
	int fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK), ret;

	if (fd < 0)
		return errno == ENOSYS ? -EOPNOTSUPP : -errno;
	if (ioctl(fd, UFFDIO_API, &api) < 0) {
		close(fd);
		return -EOPNOTSUPP;   /* the kernel lacks one of the features */
	}
	if (ioctl(fd, UFFDIO_REGISTER, &reg) < 0) {
		ret = errno == EINVAL ? -EOPNOTSUPP : -errno;   /* EBUSY: post-copy's */
		close(fd);
		return ret;
	}
	if (!(reg.ioctls & (1ULL << _UFFDIO_WRITEPROTECT))) {
		close(fd);
		return -EOPNOTSUPP;
	}
	return fd;
#else
	(void)mem;
	return -EOPNOTSUPP;
#endif
}

static void free_cow(struct mem_cow *c)
{
	if (c->pool)
		munmap(c->pool, c->pool_pages * MEM_PAGE_SIZE);
	if (c->stopfd >= 0)
		close(c->stopfd);
	if (c->uffd >= 0)
		close(c->uffd);
	free((void *)c->state);
	free(c->slot);
	free(c);
}

#ifdef HASVC_FAULT_INJECTION
/*
 * tests/checkpoint/cow.sh: a handler that lets writers through uncopied,
 * and a copier that starts late (the guest writes its pages first): once
 * two writes faulted, or after the delay.
 */
static void test_hooks(struct mem_cow *c)
{
	const char *d = getenv("VMM_TEST_COW_COPY_DELAY_US");

	c->no_fault_copy = getenv("VMM_TEST_COW_NO_FAULT_COPY") != NULL;
	c->copy_delay_us = d ? strtol(d, NULL, 10) % 1000000 : 0;
}
#else
static void test_hooks(struct mem_cow *c)
{
	(void)c;
}
#endif

int mem_cow__start(struct vm_mem *mem, struct mem_cow **out)
{
	struct mem_cow *c = calloc(1, sizeof(*c));
	uint64_t pool = mem->size / 4 < COW_POOL_MAX ? mem->size / 4 : COW_POOL_MAX;
	int ret;

	if (!c)
		return -ENOMEM;
	c->mem = mem;
	c->stopfd = -1;
	c->npages = mem->size / MEM_PAGE_SIZE;
	c->pool_pages = pool / MEM_PAGE_SIZE;
	test_hooks(c);
	c->uffd = open_uffd(mem);
	if (c->uffd < 0) {
		ret = c->uffd;
		goto err;
	}
	c->stopfd = eventfd(0, EFD_CLOEXEC);
	c->state = calloc(c->npages, sizeof(*c->state));
	c->slot = calloc(c->npages, sizeof(*c->slot));
	/* Faulted in now: a fault's copy never waits for the kernel's allocation. */
	c->pool = mmap(NULL, c->pool_pages * MEM_PAGE_SIZE, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (c->pool == MAP_FAILED)
		c->pool = NULL;
	ret = c->stopfd < 0 || !c->state || !c->slot || !c->pool ? -ENOMEM : 0;
	if (!ret)
		ret = -pthread_create(&c->thread, NULL, handler_main, c);
	if (ret)
		goto err_unregister;
	*out = c;
	return 0;

err_unregister:
	ioctl(c->uffd, UFFDIO_UNREGISTER, &(struct uffdio_range){ (uintptr_t)mem->host, mem->size });
err:
	free_cow(c);
	return ret;
}

void mem_cow__stop(struct mem_cow *c)
{
	struct uffdio_range all = { (uintptr_t)c->mem->host, c->mem->size };
	uint64_t one = 1;

	if (!c)
		return;
	atomic_store(&c->aborted, true);
	wp(c, 0, c->npages, false);
	ioctl(c->uffd, UFFDIO_UNREGISTER, &all);
	if (write(c->stopfd, &one, sizeof(one)) != sizeof(one)) {
		/* An eventfd write of 1 cannot fail short of overflow. */
	}
	pthread_join(c->thread, NULL);
	qb_log(LOG_NOTICE, "copy-on-write capture ends: %llu write faults took their pages' "
	       "copies first%s", (unsigned long long)atomic_load(&c->faults),
	       c->no_fault_copy ? " (the test hook let writers through: none was copied)" : "");
	free_cow(c);
}

/* The first page at or after pg set in b (below end), or end. */
static uint64_t next_set(const struct dirty_bitmap *b, uint64_t pg, uint64_t end)
{
	while (pg < end) {
		uint64_t w = b->bits[pg / 64] >> (pg % 64);

		if (w)
			return pg + (uint64_t)__builtin_ctzll(w) < end ?
			       pg + (uint64_t)__builtin_ctzll(w) : end;
		pg = (pg / 64 + 1) * 64;
	}
	return end;
}

static uint64_t run_end(const struct dirty_bitmap *b, uint64_t pg, uint64_t end, uint64_t max)
{
	uint64_t e = pg;

	while (e < end && e - pg < max && dirty_bitmap__test(b, e))
		e++;
	return e;
}

static uint64_t limit(const struct mem_cow *c, const struct dirty_bitmap *pages)
{
	return pages->nr_pages < c->npages ? pages->nr_pages : c->npages;
}

int mem_cow__protect(struct mem_cow *c, const struct dirty_bitmap *pages)
{
	uint64_t end = limit(c, pages), pg = next_set(pages, 0, end), e;
	int ret = 0;

	atomic_store(&c->pool_next, 0);
	atomic_store(&c->aborted, false);
	c->faults_at_protect = atomic_load(&c->faults);
	while (!ret && pg < end) {
		e = run_end(pages, pg, end, UINT64_MAX);
		for (uint64_t i = pg; i < e; i++)
			atomic_store(&c->state[i], PG_PROT);
		ret = wp(c, pg, e - pg, true);
		pg = next_set(pages, e, end);
	}
	if (ret)
		wp(c, 0, c->npages, false);
	return ret;
}

/* Copier: claim page pg, or wait for the handler's copy; true: read it from RAM. */
static bool take(struct mem_cow *c, uint64_t pg)
{
	/* HANDLER: being saved, or handed back (the pool is full) as PROT. */
	for (;;) {
		if (claim(c, pg, PG_COPIER))
			return true;
		if (atomic_load(&c->state[pg]) == PG_SAVED)
			return false;
		pause_us(5);
	}
}

/* Copier: pages [pg, e), claimed, to emit: RAM runs and pool runs. */
static int emit_run(struct mem_cow *c, uint64_t pg, uint64_t e, const bool *ram,
		    mem_cow_emit emit, void *arg)
{
	int ret = 0;

	for (uint64_t i = pg, j; !ret && i < e; i = j) {
		for (j = i + 1; j < e && ram[j - pg] == ram[i - pg] &&
		     (ram[i - pg] || c->slot[j] == c->slot[j - 1] + 1); j++)
			;
		ret = emit(arg, i * MEM_PAGE_SIZE, ram[i - pg] ?
			   c->mem->host + i * MEM_PAGE_SIZE : c->pool + c->slot[i] * MEM_PAGE_SIZE,
			   (uint32_t)(j - i));
	}
	return ret;
}

int mem_cow__copy(struct mem_cow *c, const struct dirty_bitmap *pages, uint32_t max_run,
		  mem_cow_emit emit, void *arg)
{
	uint64_t end = limit(c, pages), pg = next_set(pages, 0, end), e;
	bool *ram = malloc(max_run * sizeof(bool));
	int ret = ram ? 0 : -ENOMEM;

	/* Late: after two writes faulted (the guest ran on), or the delay at most. */
	for (long t = 0; t < c->copy_delay_us &&
	     atomic_load(&c->faults) < c->faults_at_protect + 2; t += 100)
		pause_us(100);
	while (!ret && pg < end) {
		e = run_end(pages, pg, end, max_run);
		for (uint64_t i = pg; i < e; i++)
			ram[i - pg] = take(c, i);
		ret = emit_run(c, pg, e, ram, emit, arg);
		if (!ret)
			ret = wp(c, pg, e - pg, false);
		for (uint64_t i = pg; i < e; i++)
			atomic_store(&c->state[i], PG_DONE);
		pg = next_set(pages, e, end);
	}
	free(ram);
	if (ret) {
		/* Nothing stays protected: writers must not wait for a copy that is not coming. */
		atomic_store(&c->aborted, true);
		wp(c, 0, c->npages, false);
	}
	return ret;
}
