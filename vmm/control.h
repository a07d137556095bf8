/*
 * The control server: a libqb IPC service per VM through which `vmm ctl` and
 * hasvcd command the VM (status, pause, protect, migrate...).  Messages are the
 * protobuf-c Request/Response of vmm/control.proto behind the usual libqb
 * request/response headers; the protocol is described in docs/control.md.
 *
 * The server reaches the VM only through struct control_ops, so it can be
 * tested without KVM; control_vm.c binds the ops to struct vm.
 */
#ifndef VMM_CONTROL_H
#define VMM_CONTROL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <qb/qbloop.h>

struct vm;
struct control;
struct Vmm__Control__Request;
struct Vmm__Control__MigrationInfo;
struct Vmm__Control__DirtyRate;
struct Vmm__Control__ProtectStatus;
struct Vmm__Control__NetStatus;

/* Biggest request or response, headers included. */
#define CONTROL_MAX_MSG (64 * 1024)

/* The string buffers of the checkpoint op's replies. */
#define CONTROL_CK_ERROR_LEN 256
#define CONTROL_CK_DIGEST_LEN 65   /* SHA-256 in hex */
#define CONTROL_MAC_LEN 18         /* xx:xx:xx:xx:xx:xx */

/* qb_ipc_request_header.id of a Request, and of the Response to it. */
#define CONTROL_MSG_REQUEST 1  /* PBIPC_MSG_REQUEST */

struct control_status {
	const char *state;       /* static string, e.g. vm__state_name() */
	unsigned nr_vcpus;
	uint64_t mem_bytes;
	uint64_t nr_resets;
	uint64_t uptime_ms;      /* pre-filled: time since control__start */
	char stop_message[256];  /* empty unless the VM stopped */
	char held_by[128];       /* who holds it paused (vm_hold.h); empty unless paused */
};

/*
 * What the server may do to the VM.  Every op runs on the thread that runs
 * the qb_loop (the vmm main thread), one at a time, in the middle of serving
 * a request: an op must not call control__stop (quit only asks for a stop).
 */
struct control_ops {
	int (*pause)(void *opaque);   /* 0 or -errno */
	int (*resume)(void *opaque);  /* 0 or -errno */
	void (*quit)(void *opaque);   /* ask for a stop; must not block */
	void (*status)(void *opaque, struct control_status *st);
	/*
	 * Optional.  Save the VM to path; after is a
	 * VMM__CONTROL__SAVE_REQUEST__AFTER__* value.  0 or -errno with a reason
	 * in err.  On failure a VM that was running runs on.
	 */
	int (*save)(void *opaque, const char *path, int after, uint64_t *bytes,
		    char *err, size_t errlen);
	/*
	 * Optional.  The migrate* and dirty-rate commands: req is the request,
	 * info and dr are filled for the reply (info->error points at a
	 * 256-byte buffer).  0 or -errno with a reason in err.
	 */
	int (*migration)(void *opaque, const struct Vmm__Control__Request *req,
			 struct Vmm__Control__MigrationInfo *info,
			 struct Vmm__Control__DirtyRate *dr, char *err, size_t errlen);
	/*
	 * Optional.  The checkpointing commands (protect, unprotect,
	 * protect-status, activate) and net-status: req is the request; ps
	 * (net-status: ns) is filled for the reply.  ps->error and
	 * ps->disk_digest point at buffers of CONTROL_CK_ERROR_LEN and
	 * CONTROL_CK_DIGEST_LEN bytes, ns->mac at CONTROL_MAC_LEN.  0 or -errno
	 * with a reason in err that names the field it refuses.
	 */
	int (*checkpoint)(void *opaque, const struct Vmm__Control__Request *req,
			  struct Vmm__Control__ProtectStatus *ps,
			  struct Vmm__Control__NetStatus *ns, char *err, size_t errlen);
	/*
	 * Optional.  Press the power button, then quit after timeout_s seconds
	 * unless the guest powered off first.  0 or -errno with a reason in err.
	 */
	int (*shutdown)(void *opaque, unsigned timeout_s, char *err, size_t errlen);
};

/*
 * The replication engine's part of the control ops (replication/control.c
 * binds it; the composition root, vmm/main.c, hands it over), so the vmm's
 * own modules never call into replication/.  may_resume: 0 when the
 * operator's resume may end the operator's hold, else -errno and why.
 * settle: before a save reads the VM's state, what a standby kept aside
 * is loaded (checkpoint__settle); -errno and why when it cannot be.
 */
struct control_engine_ops {
	int (*may_resume)(void *opaque, char *why, size_t len);
	int (*settle)(void *opaque, char *why, size_t len);
	int (*migration)(void *opaque, const struct Vmm__Control__Request *req,
			 struct Vmm__Control__MigrationInfo *info,
			 struct Vmm__Control__DirtyRate *dr, char *err, size_t errlen);
	int (*checkpoint)(void *opaque, const struct Vmm__Control__Request *req,
			  struct Vmm__Control__ProtectStatus *ps, char *err, size_t errlen);
};

/* What control__start serves: the VM and the replication engine's ops. */
struct control_vm {
	struct vm *vm;
	const struct control_engine_ops *engine;   /* NULL: no replication engine */
	void *engine_opaque;
	qb_loop_t *loop;           /* set by control__start */
	qb_loop_timer_handle shutdown_timer;
	bool shutdown_pending;     /* the power button was pressed, the timer runs */
};

/*
 * Publish the IPC service `name` (an abstract Unix socket name on Linux, so
 * per network namespace) and serve it from `loop`.  Only clients with our
 * effective uid, or root, are accepted.  Returns 0 or -errno (-EADDRINUSE
 * when another server holds the name).
 */
int control__start_ops(struct control **out, const struct control_ops *ops,
		       void *opaque, qb_loop_t *loop, const char *name);

/* control__start_ops() with the ops of control_vm.c. */
int control__start(struct control **out, struct control_vm *cv, qb_loop_t *loop,
		   const char *name);

/* Withdraw the service and drop every client.  Call from the loop's thread. */
void control__stop(struct control *ctl);

#endif
