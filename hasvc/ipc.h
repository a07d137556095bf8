/*
 * hasvcd's hactl server: the libqb IPC service through which hactl asks for
 * the cluster's status and sends operator commands.  Messages are the
 * hasvc.ctl Request/Response of hasvc/hactl.proto behind the framing of
 * ipc/pbipc_server.h; docs/hactl.md describes the protocol.
 *
 * The server knows nothing of the daemon: it checks and decodes requests,
 * hands the well-formed ones to ops->request, and sends what the daemon
 * answers, at once or later.  Everything runs on the loop's thread.
 */
#ifndef HASVC_IPC_H
#define HASVC_IPC_H

#include <qb/qbloop.h>

#include "hasvc/hactl.pb-c.h"

/* Biggest request or response, headers included (a full Status fits). */
#define HASVC_IPC_MAX_MSG (256 * 1024) /* PBIPC_RECV_BUFFER; a config text and more */

/* How long a request may wait for the daemon before the server answers it. */
#define HASVC_IPC_TIMEOUT_MS 10000
/* The longest clean shutdown `hactl stop --timeout` may ask for: a day. */
#define HASVC_IPC_MAX_SHUTDOWN_S 86400

struct hasvc_ipc;
struct hasvc_ipc_req;

struct hasvc_ipc_ops {
	/*
	 * A well-formed request: the oneof is set, and an op names what its
	 * command needs (vm and/or node, each 1..63 bytes).  msg is valid
	 * during the call only.  Answer with hasvc_ipc__reply(req, ...) now or
	 * later; until then req stays valid, unless cancel() is called for it.
	 * Must not call hasvc_ipc__stop.
	 */
	void (*request)(void *opaque, struct hasvc_ipc_req *req,
			const Hasvc__Ctl__Request *msg);
	/*
	 * The server gives up on req: nobody answered within the timeout (the
	 * client was told so), or the server is stopping.  req is freed when
	 * this returns: forget it, and do not reply to it.
	 */
	void (*cancel)(void *opaque, struct hasvc_ipc_req *req);
};

/*
 * Publish the IPC service `name` (an abstract Unix socket name, so per
 * network namespace) and serve it from `loop`.  Only clients with our
 * effective uid, or root, are accepted.  Both ops are required.  Returns 0
 * or -errno (-EADDRINUSE when another server holds the name).
 */
int hasvc_ipc__start(struct hasvc_ipc **out, const struct hasvc_ipc_ops *ops, void *opaque,
		     qb_loop_t *loop, const char *name);

/*
 * Answer req with resp (copied out at once; error, code and text may be
 * left unset) and free req.  If the client went away meanwhile the answer
 * is dropped silently.
 */
void hasvc_ipc__reply(struct hasvc_ipc_req *req, const Hasvc__Ctl__Response *resp);

/* hasvc_ipc__reply with ok = false, code (a positive errno) and a reason. */
void hasvc_ipc__fail(struct hasvc_ipc_req *req, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/*
 * The timeout of requests received from now on (default
 * HASVC_IPC_TIMEOUT_MS); tests shorten it.
 */
void hasvc_ipc__set_timeout(struct hasvc_ipc *ipc, unsigned ms);

/*
 * Withdraw the service: pending requests are answered "hasvcd is stopping"
 * and cancelled (ops->cancel), every client is dropped.
 */
void hasvc_ipc__stop(struct hasvc_ipc *ipc);

#endif
