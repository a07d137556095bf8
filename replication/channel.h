/*
 * A migration channel: one TCP connection, optionally TLS 1.3 with mutual
 * certificate authentication, with a time limit on every blocking read and
 * write so that a stalled peer is found and never hangs the caller.
 *
 * Writes are buffered (channel__flush sends); reads are exact.  Errors are
 * negative errno: -ETIMEDOUT for a stalled peer, -ECONNRESET / -EPIPE /
 * -ENODATA for a peer that went away, -EPROTO for a TLS failure.
 */
#ifndef REPLICATION_CHANNEL_H
#define REPLICATION_CHANNEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vmm/stream.h"

struct ssl_ctx_st;
struct ssl_st;

/*
 * TLS settings: CA, certificate and key files and the name of the node the
 * peer must be (its certificate's DNS SAN, or CN when it has none), an
 * optional CRL file; or none (plaintext).
 */
struct mig_tls {
	const char *ca;
	const char *cert;
	const char *key;
	bool none;          /* plaintext, only when asked for explicitly */
	const char *peer;   /* the peer's node name: required with TLS */
	const char *crl;    /* NULL: no revocation list */
};

/* "tcp:HOST:PORT" ("tcp:[v6addr]:PORT" for IPv6). */
struct mig_uri {
	char host[256];
	char port[16];
};

int mig_uri__parse(const char *uri, struct mig_uri *u, const char **err);

/*
 * Check the TLS settings: either none, or all three files and the peer's
 * name (a CRL optional).  err says what is missing.
 */
int mig_tls__check(const struct mig_tls *t, const char **err);

/* A TLS context for one side (server: accepts; client: connects). */
int tls__ctx_new(struct ssl_ctx_st **out, const struct mig_tls *t, bool server,
		 char *err, size_t errlen);
void tls__ctx_free(struct ssl_ctx_st *ctx);

/*
 * Why the peer's certificate was refused (vr: SSL_get_verify_result),
 * naming the node expected and the identity the certificate presented.
 */
void tls__refusal(struct ssl_st *ssl, long vr, char *err, size_t errlen);
/* For an alert refusing our certificate (ERR_peek_error), what to check. */
const char *tls__alert_hint(unsigned long e);

/*
 * A channel is a backend of struct stream (vmm/stream.h): the migration's
 * frames and a whole state stream are written and read through c->s with
 * the same framing helpers as a file or a memory buffer.
 */
struct chan {
	struct stream s;         /* first: the stream ops find the channel from it */
	int fd;
	struct ssl_st *ssl;      /* NULL: plaintext */
	int timeout_ms;
	uint8_t *wbuf;
	size_t wlen, wcap;
	uint64_t bytes_out, bytes_in;
	char peer[64];           /* accepted: the peer's address, for the log */
};

/* Connect to u; ctx NULL means plaintext.  timeout_ms bounds every step. */
int channel__connect(struct chan **out, const struct mig_uri *u, struct ssl_ctx_st *ctx,
		  int timeout_ms, char *err, size_t errlen);

/*
 * Listen on u (SO_REUSEADDR); *lfd is the listening socket.  Port 0: the
 * kernel picks a free one, written back to u->port.
 */
int channel__listen(struct mig_uri *u, int *lfd, char *err, size_t errlen);

/*
 * Accept one connection on lfd, waiting at most wait_ms (-1: forever), and
 * run the TLS handshake (ctx NULL: plaintext).  timeout_ms is then the
 * channel's time limit for each read and write (the handshake's too).
 * -ECONNABORTED: that one peer failed (it went away before it was taken,
 * or its handshake failed; err is "ADDRESS: why"): the listening
 * socket is fine, and the caller may take the next.  Any other error is
 * the listening socket's.
 */
int channel__accept(struct chan **out, int lfd, struct ssl_ctx_st *ctx, int wait_ms,
		 int timeout_ms, char *err, size_t errlen);

/*
 * A plaintext channel over a connected stream socket fd that the caller
 * made (the fuzz targets' socket pairs); the channel owns fd from here.
 */
int channel__wrap_fd(struct chan **out, int fd, int timeout_ms);

/* A new time limit for each read and write (e.g. once the peer is known). */
void channel__set_timeout(struct chan *c, int timeout_ms);

/* stream__write/flush/read on c->s: errors are sticky (the stream's). */
int channel__write(struct chan *c, const void *buf, size_t len);
int channel__flush(struct chan *c);
int channel__read(struct chan *c, void *buf, size_t len);

/* From any thread: make every blocked or later read/write fail at once. */
void channel__shutdown(struct chan *c);
void channel__close(struct chan *c);

/* A sentence for an error of this module. */
const char *channel__strerror(int err);

#endif
