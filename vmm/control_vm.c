/*
 * The control server's ops bound to a real struct vm.  Kept apart from
 * control.c so the server can be unit-tested without KVM.
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <qb/qblog.h>

#include "vmm/acpi_pm.h"
#include "vmm/control.h"
#include "vmm/control.pb-c.h"
#include "vmm/snapshot.h"
#include "vmm/virtio_net.h"
#include "vmm/vm.h"

/*
 * The operator's pause is a hold of its own (vm_hold.h): it lasts until the
 * operator's resume (or an activation), whatever the engines hold and
 * release meanwhile for their own needs.
 */
static int vm_pause(void *opaque)
{
	return vm__hold(((struct control_vm *)opaque)->vm, VM_HOLD_OPERATOR);
}

static int vm_resume(void *opaque)
{
	struct control_vm *cv = opaque;
	char why[256];
	int ret;

	/* A standby, or a primary paused by its standby-loss policy, must not run. */
	if (cv->engine && (ret = cv->engine->may_resume(cv->engine_opaque, why, sizeof(why)))) {
		qb_log(LOG_WARNING, "resume refused: %s", why);
		return ret;
	}
	ret = vm__release(cv->vm, VM_HOLD_OPERATOR);
	/* Not the operator's to end: a switch-over in progress, a post-copy source. */
	if (!ret && vm__holders(cv->vm)) {
		vm_hold__format(vm__holders(cv->vm), why, sizeof(why));
		qb_log(LOG_NOTICE, "resume: the guest stays paused while held by %s", why);
	}
	return ret;
}

static void vm_quit(void *opaque)
{
	/* Only records the reason and wakes the main loop, which tears down. */
	vm__request_stop(((struct control_vm *)opaque)->vm, VM_STOP_QUIT, 0,
			 "quit requested through the control socket");
}

static void vm_status(void *opaque, struct control_status *st)
{
	struct vm *vm = ((struct control_vm *)opaque)->vm;

	/*
	 * Stops are requested from vCPU threads: read the state and its message
	 * together, under the lock the pause protocol uses.
	 */
	pthread_mutex_lock(&vm->lock);
	st->state = vm__state_name(vm->state);
	if (vm->state == VM_STATE_STOPPED)
		snprintf(st->stop_message, sizeof(st->stop_message), "%s",
			 vm->stop_message);
	st->nr_resets = vm->nr_resets;
	if (vm->state == VM_STATE_PAUSED)
		vm_hold__format(vm__holders(vm), st->held_by, sizeof(st->held_by));
	pthread_mutex_unlock(&vm->lock);
	st->nr_vcpus = vm->nr_vcpus;
	st->mem_bytes = vm->mem.size;
}

static int vm_save(void *opaque, const char *path, int after, uint64_t *bytes,
		   char *err, size_t errlen)
{
	struct control_vm *cv = opaque;
	struct vm *vm = cv->vm;
	int ret = cv->engine ? cv->engine->settle(cv->engine_opaque, err, errlen) : 0;

	if (ret)
		return ret;
	ret = vm__hold(vm, VM_HOLD_SAVE);
	if (ret) {
		snprintf(err, errlen, "the VM cannot be paused (state %s)",
			 vm__state_name(vm->state));
		return ret;
	}
	ret = snapshot__save_file(vm, path, bytes, err, errlen);
	/* A failed save changes nothing: a running VM runs on. */
	if (!ret && after == VMM__CONTROL__SAVE_REQUEST__AFTER__QUIT)
		vm__request_stop(vm, VM_STOP_QUIT, 0, "saved to %s; quit as asked", path);
	else if (!ret && after != VMM__CONTROL__SAVE_REQUEST__AFTER__RESUME)
		vm__hold(vm, VM_HOLD_OPERATOR);   /* left paused, as asked */
	vm__release(vm, VM_HOLD_SAVE);
	return ret;
}

