/*
 * A small AML writer: the few ACPI Machine Language terms the vmm's DSDT
 * needs (names, scopes, devices, integers, strings, packages, buffers and
 * resource templates), into a growing byte buffer.  Only data, no methods:
 * every device describes itself with _HID, _UID and _CRS.
 */
#ifndef VMM_ACPI_AML_H
#define VMM_ACPI_AML_H

#include <stddef.h>
#include <stdint.h>

#define AML_MAX_DEPTH 8

struct aml {
	uint8_t *buf;
	size_t len, cap;
	size_t open[AML_MAX_DEPTH]; /* where each open package's contents start */
	unsigned depth;
	int err;                    /* the first error; later calls do nothing */
};

void acpi_aml__init(struct aml *a);
void acpi_aml__free(struct aml *a);
/* 0 and the bytes, or the first error (-ENOMEM, -EINVAL for bad nesting or names). */
int acpi_aml__finish(struct aml *a);

void acpi_aml__bytes(struct aml *a, const void *p, size_t n);
/* A NameString: "NAME", "\\_SB_" or "\\_SB_.COM1" (segments padded with '_'). */
void acpi_aml__name_string(struct aml *a, const char *path);
void acpi_aml__integer(struct aml *a, uint64_t v);
void acpi_aml__string(struct aml *a, const char *s);
/* The compressed EISA id of "PNP0501" and the like, as an integer. */
void acpi_aml__eisa_id(struct aml *a, const char *id);

/* Name (NAME, ...): the value follows. */
void acpi_aml__name(struct aml *a, const char *name);
/* Scope, Device, Package (n elements), Buffer: contents follow, then acpi_aml__end. */
void acpi_aml__scope(struct aml *a, const char *path);
void acpi_aml__device(struct aml *a, const char *name);
void acpi_aml__package(struct aml *a, uint8_t nr_elements);
void acpi_aml__buffer(struct aml *a);
void acpi_aml__end(struct aml *a);

/* Resource descriptors, inside acpi_aml__buffer ... acpi_aml__end_resources. */
void acpi_aml__res_io(struct aml *a, uint16_t port, uint8_t len);
void acpi_aml__res_irq_noflags(struct aml *a, unsigned irq);
void acpi_aml__res_mem32_fixed(struct aml *a, uint32_t base, uint32_t len);
void acpi_aml__res_interrupt_level_high(struct aml *a, uint32_t gsi);
/* The end tag, then closes the buffer. */
void acpi_aml__end_resources(struct aml *a);

/*
 * Decode a PkgLength at p (at most n bytes): its value in *value, the bytes
 * it takes as the return value, 0 when malformed.  For readers (tests).
 */
size_t acpi_aml__pkg_length_decode(const uint8_t *p, size_t n, size_t *value);

#endif
