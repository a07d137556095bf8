/*
 * The client of a pbipc_server (pbipc_client.h): libqb's request/response
 * call, the framing of pbipc_server.h, and a sentence for every failure.
 */
#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <qb/qbipc_common.h>
#include <qb/qbipcc.h>

#include "ipc/pbipc_client.h"
#include "ipc/pbipc_server.h"

struct pbipc_client {
	qb_ipcc_connection_t *c;
	char *name;
	char *what;
	bool broken;
	size_t max_msg;
	/* Replies start with a struct qb_ipc_response_header: keep its alignment. */
	uint64_t *buf;
};

static void free_client(struct pbipc_client *cl)
{
	if (!cl)
		return;
	free(cl->buf);
	free(cl->what);
	free(cl->name);
	free(cl);
}

/*
 * The IPC name is an abstract socket anyone may bind first: a local user
 * who takes a vmm's or hasvcd's name before it starts would receive our
 * requests.  So the server must prove (SO_PASSCRED, which the kernel fills
 * in: libqb hands it over) that it runs as root or as us.  No credentials
 * (pid 0) is no proof.
 */
static int check_server(struct pbipc_client *cl, char *err, size_t errlen)
{
	pid_t pid = 0;
	uid_t uid = (uid_t)-1;
	gid_t gid = (gid_t)-1;
	uid_t me = geteuid();

	if (qb_ipcc_auth_get(cl->c, &pid, &uid, &gid) < 0 || pid <= 0) {
		snprintf(err, errlen, "refusing %s '%s': its server did not show its credentials",
			 cl->what, cl->name);
		return -EPERM;
	}
	if (uid != 0 && uid != me) {
		snprintf(err, errlen, "refusing %s '%s': its server (pid %ld) runs as uid %lu, "
			 "neither root nor our uid %lu: another user may have taken the name",
			 cl->what, cl->name, (long)pid, (unsigned long)uid, (unsigned long)me);
		return -EPERM;
	}
	return 0;
}

/*
 * qb_ipcc_connect waits for the server's answer to its handshake without a
 * limit: a server that is stopped (SIGSTOP) or hung would hold the caller,
 * hasvcd's whole loop among them, for as long.  The asynchronous form sends
 * the handshake and leaves the wait to us.  0, or -errno (-ETIMEDOUT).
 */
static int connect_within(struct pbipc_client *cl, int timeout_ms)
{
	struct pollfd p = { .events = POLLIN };
	int n, rc;

	errno = 0;
	cl->c = qb_ipcc_connect_async(cl->name, cl->max_msg, &p.fd);
	if (!cl->c)
		return errno ? -errno : -ECONNREFUSED;  /* nobody on the name: ECONNREFUSED */
	do
		n = poll(&p, 1, timeout_ms);
	while (n < 0 && errno == EINTR);
	rc = n > 0 ? 0 : n == 0 ? -ETIMEDOUT : -errno;
	/* Shut down, the socket makes continue fail at once; it then frees the connection. */
	if (rc < 0)
		shutdown(p.fd, SHUT_RDWR);
	n = qb_ipcc_connect_continue(cl->c);
	if (rc < 0 || n < 0) {
		cl->c = NULL;
		return rc < 0 ? rc : n;
	}
	return 0;
}

int pbipc_client__connect(struct pbipc_client **out, const char *name, const char *what,
			  size_t max_msg, int timeout_ms, char *err, size_t errlen)
{
	struct pbipc_client *cl;
	int rc;

	*out = NULL;
	cl = calloc(1, sizeof(*cl));
	if (!cl || !(cl->name = strdup(name)) || !(cl->what = strdup(what)) ||
	    !(cl->buf = malloc(max_msg))) {
		rc = -ENOMEM;
		goto err_free;
	}
	cl->max_msg = max_msg;
	rc = connect_within(cl, timeout_ms);
	if (rc == -ETIMEDOUT) {
		snprintf(err, errlen, "cannot connect to %s '%s': its server did not answer "
			 "within %d ms", what, name, timeout_ms);
		free_client(cl);
		return rc;
	}
	if (rc < 0)
		goto err_free;
	rc = check_server(cl, err, errlen);
	if (rc < 0) {
		pbipc_client__disconnect(cl);
		return rc;
	}
	*out = cl;
	return 0;

err_free:
	snprintf(err, errlen, "cannot connect to %s '%s': %s", what, name, strerror(-rc));
	free_client(cl);
	return rc;
}

