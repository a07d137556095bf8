/*
 * The CMOS RTC (vmm/rtc.h).  The time registers are computed from the
 * host's clock on every read, so the guest's date never drifts from the
 * host's; while register B's SET bit is on, the guest writes a new time
 * into the registers and clearing SET turns it into an offset.
 */
#include "config.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "vmm/acpi.h"
#include "vmm/iotrap.h"
#include "vmm/rtc.h"
#include "vmm/vm.h"

enum {
	REG_SEC = 0x00, REG_MIN = 0x02, REG_HOUR = 0x04, REG_WDAY = 0x06, REG_MDAY = 0x07,
	REG_MON = 0x08, REG_YEAR = 0x09, REG_A = 0x0a, REG_B = 0x0b, REG_C = 0x0c,
	REG_D = 0x0d, REG_CENTURY = ACPI_RTC_CENTURY_REG,
};

#define A_UIP 0x80
#define A_DEFAULT 0x26 /* 32.768 kHz time base, 1024 Hz rate */
#define B_SET 0x80
#define B_DM_BINARY 0x04
#define B_24H 0x02
#define B_DEFAULT B_24H
#define D_VRT 0x80
#define HOUR_PM 0x80
#define INDEX_MASK 0x7f /* bit 7 of the index port masks NMIs: ignored */

static bool is_time_reg(uint8_t r)
{
	return r == REG_SEC || r == REG_MIN || r == REG_HOUR || r == REG_WDAY ||
	       r == REG_MDAY || r == REG_MON || r == REG_YEAR || r == REG_CENTURY;
}

static uint8_t to_reg(const struct rtc *rtc, unsigned v)
{
	return rtc->ram[REG_B] & B_DM_BINARY ? (uint8_t)v : (uint8_t)((v / 10) << 4 | v % 10);
}

static unsigned from_reg(const struct rtc *rtc, uint8_t v)
{
	return rtc->ram[REG_B] & B_DM_BINARY ? v : (unsigned)(v >> 4) * 10 + (v & 0xf);
}

static uint8_t hour_to_reg(const struct rtc *rtc, unsigned h)
{
	unsigned h12;

	if (rtc->ram[REG_B] & B_24H)
		return to_reg(rtc, h);
	h12 = h % 12 ? h % 12 : 12;
	return (uint8_t)(to_reg(rtc, h12) | (h >= 12 ? HOUR_PM : 0));
}

static unsigned hour_from_reg(const struct rtc *rtc, uint8_t v)
{
	unsigned h;

	if (rtc->ram[REG_B] & B_24H)
		return from_reg(rtc, v);
	h = from_reg(rtc, v & ~HOUR_PM) % 12;
	return v & HOUR_PM ? h + 12 : h;
}

/* Fill the time registers from the guest's current time. */
static void load_time(struct rtc *rtc)
{
	time_t t = (time_t)(rtc->now() + rtc->offset);
	struct tm tm;

	gmtime_r(&t, &tm);
	rtc->ram[REG_SEC] = to_reg(rtc, (unsigned)tm.tm_sec);
	rtc->ram[REG_MIN] = to_reg(rtc, (unsigned)tm.tm_min);
	rtc->ram[REG_HOUR] = hour_to_reg(rtc, (unsigned)tm.tm_hour);
	rtc->ram[REG_WDAY] = to_reg(rtc, (unsigned)tm.tm_wday + 1);
	rtc->ram[REG_MDAY] = to_reg(rtc, (unsigned)tm.tm_mday);
	rtc->ram[REG_MON] = to_reg(rtc, (unsigned)tm.tm_mon + 1);
	rtc->ram[REG_YEAR] = to_reg(rtc, (unsigned)(tm.tm_year + 1900) % 100);
	rtc->ram[REG_CENTURY] = to_reg(rtc, (unsigned)(tm.tm_year + 1900) / 100);
}

/* The registers the guest wrote become the guest's time: keep the offset. */
static void store_time(struct rtc *rtc)
{
	struct tm tm = {
		.tm_sec = (int)from_reg(rtc, rtc->ram[REG_SEC]),
		.tm_min = (int)from_reg(rtc, rtc->ram[REG_MIN]),
		.tm_hour = (int)hour_from_reg(rtc, rtc->ram[REG_HOUR]),
		.tm_mday = (int)from_reg(rtc, rtc->ram[REG_MDAY]),
		.tm_mon = (int)from_reg(rtc, rtc->ram[REG_MON]) - 1,
		.tm_year = (int)(from_reg(rtc, rtc->ram[REG_CENTURY]) * 100 +
				 from_reg(rtc, rtc->ram[REG_YEAR])) - 1900,
	};
	time_t t = timegm(&tm);

	if (t != (time_t)-1)
		rtc->offset = (int64_t)t - (int64_t)rtc->now();
}

