/*
 * The control client API: one typed request per command (vmm/control.proto),
 * the calls that send them, the typed replies.  `vmm ctl` (ctl_cli.c) and
 * hasvcd build their requests here; tests and benchmarks call it too.  See
 * docs/control.md.
 */
#ifndef VMM_CTL_H
#define VMM_CTL_H

#include <stddef.h>

#include "vmm/control.pb-c.h"

/* How long a call waits for the vmm's reply. */
#define CTL_TIMEOUT_MS 5000
/*
 * A save replies once the whole VM is written: its time grows with the
 * guest's memory and the disk's speed (gigabytes), so it waits longer.
 */
#define CTL_SAVE_TIMEOUT_MS 600000

struct ctl_conn;

/*
 * Every call below returns 0 or -errno; on failure it also writes a sentence
 * for the operator into err (errlen bytes), e.g. "cannot connect to vmm
 * control 'vm1': Connection refused".  A Response whose ok is false is still
 * a success here: the vmm answered, and said no.
 */
/* connect waits timeout_ms at most for the vmm's handshake (a stopped vmm). */
int ctl__connect(struct ctl_conn **out, const char *name, int timeout_ms, char *err,
		 size_t errlen);
void ctl__disconnect(struct ctl_conn *conn);
/* How long the calls on conn wait for a reply from now on (CTL_TIMEOUT_MS). */
void ctl__set_timeout(struct ctl_conn *conn, int timeout_ms);

/*
 * One request, one reply.  *resp is freed by the caller with
 * vmm__control__response__free_unpacked(*resp, NULL).  After a transport
 * failure (timeout included) the connection is unusable: a late reply would
 * be taken for the next one's.
 */
int ctl__call(struct ctl_conn *conn, const Vmm__Control__Request *req,
	      Vmm__Control__Response **resp, char *err, size_t errlen);

/*
 * Send `len` raw bytes as they are (they should start with a struct
 * qb_ipc_request_header) and decode the reply: for tests and fuzzing.
 */
int ctl__call_raw(struct ctl_conn *conn, const void *msg, size_t len,
		  Vmm__Control__Response **resp, char *err, size_t errlen);

/*
 * Connect, call, disconnect.  The reply limit is CTL_TIMEOUT_MS, a save's
 * CTL_SAVE_TIMEOUT_MS; ctl__request_within's timeout_ms above 0 replaces it.
 */
int ctl__request(const char *name, const Vmm__Control__Request *req,
		 Vmm__Control__Response **resp, char *err, size_t errlen);
int ctl__request_within(const char *name, const Vmm__Control__Request *req, int timeout_ms,
			Vmm__Control__Response **resp, char *err, size_t errlen);

/*
 * One command's request in storage of its own: ctl__req_init sets the
 * oneof to cmd with an empty body (the defaults), which the caller may then
 * fill through r->u (r->u.protect.uri = ...).  Strings the caller sets must
 * live as long as r.
 */
struct ctl_req {
	Vmm__Control__Request req;
	union {
		Vmm__Control__StatusRequest status;
		Vmm__Control__PauseRequest pause;
		Vmm__Control__ResumeRequest resume;
		Vmm__Control__QuitRequest quit;
		Vmm__Control__ShutdownRequest shutdown;
		Vmm__Control__SaveRequest save;
		Vmm__Control__MigrateRequest migrate;
		Vmm__Control__MigrateStatusRequest migrate_status;
		Vmm__Control__MigrateCancelRequest migrate_cancel;
		Vmm__Control__MigrateSetDowntimeRequest migrate_set_downtime;
		Vmm__Control__MigratePostcopyRequest migrate_postcopy;
		Vmm__Control__MigrateResumeRequest migrate_resume;
		Vmm__Control__DirtyRateRequest dirty_rate;
		Vmm__Control__ProtectRequest protect;
		Vmm__Control__UnprotectRequest unprotect;
		Vmm__Control__ProtectStatusRequest protect_status;
		Vmm__Control__ActivateRequest activate;
		Vmm__Control__NetStatusRequest net_status;
	} u;
};

/* 0, or -EINVAL for a command this client does not know (r is then empty). */
int ctl__req_init(struct ctl_req *r, Vmm__Control__Request__CommandCase cmd);
/* "protect-status" for ..._PROTECT_STATUS ("unknown" for none), and back. */
const char *ctl__command_name(Vmm__Control__Request__CommandCase cmd);
Vmm__Control__Request__CommandCase ctl__command_by_name(const char *name);

/*
 * ctl__call, with a refusal as a failure: when the vmm answers ok = false,
 * returns -code with its reason in err and frees the reply (*resp NULL).
 * On success the caller frees *resp, whose typed result (status,
 * protect_status, net_status, migration...) is the command's.
 */
int ctl__run(struct ctl_conn *conn, const struct ctl_req *r, Vmm__Control__Response **resp,
	     char *err, size_t errlen);
/* The refusal half of ctl__run, for a reply *resp got otherwise. */
int ctl__check_reply(Vmm__Control__Response **resp, char *err, size_t errlen);

#endif
