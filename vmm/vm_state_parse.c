/*
 * Parse and verify a state stream held in memory.  Pure (no KVM, no VM, no
 * logging): this is what tests/fuzz/fuzz_state.c drives.  Every length comes
 * from the input and is checked against what is left before it is used.
 *
 * Three passes, so that the error names the first real problem: the framing
 * (a truncated stream says "truncated", not "bad digest"), then the digest
 * (nothing is decoded from a corrupt stream), then every record.
 */
#include "config.h"

#include <errno.h>
#include <linux/kvm.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/evp.h>

#include "vmm/stream.h"
#include "vmm/vcpu_state.h"
#include "vmm/vm_state.h"

#define MIN_MEM (2ULL << 20)
#define MAX_MEM (1ULL << 44)         /* 16 TiB: beyond any VM we make */
#define MAX_MSRS 16384
#define MAX_XSAVE (1u << 20)
#define IRQCHIP_DATA_LEN 512         /* the union in struct kvm_irqchip */

#define FAIL(msg)                      \
	do {                           \
		*err = (msg);          \
		return -EBADMSG;       \
	} while (0)

int vm_state__check_prelude(const uint8_t *buf, size_t len, const char **err)
{
	if (len < STREAM_MAGIC_LEN || memcmp(buf, STREAM_MAGIC, STREAM_MAGIC_LEN))
		FAIL("not a VM state stream (bad magic)");
	if (len < STREAM_PRELUDE_LEN)
		FAIL("the state stream is truncated (in its prelude)");
	if (stream__get_le16(buf + 8) > VM_STATE_MAJOR)
		FAIL("the state stream has a newer major format version than this vmm reads "
		     "(written by an incompatible vmm)");
	if (stream__get_le16(buf + 8) < VM_STATE_MAJOR)
		FAIL("the state stream has an older major format version that this vmm no "
		     "longer reads");
	if (stream__get_le32(buf + 12) != 0)
		FAIL("the state stream uses prelude flags this vmm does not know");
	return 0;
}

/* Pass 1: every frame inside the buffer, and the end frame exactly last. */
static int check_framing(const uint8_t *buf, size_t len, const char **err)
{
	size_t off = STREAM_PRELUDE_LEN;

	for (;;) {
		uint32_t type, flen;

		if (len - off < STREAM_FRAME_HDR_LEN)
			FAIL("the state stream is truncated (no end frame)");
		stream__get_frame_hdr(buf + off, &type, &flen);
		switch (stream__check_frame(STREAM_KIND_STATE, type, flen)) {
		case 0:
			break;
		case -ENOMSG:
			FAIL("the state stream has a frame of unknown type");
		default:
			FAIL("the state stream has a frame longer than its type allows");
		}
		if (flen > len - off - STREAM_FRAME_HDR_LEN)
			FAIL("the state stream is truncated (inside a frame)");
		off += STREAM_FRAME_HDR_LEN + flen;
		if (type == STREAM_FRAME_END) {
			if (flen != STREAM_DIGEST_LEN)
				FAIL("the state stream's end frame has a bad length");
			if (off != len)
				FAIL("the state stream has bytes after its end frame");
			return 0;
		}
	}
}

/* Pass 2: the SHA-256 of everything before the digest itself. */
static int check_digest(const uint8_t *buf, size_t len, const char **err)
{
	uint8_t md[EVP_MAX_MD_SIZE];
	unsigned mdlen = 0;

	if (EVP_Digest(buf, len - STREAM_DIGEST_LEN, md, &mdlen, EVP_sha256(), NULL) != 1 ||
	    mdlen != STREAM_DIGEST_LEN) {
		*err = "cannot compute SHA-256";
		return -EIO;
	}
	if (memcmp(md, buf + len - STREAM_DIGEST_LEN, STREAM_DIGEST_LEN))
		FAIL("the state stream is corrupt (SHA-256 mismatch)");
	return 0;
}

static int check_sregs(const Vmm__State__Sregs *m, const char **err)
{
	if (!m || !m->cs || !m->ds || !m->es || !m->fs || !m->gs || !m->ss || !m->tr ||
	    !m->ldt || !m->gdt || !m->idt)
		FAIL("a vCPU record lacks segment registers");
	if ((m->n_interrupt_bitmap != 0 && m->n_interrupt_bitmap != 4) ||
	    m->n_pdptrs != (m->pdptrs_valid ? 4u : 0u))
		FAIL("a vCPU record has malformed special registers");
	return 0;
}

