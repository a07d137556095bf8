/*
 * The control client: `vmm ctl NAME COMMAND`, and the calls under it for
 * tests, benchmarks and (later) hasvcd.  See docs/control.md.
 */
#ifndef VMM_CTL_H
#define VMM_CTL_H

#include <stddef.h>

#include "vmm/control.pb-c.h"

/* How long a call waits for the vmm's reply. */
#define CTL_TIMEOUT_MS 5000

struct ctl_conn;

/*
 * Every call below returns 0 or -errno; on failure it also writes a sentence
 * for the operator into err (errlen bytes), e.g. "cannot connect to vmm
 * control 'vm1': Connection refused".  A Response whose ok is false is still
 * a success here: the vmm answered, and said no.
 */
int ctl__connect(struct ctl_conn **out, const char *name, char *err, size_t errlen);
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

/* Connect, call, disconnect. */
int ctl__request(const char *name, const Vmm__Control__Request *req,
		 Vmm__Control__Response **resp, char *err, size_t errlen);


/*
 * `vmm ctl`: argv[0] is "ctl" (main passes its argv from the subcommand on).
 * Returns the exit status: 0 done, 1 failed, 2 bad usage.
 */
int ctl__main(int argc, char **argv);

#endif
