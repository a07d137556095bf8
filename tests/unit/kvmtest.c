#include "config.h"

#include <check.h>
#include <sys/ioctl.h>
#include <linux/kvm.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
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
	snprintf(out, len, "%s/%s", dir ? dir : "tests/guests", guest);
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

void kvmtest__sleep_ms(unsigned ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
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