static int check_vcpu(const Vmm__State__VcpuState *st, uint32_t instance, const char **err)
{
	if (st->id != instance)
		FAIL("a vCPU record's id differs from its envelope");
	if (!st->regs)
		FAIL("a vCPU record lacks registers");
	if (check_sregs(st->sregs, err))
		return -EBADMSG;
	if (st->xsave.len) {
		if (st->xsave.len < sizeof(struct kvm_xsave) || st->xsave.len > MAX_XSAVE)
			FAIL("a vCPU record's XSAVE area has a bad size");
	} else if (st->fpu.len != sizeof(struct kvm_fpu)) {
		FAIL("a vCPU record has neither an XSAVE nor an FPU area");
	}
	if (st->n_xcrs > KVM_MAX_XCRS)
		FAIL("a vCPU record has too many XCRs");
	if (st->debugregs && st->debugregs->n_db != 4)
		FAIL("a vCPU record's debug registers are malformed");
	if (st->lapic.len && st->lapic.len != sizeof(struct kvm_lapic_state))
		FAIL("a vCPU record's LAPIC state has a bad size");
	if (st->n_msrs > MAX_MSRS || st->n_msrs_unreadable > MAX_MSRS)
		FAIL("a vCPU record has too many MSRs");
	if (st->mp_state > 255)
		FAIL("a vCPU record has an impossible MP state");
	return 0;
}

static int check_irqchip(const Vmm__State__IrqchipState *m, const char **err)
{
	unsigned seen = 0;

	if (m->n_chips > 3)
		FAIL("the irqchip record has too many chips");
	for (size_t i = 0; i < m->n_chips; i++) {
		if (m->chips[i]->id > 2 || (seen & (1u << m->chips[i]->id)))
			FAIL("the irqchip record has a bad or repeated chip id");
		seen |= 1u << m->chips[i]->id;
		if (m->chips[i]->data.len != IRQCHIP_DATA_LEN)
			FAIL("the irqchip record has a chip of the wrong size");
	}
	return 0;
}

static int check_platform(const struct vm_state_parsed *p, const char **err)
{
	if (p->rtc && (p->rtc->cmos.len != VM_STATE_RTC_CMOS_LEN ||
		       p->rtc->index >= VM_STATE_RTC_CMOS_LEN))
		FAIL("the rtc record does not hold 128 CMOS bytes and an index below 128");
	if (p->rtc &&
	    (p->rtc->offset > VM_STATE_RTC_OFFSET_MAX || p->rtc->offset < -VM_STATE_RTC_OFFSET_MAX))
		FAIL("the rtc record's offset from the host's time is out of range");
	if (p->acpi_pm && (p->acpi_pm->sts | p->acpi_pm->en | p->acpi_pm->cnt) > 0xffff)
		FAIL("the acpi_pm record has a register wider than 16 bits");
	return 0;
}

static int check_serial(const Vmm__State__SerialState *m, const char **err)
{
	if (m->rx.len > VM_STATE_SERIAL_RX_MAX || m->tx.len > VM_STATE_SERIAL_TX_MAX)
		FAIL("the serial record holds more bytes than the UART buffers");
	if ((m->ier | m->lcr | m->mcr | m->scr | m->fcr | m->dll | m->dlm) > 0xff)
		FAIL("the serial record has a register out of range");
	return 0;
}

/* A virtio-mmio transport with exactly nr_queues queues, each possible. */
static int check_transport(const Vmm__State__VirtioMmioState *t, size_t nr_queues,
			   const char **err)
{
	if (!t || t->n_queues != nr_queues)
		FAIL("a virtio record lacks its transport or has the wrong number of queues");
	if (t->status > 0xff || t->interrupt_status > 3)
		FAIL("a virtio record has an impossible status");
	for (size_t i = 0; i < t->n_queues; i++) {
		const Vmm__State__VirtqState *q = t->queues[i];

		/* A ready queue's rings are checked against RAM when loaded. */
		if (q->size > VM_STATE_VIRTQ_MAX || q->last_avail > 0xffff ||
		    q->used_idx > 0xffff || (q->ready && (!q->size || (q->size & (q->size - 1)))))
			FAIL("a virtio record has an impossible queue");
	}
	return 0;
}

static int check_virtio_blk(const Vmm__State__VirtioBlkState *m, const char **err)
{
	return check_transport(m->transport, 1, err);
}

static int check_virtio_net(const Vmm__State__VirtioNetState *m, const char **err)
{
	if (m->mac.len != 6)
		FAIL("the virtio_net record's MAC is not 6 bytes");
	return check_transport(m->transport, 2, err);
}

