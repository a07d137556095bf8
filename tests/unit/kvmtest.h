/* Shared by the unit tests that boot a test guest on /dev/kvm. */
#ifndef TESTS_UNIT_KVMTEST_H
#define TESTS_UNIT_KVMTEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * 0 when /dev/kvm is usable and the guest GUEST ($GUESTS/GUEST, or
 * tests/guests/GUEST) exists, with its path in out; otherwise says why on
 * stderr (prefixed with test) and returns 77, the skip status.
 */
int kvmtest__need_guest(const char *test, const char *guest, char *out, size_t len);

/*
 * The serial log of a guest (vm_config.serial = file:PATH), read while the
 * guest runs: waits poll the file until the line is there, for at most
 * 30 s times CK_TIMEOUT_MULTIPLIER (the slow emulated runs set it), and
 * return false when it never came.  Only whole lines count.
 */
bool kvmtest__wait_line(const char *path, const char *prefix);

/* The dirty guest's heartbeat "hb N WRITES CSUM" (tests/guests/dirty.c). */
struct kvmtest_hb {
	uint64_t n, writes;
};

/* The last heartbeat in the log; n is 0 when there is none yet. */
void kvmtest__last_hb(const char *path, struct kvmtest_hb *hb);

/* Wait for a heartbeat numbered at least n with at least writes writes. */
bool kvmtest__wait_hb(const char *path, uint64_t n, uint64_t writes, struct kvmtest_hb *hb);

struct Suite;
struct vm;

/* Sleep ms milliseconds. */
void kvmtest__sleep_ms(unsigned ms);
/* ms times HASVC_TIME_SCALE (the nested VM's slowness factor; 1 unset). */
unsigned kvmtest__scaled_ms(unsigned ms);
/* The VM's state (enum vm_state), read under its lock. */
int kvmtest__vm_state(struct vm *vm);
/*
 * SHA-256 of what a refused or undone load must leave as it was: RAM,
 * every vCPU's registers and special registers, the disk image if any.
 */
void kvmtest__fingerprint(struct vm *vm, unsigned char out[32]);

/*
 * A test program's main: skip (77) like kvmtest__need_guest, else run the
 * suite and return EXIT_SUCCESS or EXIT_FAILURE.
 */
int kvmtest__main(const char *test, const char *guest, char *out, size_t len,
		  struct Suite *(*suite)(void));

#endif
