/*
 * Strict on purpose, as hasvc.conf's other values: "0.2x" or "1e3" is an
 * error naming the value, never half read (strtod would take both).
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>

#include "vmm/duration.h"

#define US_PER_MS 1000u

int duration__ms_to_us(const char *s, uint64_t *us)
{
	uint64_t whole = 0, frac = 0, scale = US_PER_MS;
	const char *p = s;

	if (!isdigit((unsigned char)*p))
		return -EINVAL;
	for (; isdigit((unsigned char)*p); p++) {
		if (whole > (UINT64_MAX / US_PER_MS - 9) / 10)
			return -EINVAL;
		whole = whole * 10 + (uint64_t)(*p - '0');
	}
	if (*p == '.') {
		p++;
		if (!isdigit((unsigned char)*p))
			return -EINVAL;
		for (; isdigit((unsigned char)*p); p++) {
			if (scale == 1)
				return -EINVAL;   /* below a microsecond */
			scale /= 10;
			frac += (uint64_t)(*p - '0') * scale;
		}
	}
	if (*p)
		return -EINVAL;
	*us = whole * US_PER_MS + frac;
	return 0;
}