static int take_header(struct vm_state_parsed *p, const Vmm__State__Record *r,
		       const char **err)
{
	Vmm__State__Header *h;

	if (r->version != VM_STATE_HEADER_VERSION)
		FAIL("the state stream's header record has a version this vmm cannot read");
	h = vmm__state__header__unpack(NULL, r->payload.len, r->payload.data);
	if (!h)
		FAIL("the state stream's header record does not decode");
	p->header = h;
	if (h->mem_size < MIN_MEM || h->mem_size > MAX_MEM || h->mem_size % STREAM_PAGE_SIZE)
		FAIL("the state stream's header has an impossible memory size");
	if (h->nr_vcpus < 1 || h->nr_vcpus > VM_STATE_MAX_VCPUS)
		FAIL("the state stream's header has an impossible vCPU count");
	p->vcpus = calloc(h->nr_vcpus, sizeof(*p->vcpus));
	if (!p->vcpus) {
		*err = "out of memory";
		return -ENOMEM;
	}
	return 0;
}

/* Decode r's payload into *slot (once); desc names the message type. */
static int take_once(void **slot, const ProtobufCMessageDescriptor *desc,
		     const Vmm__State__Record *r, uint32_t version, const char **err)
{
	if (r->version != version)
		FAIL("the state stream has a record version this vmm cannot read");
	if (*slot)
		FAIL("the state stream repeats a record");
	*slot = protobuf_c_message_unpack(desc, NULL, r->payload.len, r->payload.data);
	if (!*slot)
		FAIL("a record of the state stream does not decode");
	return 0;
}

static int take_record(struct vm_state_parsed *p, const Vmm__State__Record *r,
		       const char **err)
{
	const char *n = r->name;

	if (!p->header) {
		if (strcmp(n, "header"))
			FAIL("the state stream does not start with its header record");
		return take_header(p, r, err);
	}
	if (!strcmp(n, "header"))
		FAIL("the state stream repeats its header record");
	if (!strcmp(n, "vcpu")) {
		if (r->version != VCPU_STATE_VERSION)
			FAIL("the state stream has a vCPU record version this vmm cannot read");
		if (r->instance >= p->header->nr_vcpus || p->vcpus[r->instance])
			FAIL("the state stream has a bad or repeated vCPU record");
		p->vcpus[r->instance] = vmm__state__vcpu_state__unpack(NULL, r->payload.len,
									r->payload.data);
		if (!p->vcpus[r->instance])
			FAIL("a vCPU record does not decode");
		return check_vcpu(p->vcpus[r->instance], r->instance, err);
	}
	if (!strcmp(n, "irqchip"))
		return take_once((void **)&p->irqchip, &vmm__state__irqchip_state__descriptor, r,
				 VM_STATE_IRQCHIP_VERSION, err) ?: check_irqchip(p->irqchip, err);
	if (!strcmp(n, "pit")) {
		if (take_once((void **)&p->pit, &vmm__state__pit_state__descriptor, r,
			      VM_STATE_PIT_VERSION, err))
			return -EBADMSG;
		if (p->pit->n_channels != 3)
			FAIL("the PIT record does not have 3 channels");
		return 0;
	}
	if (!strcmp(n, "clock"))
		return take_once((void **)&p->clock, &vmm__state__clock_state__descriptor, r,
				 VM_STATE_CLOCK_VERSION, err);
	if (!strcmp(n, "serial"))
		return take_once((void **)&p->serial, &vmm__state__serial_state__descriptor, r,
				 VM_STATE_SERIAL_VERSION, err) ?: check_serial(p->serial, err);
	if (!strcmp(n, "rtc"))
		return take_once((void **)&p->rtc, &vmm__state__rtc_state__descriptor, r,
				 VM_STATE_RTC_VERSION, err) ?: check_platform(p, err);
	if (!strcmp(n, "acpi_pm"))
		return take_once((void **)&p->acpi_pm, &vmm__state__acpi_pm_state__descriptor, r,
				 VM_STATE_ACPI_PM_VERSION, err) ?: check_platform(p, err);
	if (!strcmp(n, "virtio_blk"))
		return take_once((void **)&p->virtio_blk, &vmm__state__virtio_blk_state__descriptor,
				 r, VM_STATE_VIRTIO_BLK_VERSION, err) ?:
		       check_virtio_blk(p->virtio_blk, err);
	if (!strcmp(n, "virtio_net"))
		return take_once((void **)&p->virtio_net, &vmm__state__virtio_net_state__descriptor,
				 r, VM_STATE_VIRTIO_NET_VERSION, err) ?:
		       check_virtio_net(p->virtio_net, err);
	/* A newer minor version's record: ours to ignore (docs/state-format.md). */
	p->nr_skipped++;
	return 0;
}

