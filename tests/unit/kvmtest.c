#include "config.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <openssl/evp.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "tests/unit/kvmtest.h"
#include "vmm/vcpu.h"
#include "vmm/virtio_blk.h"
#include "vmm/vm.h"

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
	snprintf(out, len, "%s/%s", dir ? dir : HASVC_TEST_BUILDDIR "/tests/guests", guest);
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

/* The whole log as a string, or NULL when it cannot be read yet. */
static char *slurp(const char *path)
{
	FILE *f = fopen(path, "re");
	char *buf = NULL;
	size_t len = 0;
	ssize_t n;

	if (!f)
		return NULL;
	n = getdelim(&buf, &len, '\0', f);
	fclose(f);
	if (n < 0) {
		free(buf);
		return NULL;
	}
	return buf;
}

/* Calls found(line, arg) on every whole line until it returns true. */
static bool scan(const char *path, bool (*found)(const char *, void *), void *arg)
{
	char *buf = slurp(path), *line, *nl;
	bool hit = false;

	for (line = buf; line && !hit && (nl = strchr(line, '\n')); line = nl + 1) {
		*nl = '\0';
		hit = found(line, arg);
	}
	free(buf);
	return hit;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* A watch on the log's writes, made before the first look at it. */
struct log_watch {
	int fd;
	double end;
};

static bool watch_start(struct log_watch *w, const char *path)
{
	const char *m = getenv("CK_TIMEOUT_MULTIPLIER");
	double scale = m && atof(m) > 1 ? atof(m) : 1;

	w->end = now_s() + 30 * scale;
	w->fd = inotify_init1(IN_CLOEXEC);
	if (w->fd >= 0 && inotify_add_watch(w->fd, path, IN_MODIFY) >= 0)
		return true;
	fprintf(stderr, "cannot watch %s: %s\n", path, strerror(errno));
	if (w->fd >= 0)
		close(w->fd);
	return false;
}

/* Until the log is written again: false when the time is up. */
static bool watch_next(struct log_watch *w)
{
	struct pollfd p = { .fd = w->fd, .events = POLLIN };
	char ev[4096];
	double left = w->end - now_s();

	if (left <= 0 || poll(&p, 1, (int)(left * 1000) + 1) <= 0)
		return false;
	return read(w->fd, ev, sizeof(ev)) > 0;
}

static bool has_prefix(const char *line, void *prefix)
{
	return !strncmp(line, prefix, strlen(prefix));
}

bool kvmtest__wait_line(const char *path, const char *prefix)
{
	struct log_watch w;
	bool hit = false;

	if (!watch_start(&w, path))
		return false;
	do
		hit = scan(path, has_prefix, (void *)prefix);
	while (!hit && watch_next(&w));
	close(w.fd);
	return hit;
}

static bool note_hb(const char *line, void *arg)
{
	struct kvmtest_hb *hb = arg;
	unsigned long long n, writes;

	if (sscanf(line, "hb %llu %llu", &n, &writes) == 2)
		*hb = (struct kvmtest_hb){ n, writes };
	return false;
}

void kvmtest__last_hb(const char *path, struct kvmtest_hb *hb)
{
	*hb = (struct kvmtest_hb){ 0, 0 };
	scan(path, note_hb, hb);
}

bool kvmtest__wait_hb(const char *path, uint64_t n, uint64_t writes, struct kvmtest_hb *hb)
{
	struct log_watch w;
	bool hit = false;

	if (!watch_start(&w, path))
		return false;
	do {
		kvmtest__last_hb(path, hb);
		hit = hb->n >= n && hb->writes >= writes;
	} while (!hit && watch_next(&w));
	close(w.fd);
	return hit;
}

void kvmtest__sleep_ms(unsigned ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

unsigned kvmtest__scaled_ms(unsigned ms)
{
	const char *v = getenv("HASVC_TIME_SCALE");
	char *end;
	unsigned long f = v ? strtoul(v, &end, 10) : 1;

	if (!v || *end || f < 1 || f > 100)
		f = 1;
	return ms * (unsigned)f;
}

int kvmtest__vm_state(struct vm *vm)
{
	enum vm_state s;

	pthread_mutex_lock(&vm->lock);
	s = vm->state;
	pthread_mutex_unlock(&vm->lock);
	return (int)s;
}

void kvmtest__fingerprint(struct vm *vm, unsigned char out[32])
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	uint8_t disk[32];
	unsigned len;

	EVP_DigestInit_ex(md, EVP_sha256(), NULL);
	EVP_DigestUpdate(md, vm->mem.host, vm->mem.size);
	if (vm->blk) {
		ck_assert_int_eq(virtio_blk__digest(vm->blk, disk), 0);
		EVP_DigestUpdate(md, disk, sizeof(disk));
	}
	for (unsigned i = 0; i < vm->nr_vcpus; i++) {
		struct kvm_regs r;
		struct kvm_sregs sr;

		ck_assert_int_eq(ioctl(vm->vcpus[i].fd, KVM_GET_REGS, &r), 0);
		ck_assert_int_eq(ioctl(vm->vcpus[i].fd, KVM_GET_SREGS, &sr), 0);
		EVP_DigestUpdate(md, &r, sizeof(r));
		EVP_DigestUpdate(md, &sr, sizeof(sr));
	}
	EVP_DigestFinal_ex(md, out, &len);
	EVP_MD_CTX_free(md);
}
