/*
 * The PC's CMOS real-time clock (MC146818) at ports 0x70/0x71: the guest's
 * date is the host's (UTC) plus whatever offset the guest sets, in BCD or
 * binary and 12- or 24-hour form as register B asks; 128 bytes of CMOS
 * RAM.  No alarm, periodic or update interrupts (IRQ 8 stays low).
 */
#ifndef VMM_RTC_H
#define VMM_RTC_H

#include <pthread.h>
#include <stdint.h>
#include <time.h>

#include "vmm/state.pb-c.h"

struct vm;

#define RTC_PORT 0x70
#define RTC_NR_REGS 128

struct rtc {
	pthread_mutex_t lock;
	uint8_t index;
	uint8_t ram[RTC_NR_REGS]; /* the time registers hold the set-mode copy */
	int64_t offset;           /* guest time - host time, seconds */
	time_t (*now)(void);      /* the host's clock (tests replace it) */
};

int rtc__create(struct rtc **out, struct vm *vm);
void rtc__destroy(struct rtc *rtc);
void rtc__reset(struct rtc *rtc);

/* Port I/O on 0x70 (index) and 0x71 (data), for the trap and for tests. */
void rtc__io(struct rtc *rtc, uint16_t port, uint8_t *data, int is_write);

/*
 * Save/restore (vmm/vm_state.c).  rtc__save points st->cmos at cmos, which
 * must hold RTC_NR_REGS bytes and outlive st.  rtc__load refuses (-EINVAL)
 * a record of the wrong size or with an index out of range.
 */
void rtc__save(struct rtc *rtc, Vmm__State__RtcState *st, uint8_t *cmos);
int rtc__load(struct rtc *rtc, const Vmm__State__RtcState *st);

#endif