static int take_pages(struct vm_state_parsed *p, const uint8_t *f, size_t flen,
		      const char **err)
{
	Vmm__State__PageRange *r;
	uint32_t hlen;
	uint64_t offset, bytes, prev_end = 0;
	uint32_t npages;

	if (!p->header)
		FAIL("the state stream has pages before its header record");
	if (stream__batch_split(f, flen, STREAM_BATCH_HDR_MAX, &hlen))
		FAIL("a page frame of the state stream is malformed");
	r = vmm__state__page_range__unpack(NULL, hlen, f + 4);
	if (!r)
		FAIL("a page frame header does not decode");
	offset = r->offset;
	npages = r->npages;
	vmm__state__page_range__free_unpacked(r, NULL);
	bytes = (uint64_t)npages * STREAM_PAGE_SIZE;
	if (npages < 1 || npages > STREAM_BATCH_PAGES || bytes != flen - 4 - hlen)
		FAIL("a page frame's length does not match its page count");
	if (offset % STREAM_PAGE_SIZE || offset > p->header->mem_size ||
	    bytes > p->header->mem_size - offset)
		FAIL("a page frame lies outside the VM's memory");
	if (p->nr_pages_frames) {
		const struct vm_state_pages *last = &p->pages[p->nr_pages_frames - 1];

		prev_end = last->offset + (uint64_t)last->npages * STREAM_PAGE_SIZE;
	}
	if (p->nr_pages_frames && offset < prev_end)
		FAIL("the state stream's page frames overlap or are out of order");
	if (p->nr_pages_frames == p->cap_pages_frames) {
		size_t cap = p->cap_pages_frames ? p->cap_pages_frames * 2 : 64;
		struct vm_state_pages *np = realloc(p->pages, cap * sizeof(*np));

		if (!np) {
			*err = "out of memory";
			return -ENOMEM;
		}
		p->pages = np;
		p->cap_pages_frames = cap;
	}
	p->pages[p->nr_pages_frames++] = (struct vm_state_pages){
		.offset = offset, .npages = npages, .data = f + 4 + hlen };
	p->nr_pages += npages;
	return 0;
}

/*
 * A disk frame: inside the image the virtio_blk record describes (which
 * comes first), block-aligned, a whole number of sectors, in ascending
 * order without overlap.  The image itself must match that record
 * (vm_state__check_devices) before any of it is written.
 */
static int take_disk(struct vm_state_parsed *p, const uint8_t *f, size_t flen,
		     const char **err)
{
	Vmm__State__DiskRange *r;
	uint64_t size, offset, prev_end = 0;
	uint32_t hlen, length;
	bool zero;

	if (!p->virtio_blk)
		FAIL("the state stream has disk frames but no virtio_blk record before them");
	if (stream__batch_split(f, flen, STREAM_BATCH_HDR_MAX, &hlen))
		FAIL("a disk frame of the state stream is malformed");
	r = vmm__state__disk_range__unpack(NULL, hlen, f + 4);
	if (!r)
		FAIL("a disk frame header does not decode");
	offset = r->offset;
	length = r->length;
	zero = r->zero;
	vmm__state__disk_range__free_unpacked(r, NULL);
	size = p->virtio_blk->capacity * 512;
	switch (stream__check_disk_range(offset, length, zero, flen - 4 - hlen, size,
					 STREAM_DISK_MAX)) {
	case -EMSGSIZE:
		FAIL("a disk frame's length does not match its range");
	case -ERANGE:
		FAIL("a disk frame lies outside the disk image");
	}
	if (p->nr_disk)
		prev_end = p->disk[p->nr_disk - 1].offset + p->disk[p->nr_disk - 1].length;
	if (p->nr_disk && offset < prev_end)
		FAIL("the state stream's disk frames overlap or are out of order");
	if (p->nr_disk == p->cap_disk) {
		size_t cap = p->cap_disk ? p->cap_disk * 2 : 64;
		struct vm_state_disk *nd = realloc(p->disk, cap * sizeof(*nd));

		if (!nd) {
			*err = "out of memory";
			return -ENOMEM;
		}
		p->disk = nd;
		p->cap_disk = cap;
	}
	p->disk[p->nr_disk++] = (struct vm_state_disk){
		.offset = offset, .length = length, .data = zero ? NULL : f + 4 + hlen };
	p->disk_bytes += length;
	return 0;
}

