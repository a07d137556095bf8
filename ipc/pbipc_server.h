/*
 * A libqb IPC service that carries protobuf-c messages and is served from a
 * caller's qb_loop: the half of a control server that does not depend on the
 * protocol.  The vmm control server (vmm/control.c) and hasvcd's hactl
 * server (hasvc/ipc.c) are built on it; docs/control.md describes the
 * framing they share.
 *
 * Every call below, and every callback, runs on the thread that runs the
 * loop.
 */
#ifndef IPC_PBIPC_SERVER_H
#define IPC_PBIPC_SERVER_H

#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>
#include <qb/qbipcs.h>
#include <qb/qbloop.h>

/* qb_ipc_request_header.id of a request, and of the response to it. */
#define PBIPC_MSG_REQUEST 1

/*
 * What the server allocates per connection to receive into.  libqb 2.0's
 * socket transport receives as many bytes as the header claims, even past
 * its buffer, so a client that bypasses libqb could overrun a buffer the
 * size of the protocol's limit with a bigger datagram.  The kernel caps a
 * datagram at net.core.wmem_max (208 KiB by default): stay above that.
 */
#define PBIPC_RECV_BUFFER (256 * 1024)

struct pbipc_server;

struct pbipc_server_ops {
	/*
	 * One request.  msg is the decoded request, valid during the call
	 * only; or NULL when the frame was wrong, and then code (a positive
	 * errno) and why say how, for the protocol's refusal.  Answer with
	 * pbipc_server__send(), during the call or later: to answer later,
	 * hold a reference (qb_ipcs_connection_ref) and send only until
	 * closed() was called for c.
	 */
	void (*request)(void *opaque, qb_ipcs_connection_t *c, const ProtobufCMessage *msg,
			int code, const char *why);
	/* Optional.  The client went away: nothing may be sent to c any more. */
	void (*closed)(void *opaque, qb_ipcs_connection_t *c);
};

struct pbipc_server_conf {
	const char *name;     /* the service: an abstract socket name, per netns */
	const char *what;     /* for log lines: "control", "hactl"               */
	const ProtobufCMessageDescriptor *request; /* what requests decode as   */
	size_t max_msg;       /* largest request or reply, headers included;
				 at most PBIPC_RECV_BUFFER                      */
};

/*
 * Publish the service and serve it from `loop`.  Only clients with our
 * effective uid, or root, are accepted.  Returns 0 or -errno (-EADDRINUSE
 * when another server holds the name, -ENAMETOOLONG past 100 bytes).
 */
int pbipc_server__start(struct pbipc_server **out, const struct pbipc_server_conf *conf,
			const struct pbipc_server_ops *ops, void *opaque, qb_loop_t *loop);

/*
 * Withdraw the service and drop every client (closed() is called for each).
 * Connections the caller still references stay valid until it unrefs them.
 */
void pbipc_server__stop(struct pbipc_server *srv);

/* Send msg as the reply on c.  0 or -errno (logged). */
int pbipc_server__send(struct pbipc_server *srv, qb_ipcs_connection_t *c,
		       const ProtobufCMessage *msg);

/* The pid of the client on c, for log lines (0 when unknown). */
int pbipc_server__client_pid(qb_ipcs_connection_t *c);

#endif