static uint8_t read_reg(struct rtc *rtc, uint8_t r)
{
	uint8_t v;

	if (is_time_reg(r) && !(rtc->ram[REG_B] & B_SET))
		load_time(rtc);
	switch (r) {
	case REG_A:
		return rtc->ram[REG_A] & ~A_UIP; /* never mid-update: every read is consistent */
	case REG_C:
		v = rtc->ram[REG_C];
		rtc->ram[REG_C] = 0;
		return v;
	case REG_D:
		return D_VRT;
	default:
		return rtc->ram[r];
	}
}

static void write_reg(struct rtc *rtc, uint8_t r, uint8_t v)
{
	bool was_set = rtc->ram[REG_B] & B_SET;

	switch (r) {
	case REG_A:
		rtc->ram[REG_A] = v & ~A_UIP;
		return;
	case REG_B:
		/* Entering set mode freezes the time the guest is about to change. */
		if (!was_set && (v & B_SET))
			load_time(rtc);
		rtc->ram[REG_B] = v;
		if (was_set && !(v & B_SET))
			store_time(rtc);
		return;
	case REG_C:
	case REG_D:
		return; /* read-only */
	default:
		if (is_time_reg(r) && !was_set) {
			load_time(rtc);
			rtc->ram[r] = v;
			store_time(rtc);
			return;
		}
		rtc->ram[r] = v;
	}
}

void rtc__io(struct rtc *rtc, uint16_t port, uint8_t *data, int is_write)
{
	pthread_mutex_lock(&rtc->lock);
	if (port == RTC_PORT) {
		if (is_write)
			rtc->index = *data & INDEX_MASK;
		else
			*data = rtc->index;
	} else if (is_write) {
		write_reg(rtc, rtc->index, *data);
	} else {
		*data = read_reg(rtc, rtc->index);
	}
	pthread_mutex_unlock(&rtc->lock);
}

static void rtc_io(struct vcpu *vcpu, uint64_t addr, uint8_t *data, uint32_t len,
		   bool is_write, void *opaque)
{
	/* Byte registers: a wider access touches only its first byte. */
	if (!is_write)
		memset(data, 0xff, len);
	rtc__io(opaque, (uint16_t)addr, data, is_write);
}

void rtc__save(struct rtc *rtc, Vmm__State__RtcState *st, uint8_t *cmos)
{
	vmm__state__rtc_state__init(st);
	pthread_mutex_lock(&rtc->lock);
	memcpy(cmos, rtc->ram, RTC_NR_REGS);
	st->index = rtc->index;
	st->offset = rtc->offset;
	pthread_mutex_unlock(&rtc->lock);
	st->cmos = (ProtobufCBinaryData){ RTC_NR_REGS, cmos };
}

int rtc__load(struct rtc *rtc, const Vmm__State__RtcState *st)
{
	if (st->cmos.len != RTC_NR_REGS || st->index >= RTC_NR_REGS)
		return -EINVAL;
	pthread_mutex_lock(&rtc->lock);
	memcpy(rtc->ram, st->cmos.data, RTC_NR_REGS);
	rtc->index = (uint8_t)st->index;
	rtc->offset = st->offset;
	pthread_mutex_unlock(&rtc->lock);
	return 0;
}

static time_t host_now(void)
{
	return time(NULL);
}

void rtc__reset(struct rtc *rtc)
{
	if (!rtc)
		return;
	pthread_mutex_lock(&rtc->lock);
	/* The CMOS is battery-backed: RAM and the offset survive a reset. */
	rtc->index = 0;
	rtc->ram[REG_A] = A_DEFAULT;
	rtc->ram[REG_B] = B_DEFAULT;
	rtc->ram[REG_C] = 0;
	pthread_mutex_unlock(&rtc->lock);
}

int rtc__create(struct rtc **out, struct vm *vm)
{
	struct rtc *rtc = calloc(1, sizeof(*rtc));
	int ret;

	if (!rtc)
		return -ENOMEM;
	pthread_mutex_init(&rtc->lock, NULL);
	rtc->now = host_now;
	rtc__reset(rtc);
	ret = vm ? iotrap__register(&vm->io, IOTRAP_PIO, RTC_PORT, 2, rtc_io, rtc) : 0;
	if (ret) {
		rtc__destroy(rtc);
		return ret;
	}
	*out = rtc;
	return 0;
}

void rtc__destroy(struct rtc *rtc)
{
	if (!rtc)
		return;
	pthread_mutex_destroy(&rtc->lock);
	free(rtc);
}