/* Pass 3: framing and digest are known good; decode what the frames hold. */
static int decode(const uint8_t *buf, size_t len, struct vm_state_parsed *p,
		  const char **err)
{
	size_t off = STREAM_PRELUDE_LEN;

	for (;;) {
		const uint8_t *f = buf + off + STREAM_FRAME_HDR_LEN;
		uint32_t type, flen;
		Vmm__State__Record *r;
		int ret;

		stream__get_frame_hdr(buf + off, &type, &flen);
		off += STREAM_FRAME_HDR_LEN + flen;
		if (type == STREAM_FRAME_END)
			break;
		if (type == STREAM_FRAME_PAGES) {
			ret = take_pages(p, f, flen, err);
		} else if (type == STREAM_FRAME_DISK) {
			ret = take_disk(p, f, flen, err);
		} else {
			r = vmm__state__record__unpack(NULL, flen, f);
			if (!r)
				FAIL("a record envelope of the state stream does not decode");
			ret = take_record(p, r, err);
			vmm__state__record__free_unpacked(r, NULL);
		}
		if (ret)
			return ret;
	}
	if (!p->header)
		FAIL("the state stream has no header record");
	for (uint32_t i = 0; i < p->header->nr_vcpus; i++)
		if (!p->vcpus[i])
			FAIL("the state stream lacks a vCPU record");
	return 0;
}

/* hashed: the reader checked the digest as the stream arrived (stream.h). */
static int parse(const uint8_t *buf, size_t len, bool hashed, struct vm_state_parsed *p,
		 const char **err)
{
	int ret;

	memset(p, 0, sizeof(*p));
	ret = vm_state__check_prelude(buf, len, err);
	if (!ret) {
		p->major = stream__get_le16(buf + 8);
		p->minor = stream__get_le16(buf + 10);
	}
	if (!ret)
		ret = check_framing(buf, len, err);
	if (!ret && !hashed)
		ret = check_digest(buf, len, err);
	if (!ret)
		ret = decode(buf, len, p, err);
	return ret;
}

int vm_state__parse(const uint8_t *buf, size_t len, struct vm_state_parsed *p,
		    const char **err)
{
	return parse(buf, len, false, p, err);
}

int vm_state__parse_verified(const uint8_t *buf, size_t len, struct vm_state_parsed *p,
			     const char **err)
{
	return parse(buf, len, true, p, err);
}

void vm_state__free_parsed(struct vm_state_parsed *p)
{
	if (p->vcpus && p->header)
		for (uint32_t i = 0; i < p->header->nr_vcpus; i++)
			if (p->vcpus[i])
				vmm__state__vcpu_state__free_unpacked(p->vcpus[i], NULL);
	free(p->vcpus);
	if (p->header)
		vmm__state__header__free_unpacked(p->header, NULL);
	if (p->irqchip)
		vmm__state__irqchip_state__free_unpacked(p->irqchip, NULL);
	if (p->pit)
		vmm__state__pit_state__free_unpacked(p->pit, NULL);
	if (p->clock)
		vmm__state__clock_state__free_unpacked(p->clock, NULL);
	if (p->serial)
		vmm__state__serial_state__free_unpacked(p->serial, NULL);
	if (p->rtc)
		vmm__state__rtc_state__free_unpacked(p->rtc, NULL);
	if (p->acpi_pm)
		vmm__state__acpi_pm_state__free_unpacked(p->acpi_pm, NULL);
	if (p->virtio_blk)
		vmm__state__virtio_blk_state__free_unpacked(p->virtio_blk, NULL);
	if (p->virtio_net)
		vmm__state__virtio_net_state__free_unpacked(p->virtio_net, NULL);
	free(p->pages);
	free(p->disk);
	memset(p, 0, sizeof(*p));
}

int vm_state__check_config(const struct vm_state_parsed *p, uint64_t mem_size,
			   unsigned nr_vcpus, const char **err)
{
	if (p->header->mem_size != mem_size) {
		*err = "the state stream was saved from a VM with a different memory size";
		return -EINVAL;
	}
	if (p->header->nr_vcpus != nr_vcpus) {
		*err = "the state stream was saved from a VM with a different number of vCPUs";
		return -EINVAL;
	}
	return 0;
}