static int vm_migration(void *opaque, const Vmm__Control__Request *req,
			Vmm__Control__MigrationInfo *info, Vmm__Control__DirtyRate *dr,
			char *err, size_t errlen)
{
	struct control_vm *cv = opaque;

	if (!cv->engine) {
		snprintf(err, errlen, "this vmm has no migration engine");
		return -EOPNOTSUPP;
	}
	return cv->engine->migration(cv->engine_opaque, req, info, dr, err, errlen);
}

/* The network device's counters: the VM's, served with the checkpoint op. */
static int net_status(struct vm *vm, Vmm__Control__NetStatus *ns, char *err, size_t errlen)
{
	struct net_counters c;
	const uint8_t *m;

	if (!vm->net) {
		snprintf(err, errlen, "this VM has no network device (vmm run --net)");
		return -ENODEV;
	}
	virtio_net__counters(vm->net, &c);
	m = virtio_net__mac(vm->net);
	snprintf(ns->mac, CONTROL_MAC_LEN, "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2],
		 m[3], m[4], m[5]);
	ns->rx_frames = c.rx_frames;
	ns->rx_bytes = c.rx_bytes;
	ns->tx_frames = c.tx_frames;
	ns->tx_bytes = c.tx_bytes;
	ns->rx_dropped = c.rx_dropped;
	ns->tx_dropped = c.tx_dropped;
	ns->held_frames = c.held_frames;
	ns->released_frames = c.released_frames;
	ns->hold_dropped = c.hold_dropped;
	ns->announces = c.announces;
	return 0;
}

static int vm_checkpoint(void *opaque, const Vmm__Control__Request *req,
			 Vmm__Control__ProtectStatus *ps, Vmm__Control__NetStatus *ns,
			 char *err, size_t errlen)
{
	struct control_vm *cv = opaque;

	if (req->command_case == VMM__CONTROL__REQUEST__COMMAND_NET_STATUS)
		return net_status(cv->vm, ns, err, errlen);
	if (!cv->engine) {
		snprintf(err, errlen, "this vmm has no checkpointing engine");
		return -EOPNOTSUPP;
	}
	return cv->engine->checkpoint(cv->engine_opaque, req, ps, err, errlen);
}

static void shutdown_timeout(void *data)
{
	struct control_vm *cv = data;

	cv->shutdown_pending = false;
	vm__request_stop(cv->vm, VM_STOP_QUIT, 0,
			 "the guest did not power off after the power button: quit");
}

static int vm_shutdown(void *opaque, unsigned timeout_s, char *err, size_t errlen)
{
	struct control_vm *cv = opaque;
	int ret;

	if (vm__stopped_by_guest(cv->vm) || cv->vm->state == VM_STATE_STOPPED) {
		snprintf(err, errlen, "the VM is already stopped");
		return -EINVAL;
	}
	acpi_pm__press_power_button(cv->vm->pm);
	/* A second request restarts the count from now. */
	if (cv->shutdown_pending)
		qb_loop_timer_del(cv->loop, cv->shutdown_timer);
	ret = qb_loop_timer_add(cv->loop, QB_LOOP_HIGH, (uint64_t)timeout_s * 1000000000ULL, cv,
				shutdown_timeout, &cv->shutdown_timer);
	if (ret) {
		snprintf(err, errlen, "cannot start the shutdown timer");
		cv->shutdown_pending = false;
		return ret < 0 ? ret : -EIO;
	}
	cv->shutdown_pending = true;
	qb_log(LOG_NOTICE, "shutdown: power button pressed, quitting in %u s unless the guest "
	       "powers off first", timeout_s);
	return 0;
}

static const struct control_ops vm_control_ops = {
	.pause = vm_pause,
	.resume = vm_resume,
	.quit = vm_quit,
	.status = vm_status,
	.save = vm_save,
	.migration = vm_migration,
	.checkpoint = vm_checkpoint,
	.shutdown = vm_shutdown,
};

int control__start(struct control **out, struct control_vm *cv, qb_loop_t *loop,
		   const char *name)
{
	cv->loop = loop;
	return control__start_ops(out, &vm_control_ops, cv, loop, name);
}
