/*
 * The client side of pbipc_server.h: connect to a protobuf-c service over
 * libqb IPC, send one request, wait for its reply.  `vmm ctl` (vmm/ctl.c)
 * and hactl are built on it.
 */
#ifndef IPC_PBIPC_CLIENT_H
#define IPC_PBIPC_CLIENT_H

#include <stddef.h>

#include <protobuf-c/protobuf-c.h>

struct pbipc_client;

/*
 * Every call below returns 0 or -errno; on failure it also writes a sentence
 * for the operator into err (errlen bytes) that names the service with
 * `what`, e.g. "cannot connect to vmm control 'vm1': Connection refused".
 * A reply that says no is still a success here: the server answered.
 *
 * connect refuses (-EPERM, before any request) a server that does not run
 * as root or as our effective uid: anyone may bind an IPC name first; and
 * gives up (-ETIMEDOUT) on one that does not answer the handshake within
 * timeout_ms (-1: no limit).
 */
int pbipc_client__connect(struct pbipc_client **out, const char *name, const char *what,
			  size_t max_msg, int timeout_ms, char *err, size_t errlen);
void pbipc_client__disconnect(struct pbipc_client *cl);

/*
 * One request, one reply decoded as `reply`; *resp is freed by the caller
 * with protobuf_c_message_free_unpacked(*resp, NULL).  After a transport
 * failure (timeout included) the connection is unusable: a late reply would
 * be taken for the next one's.
 */
int pbipc_client__call(struct pbipc_client *cl, const ProtobufCMessage *req,
		       const ProtobufCMessageDescriptor *reply, int timeout_ms,
		       ProtobufCMessage **resp, char *err, size_t errlen);

/*
 * Send `len` raw bytes as they are (they should start with a struct
 * qb_ipc_request_header) and decode the reply: for tests and fuzzing.
 */
int pbipc_client__call_raw(struct pbipc_client *cl, const void *msg, size_t len,
			   const ProtobufCMessageDescriptor *reply, int timeout_ms,
			   ProtobufCMessage **resp, char *err, size_t errlen);

#endif
