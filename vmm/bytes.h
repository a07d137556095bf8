/*
 * Little-endian stores and the 8-bit checksum of firmware tables (MP,
 * ACPI), which the vmm builds in byte buffers rather than packed structs.
 */
#ifndef VMM_BYTES_H
#define VMM_BYTES_H

#include <stddef.h>
#include <stdint.h>

static inline void bytes__put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static inline void bytes__put32(uint8_t *p, uint32_t v)
{
	bytes__put16(p, (uint16_t)v);
	bytes__put16(p + 2, (uint16_t)(v >> 16));
}

static inline void bytes__put64(uint8_t *p, uint64_t v)
{
	bytes__put32(p, (uint32_t)v);
	bytes__put32(p + 4, (uint32_t)(v >> 32));
}

/* The byte that makes the sum of [p, p + len) zero, checksum byte included. */
static inline uint8_t bytes__checksum(const uint8_t *p, size_t len)
{
	uint8_t sum = 0;

	while (len--)
		sum = (uint8_t)(sum + *p++);
	return (uint8_t)-sum;
}

#endif