void pbipc_client__disconnect(struct pbipc_client *cl)
{
	if (!cl)
		return;
	qb_ipcc_disconnect(cl->c);
	free_client(cl);
}

static int decode_reply(struct pbipc_client *cl, size_t len,
			const ProtobufCMessageDescriptor *reply, ProtobufCMessage **resp,
			char *err, size_t errlen)
{
	const struct qb_ipc_response_header *rh = (const void *)cl->buf;
	size_t body;

	if (len < sizeof(*rh)) {
		snprintf(err, errlen, "%s '%s' sent a short reply (%zu bytes)",
			 cl->what, cl->name, len);
		return -EBADMSG;
	}
	if (rh->error < 0) {
		snprintf(err, errlen, "%s '%s' failed the request: %s",
			 cl->what, cl->name, strerror(-rh->error));
		return rh->error;
	}
	if (rh->id != PBIPC_MSG_REQUEST || rh->size < (int32_t)sizeof(*rh) ||
	    (size_t)rh->size > len) {
		snprintf(err, errlen, "%s '%s' sent a malformed reply (id %d, %d of %zu bytes)",
			 cl->what, cl->name, rh->id, rh->size, len);
		return -EBADMSG;
	}
	body = rh->size - sizeof(*rh);
	*resp = protobuf_c_message_unpack(reply, NULL, body, (const uint8_t *)cl->buf + sizeof(*rh));
	if (!*resp) {
		snprintf(err, errlen, "%s '%s' sent a reply that does not decode",
			 cl->what, cl->name);
		return -EBADMSG;
	}
	return 0;
}

static int call_iov(struct pbipc_client *cl, const struct iovec *iov, size_t n,
		    const ProtobufCMessageDescriptor *reply, int timeout_ms,
		    ProtobufCMessage **resp, char *err, size_t errlen)
{
	ssize_t rc;

	*resp = NULL;
	if (cl->broken) {
		snprintf(err, errlen, "the connection to %s '%s' was lost earlier",
			 cl->what, cl->name);
		return -ENOTCONN;
	}
	rc = qb_ipcc_sendv_recv(cl->c, iov, n, cl->buf, cl->max_msg, timeout_ms);
	if (rc == -ETIMEDOUT || rc == -EAGAIN) {
		cl->broken = true;
		snprintf(err, errlen, "no reply from %s '%s' within %d ms",
			 cl->what, cl->name, timeout_ms);
		return -ETIMEDOUT;
	}
	if (rc < 0) {
		cl->broken = true;
		snprintf(err, errlen, "lost the connection to %s '%s': %s",
			 cl->what, cl->name, strerror((int)-rc));
		return (int)rc;
	}
	return decode_reply(cl, (size_t)rc, reply, resp, err, errlen);
}

int pbipc_client__call(struct pbipc_client *cl, const ProtobufCMessage *req,
		       const ProtobufCMessageDescriptor *reply, int timeout_ms,
		       ProtobufCMessage **resp, char *err, size_t errlen)
{
	struct qb_ipc_request_header hdr;
	struct iovec iov[2];
	uint8_t *payload;
	size_t len;
	int rc;

	*resp = NULL;
	len = protobuf_c_message_get_packed_size(req);
	if (sizeof(hdr) + len > cl->max_msg) {
		snprintf(err, errlen, "request of %zu bytes is over the %zu-byte limit",
			 sizeof(hdr) + len, cl->max_msg);
		return -EMSGSIZE;
	}
	payload = malloc(len ? len : 1);
	if (!payload) {
		snprintf(err, errlen, "%s", strerror(ENOMEM));
		return -ENOMEM;
	}
	protobuf_c_message_pack(req, payload);
	memset(&hdr, 0, sizeof(hdr));
	hdr.id = PBIPC_MSG_REQUEST;
	hdr.size = sizeof(hdr) + len;
	iov[0].iov_base = &hdr;
	iov[0].iov_len = sizeof(hdr);
	iov[1].iov_base = payload;
	iov[1].iov_len = len;
	rc = call_iov(cl, iov, 2, reply, timeout_ms, resp, err, errlen);
	free(payload);
	return rc;
}

int pbipc_client__call_raw(struct pbipc_client *cl, const void *msg, size_t len,
			   const ProtobufCMessageDescriptor *reply, int timeout_ms,
			   ProtobufCMessage **resp, char *err, size_t errlen)
{
	struct iovec iov = { .iov_base = (void *)msg, .iov_len = len };

	return call_iov(cl, &iov, 1, reply, timeout_ms, resp, err, errlen);
}
