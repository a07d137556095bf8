/*
 * Durations written by operators in milliseconds, whole or with up to three
 * decimals ("1", "0.25"): one reading for `vmm ctl` and hasvc.conf.
 */
#ifndef VMM_DURATION_H
#define VMM_DURATION_H

#include <stdint.h>

/* s as microseconds; -EINVAL for anything else (signs, spaces, 4 decimals, overflow). */
int duration__ms_to_us(const char *s, uint64_t *us);

#endif
