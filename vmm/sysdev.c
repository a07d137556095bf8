/*
 * The platform's small ports.  Power-off and the ucall port are this
 * project's (see vmm/guest_abi.h); reset uses the PC's two classic ways so
 * that Linux's reboot works unchanged.  The ucall (test-call) port exists
 * only with vm_config.test_port; its log lines are rate-limited.
 */
#include "config.h"

#include <inttypes.h>
#include <string.h>
#include <qb/qblog.h>

#include "vmm/guest_abi.h"
#include "vmm/logtext.h"
#include "vmm/sysdev.h"
#include "vmm/vcpu.h"
#include "vmm/vm.h"

static uint32_t le32(const uint8_t *d, uint32_t len)
{
	uint32_t v = 0;

	memcpy(&v, d, len < 4 ? len : 4);
	return v;
}

static void poweroff_io(struct vcpu *vcpu, uint64_t addr, uint8_t *data, uint32_t len,
			bool is_write, void *opaque)
{
	if (!is_write) {
		memset(data, 0, len);
		return;
	}
	vm__request_stop(vcpu->vm, VM_STOP_POWEROFF, (int)(le32(data, len) & 0xff),
			 "the guest powered off with status %u", le32(data, len) & 0xff);
}

static void reset_io(struct vcpu *vcpu, uint64_t addr, uint8_t *data, uint32_t len,
		     bool is_write, void *opaque)
{
	if (!is_write) {
		memset(data, 0, len);
		return;
	}
	/* 0xcf9: bit 2 starts the reset; 0x64: command 0xfe pulses the reset line. */
	if ((addr == GUEST_ABI_RESET_PORT && (data[0] & 0x04)) ||
	    (addr == GUEST_ABI_I8042_CMD_PORT && data[0] == 0xfe))
		vm__request_reset(vcpu->vm);
}

static void ucall_io(struct vcpu *vcpu, uint64_t addr, uint8_t *data, uint32_t len,
		     bool is_write, void *opaque)
{
	struct vm *vm = vcpu->vm;
	struct guest_ucall uc;
	char text[sizeof(uc.text)];

	if (!is_write) {
		memset(data, 0, len);
		return;
	}
	if (len != 4 || mem__read(&vm->mem, le32(data, len), &uc, sizeof(uc)) < 0) {
		vm__request_stop(vm, VM_STOP_CRASH, 0,
				 "vCPU %u: test call with a bad record address 0x%x",
				 vcpu->id, le32(data, len));
		return;
	}
	/* The guest's bytes reach our log: keep them printable. */
	logtext__clean(text, sizeof(text), uc.text, sizeof(uc.text));
	switch (uc.cmd) {
	case UCALL_SYNC:
		ratelimit_log(&vm->log_ucall, LOG_NOTICE, "guest vCPU %u: sync %" PRIu64, vcpu->id,
			      uc.args[0]);
		break;
	case UCALL_REPORT:
		ratelimit_log(&vm->log_ucall, LOG_NOTICE, "guest vCPU %u: report %s=%" PRIu64,
			      vcpu->id, text, uc.args[0]);
		break;
	case UCALL_ASSERT:
		vm__request_stop(vm, VM_STOP_ASSERT, 0,
				 "guest assertion failed on vCPU %u: %s:%" PRIu64
				 " (values 0x%" PRIx64 ", 0x%" PRIx64 ")",
				 vcpu->id, text, uc.args[0], uc.args[1], uc.args[2]);
		break;
	case UCALL_DONE:
		vm__request_stop(vm, VM_STOP_UCALL_DONE, 0, "guest test done");
		break;
	default:
		vm__request_stop(vm, VM_STOP_CRASH, 0, "vCPU %u: unknown test call %" PRIu64,
				 vcpu->id, uc.cmd);
	}
}

int sysdev__register(struct vm *vm)
{
	int ret;

	ret = iotrap__register(&vm->io, IOTRAP_PIO, GUEST_ABI_POWEROFF_PORT, 4, poweroff_io, NULL);
	/*
	 * The test-call port only when asked for (vmm run --test-port): in
	 * production the port does not exist, and an `out` to it does nothing.
	 */
	if (!ret && vm->cfg.test_port)
		ret = iotrap__register(&vm->io, IOTRAP_PIO, GUEST_ABI_UCALL_PORT, 4, ucall_io, NULL);
	if (!ret)
		ret = iotrap__register(&vm->io, IOTRAP_PIO, GUEST_ABI_RESET_PORT, 1, reset_io, NULL);
	if (!ret)
		ret = iotrap__register(&vm->io, IOTRAP_PIO, GUEST_ABI_I8042_CMD_PORT, 1, reset_io,
				       NULL);
	return ret;
}
