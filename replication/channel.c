/*
 * Migration channels over TCP, with TLS 1.3 through OpenSSL when asked.
 *
 * Time limits: the socket is blocking with SO_RCVTIMEO/SO_SNDTIMEO set, so
 * every read or write (TLS records included) returns EAGAIN after
 * timeout_ms without progress; that is reported as -ETIMEDOUT.  connect and
 * accept wait in poll with the same bound.
 */
#include "config.h"

#include <errno.h>
#include <stddef.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "replication/channel.h"

#define CHAN_WBUF (256u << 10)

int mig_uri__parse(const char *uri, struct mig_uri *u, const char **err)
{
	const char *h, *colon;
	size_t hl;

	memset(u, 0, sizeof(*u));
	if (strncmp(uri, "tcp:", 4)) {
		*err = "migration URI must look like tcp:HOST:PORT";
		return -EINVAL;
	}
	h = uri + 4;
	colon = strrchr(h, ':');
	if (!colon || colon == h || !colon[1] || strlen(colon + 1) >= sizeof(u->port)) {
		*err = "migration URI must look like tcp:HOST:PORT";
		return -EINVAL;
	}
	hl = (size_t)(colon - h);
	if (h[0] == '[' && hl >= 2 && h[hl - 1] == ']') {
		h++;
		hl -= 2;
	}
	if (hl >= sizeof(u->host)) {
		*err = "host name too long in the migration URI";
		return -EINVAL;
	}
	memcpy(u->host, h, hl);
	strcpy(u->port, colon + 1);
	if (strspn(u->port, "0123456789") != strlen(u->port)) {
		*err = "the port of the migration URI is not a number";
		return -EINVAL;
	}
	return 0;
}

const char *channel__strerror(int err)
{
	switch (err) {
	case -ETIMEDOUT: return "the peer stalled (time limit reached)";
	case -ENODATA: return "the peer closed the connection";
	case -EPROTO: return "TLS failure";
	default: return strerror(-err);
	}
}

static void set_timeouts(int fd, int ms)
{
	struct timeval tv = { .tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000 };
	int one = 1;

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	/* Writes are batched by channel__write; control messages must go at once. */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

static const struct stream_ops chan_ops;

static struct chan *chan_new(int fd, int timeout_ms)
{
	struct chan *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->wbuf = malloc(CHAN_WBUF);
	if (!c->wbuf) {
		free(c);
		return NULL;
	}
	c->wcap = CHAN_WBUF;
	c->s.ops = &chan_ops;
	c->s.fd = -1;
	c->fd = fd;
	c->timeout_ms = timeout_ms;
	set_timeouts(fd, timeout_ms);
	return c;
}

/* The reason a handshake failed, as the operator needs to read it. */
static void handshake_error(SSL *ssl, int rc, char *err, size_t errlen, bool server)
{
	long vr = SSL_get_verify_result(ssl);
	unsigned long e = ERR_peek_error();
	int se = SSL_get_error(ssl, rc);

	if (vr != X509_V_OK)
		tls__refusal(ssl, vr, err, errlen);
	else if (e)
		snprintf(err, errlen, "TLS handshake refused: %s%s", ERR_reason_error_string(e),
			 server && ERR_GET_REASON(e) == SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE ?
			 " (the peer has no certificate)" : "");
	else if (se == SSL_ERROR_WANT_READ || se == SSL_ERROR_WANT_WRITE)
		snprintf(err, errlen, "TLS handshake: the peer stalled");
	else
		snprintf(err, errlen, "TLS handshake failed: the peer closed the connection "
			 "(it may have refused our certificate, or does not speak TLS)");
	ERR_clear_error();
}

static int tls_start(struct chan *c, SSL_CTX *ctx, bool server, char *err, size_t errlen)
{
	int rc;

	c->ssl = SSL_new(ctx);
	if (!c->ssl || SSL_set_fd(c->ssl, c->fd) != 1) {
		snprintf(err, errlen, "TLS: cannot set up the connection");
		return -ENOMEM;
	}
	rc = server ? SSL_accept(c->ssl) : SSL_connect(c->ssl);
	if (rc != 1) {
		handshake_error(c->ssl, rc, err, errlen, server);
		return -EPROTO;
	}
	/*
	 * TLS 1.3: a client learns that the server refused its certificate only
	 * at its first read.  The server therefore sends one byte after its
	 * handshake succeeded and the client waits for it, so a refusal is seen
	 * here and not as a strange error later.
	 */
	if (server) {
		uint8_t ok = 1;

		if (SSL_write(c->ssl, &ok, 1) != 1) {
			handshake_error(c->ssl, -1, err, errlen, server);
			return -EPROTO;
		}
	} else {
		uint8_t ok = 0;

		rc = SSL_read(c->ssl, &ok, 1);
		if (rc != 1 || ok != 1) {
			unsigned long e = ERR_peek_error();

			snprintf(err, errlen, "TLS handshake refused by the peer: %s%s",
				 e ? ERR_reason_error_string(e) :
				 "it closed the connection (our certificate is not accepted there)",
				 tls__alert_hint(e));
			ERR_clear_error();
			return -EPROTO;
		}
	}
	return 0;
}

static int wait_fd(int fd, short ev, int ms)
{
	struct pollfd p = { .fd = fd, .events = ev };
	int n;

	do
		n = poll(&p, 1, ms);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	return n ? 0 : -ETIMEDOUT;
}

static int connect_one(const struct addrinfo *ai, int timeout_ms)
{
	int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK,
			ai->ai_protocol);
	int ret, soerr = 0;
	socklen_t sl = sizeof(soerr);

	if (fd < 0)
		return -errno;
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0 && errno != EINPROGRESS) {
		ret = -errno;
		goto fail;
	}
	ret = wait_fd(fd, POLLOUT, timeout_ms);
	if (ret)
		goto fail;
	getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl);
	if (soerr) {
		ret = -soerr;
		goto fail;
	}
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
	return fd;
fail:
	close(fd);
	return ret;
}

int channel__connect(struct chan **out, const struct mig_uri *u, SSL_CTX *ctx, int timeout_ms,
		  char *err, size_t errlen)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res, *ai;
	struct chan *c;
	int fd = -ENOENT, ret;

	*out = NULL;
	ret = getaddrinfo(u->host, u->port, &hints, &res);
	if (ret) {
		snprintf(err, errlen, "cannot resolve %s: %s", u->host, gai_strerror(ret));
		return -EHOSTUNREACH;
	}
	for (ai = res; ai; ai = ai->ai_next) {
		fd = connect_one(ai, timeout_ms);
		if (fd >= 0)
			break;
	}
	freeaddrinfo(res);
	if (fd < 0) {
		snprintf(err, errlen, "cannot connect to %s:%s: %s", u->host, u->port,
			 strerror(-fd));
		return fd;
	}
	c = chan_new(fd, timeout_ms);
	if (!c) {
		close(fd);
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	if (ctx && (ret = tls_start(c, ctx, false, err, errlen))) {
		channel__close(c);
		return ret;
	}
	*out = c;
	return 0;
}

/* Port 0 asks the kernel for a free port: u->port becomes the one bound. */
static void bound_port(int fd, struct mig_uri *u)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	if (!getsockname(fd, (struct sockaddr *)&ss, &len))
		getnameinfo((struct sockaddr *)&ss, len, NULL, 0, u->port, sizeof(u->port),
			    NI_NUMERICSERV);
}

int channel__listen(struct mig_uri *u, int *lfd, char *err, size_t errlen)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE }, *res;
	int fd, one = 1, ret;

	ret = getaddrinfo(u->host[0] ? u->host : NULL, u->port, &hints, &res);
	if (ret) {
		snprintf(err, errlen, "cannot resolve %s: %s", u->host, gai_strerror(ret));
		return -EINVAL;
	}
	fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		goto fail;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, res->ai_addr, res->ai_addrlen) < 0 || listen(fd, 16) < 0)
		goto fail;
	freeaddrinfo(res);
	bound_port(fd, u);
	*lfd = fd;
	return 0;
fail:
	ret = -errno;
	snprintf(err, errlen, "cannot listen on %s:%s: %s", u->host, u->port, strerror(errno));
	if (fd >= 0)
		close(fd);
	freeaddrinfo(res);
	return ret;
}

/* The peer's address, numeric, for the log ("?": not an IP socket, or unknown). */
static void peer_name(int fd, char *out, size_t len)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char host[INET6_ADDRSTRLEN], port[8];

	memset(&ss, 0, sizeof(ss));
	snprintf(out, len, "?");
	if (!getpeername(fd, (struct sockaddr *)&ss, &sl) &&
	    (ss.ss_family == AF_INET || ss.ss_family == AF_INET6) &&
	    !getnameinfo((struct sockaddr *)&ss, sl, host, sizeof(host), port, sizeof(port),
			 NI_NUMERICHOST | NI_NUMERICSERV))
		snprintf(out, len, "%s%s%s:%s", ss.ss_family == AF_INET6 ? "[" : "", host,
			 ss.ss_family == AF_INET6 ? "]" : "", port);
}

int channel__accept(struct chan **out, int lfd, SSL_CTX *ctx, int wait_ms, int timeout_ms,
		 char *err, size_t errlen)
{
	char why[256];
	struct chan *c;
	int fd, ret;

	*out = NULL;
	ret = wait_fd(lfd, POLLIN, wait_ms);
	if (ret) {
		snprintf(err, errlen, "no connection came: %s", channel__strerror(ret));
		return ret;
	}
	fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	if (fd < 0) {
		ret = -errno;
		snprintf(err, errlen, "accept: %s", strerror(errno));
		/* accept(2): the connection failed before we took it; the socket is fine. */
		return ret == -ECONNABORTED || ret == -EPROTO || ret == -EPERM || ret == -EINTR ?
		       -ECONNABORTED : ret;
	}
	c = chan_new(fd, timeout_ms);
	if (!c) {
		close(fd);
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	peer_name(fd, c->peer, sizeof(c->peer));
	if (ctx && (ret = tls_start(c, ctx, true, why, sizeof(why)))) {
		snprintf(err, errlen, "%s: %s", c->peer, why);
		channel__close(c);
		return ret == -ENOMEM ? ret : -ECONNABORTED;
	}
	*out = c;
	return 0;
}

int channel__wrap_fd(struct chan **out, int fd, int timeout_ms)
{
	*out = chan_new(fd, timeout_ms);
	return *out ? 0 : -ENOMEM;
}

void channel__set_timeout(struct chan *c, int timeout_ms)
{
	c->timeout_ms = timeout_ms;
	set_timeouts(c->fd, timeout_ms);
}

static int io_error(struct chan *c, int rc, bool reading)
{
	int e = errno;

	if (c->ssl) {
		int se = SSL_get_error(c->ssl, rc);

		ERR_clear_error();
		if (se == SSL_ERROR_ZERO_RETURN)
			return -ENODATA;
		if (se == SSL_ERROR_WANT_READ || se == SSL_ERROR_WANT_WRITE)
			return -ETIMEDOUT;
		if (se == SSL_ERROR_SYSCALL)
			return rc == 0 || !e ? (reading ? -ENODATA : -EPIPE) :
			       (e == EAGAIN ? -ETIMEDOUT : -e);
		return -EPROTO;
	}
	if (rc == 0)
		return -ENODATA;
	return e == EAGAIN ? -ETIMEDOUT : -e;
}

/*
 * A socket call with a time limit fails with EINTR when a signal comes,
 * whatever SA_RESTART says, and also after a stop and SIGCONT (signal(7)):
 * a debugger's, or an operator's SIGSTOP.  OpenSSL reports it as a retry.
 * Neither is the peer's doing, so the call is made again (with the same
 * arguments, as OpenSSL requires), not reported as a lost peer.
 */
static bool interrupted(struct chan *c, ssize_t n)
{
	int e = errno, se;

	if (n >= 0 || e != EINTR)
		return false;
	if (!c->ssl)
		return true;
	se = SSL_get_error(c->ssl, (int)n);
	errno = e;
	return se == SSL_ERROR_WANT_READ || se == SSL_ERROR_WANT_WRITE;
}

static int raw_write(struct chan *c, const uint8_t *p, size_t len)
{
	while (len) {
		int chunk = len > (1u << 30) ? 1 << 30 : (int)len;
		ssize_t n;

		if (c->ssl)
			n = SSL_write(c->ssl, p, chunk);
		else
			n = send(c->fd, p, (size_t)chunk, MSG_NOSIGNAL);
		if (n <= 0) {
			if (interrupted(c, n))
				continue;
			return io_error(c, (int)n, false);
		}
		p += n;
		len -= (size_t)n;
		c->bytes_out += (uint64_t)n;
	}
	return 0;
}

/* --- the stream backend (stream.h: exact reads and writes) ---------------- */

_Static_assert(offsetof(struct chan, s) == 0, "the stream is the channel's first member");

static struct chan *of(struct stream *s)
{
	return (struct chan *)s;
}

/*
 * TLS splits a write into 16 KiB records and OpenSSL sends each with its
 * own send(); with TCP_NODELAY each leaves at once and wakes the reader,
 * who then sleeps again for the next.  Corked, a write of several records
 * leaves as one burst when it ends (a checkpoint of a few records: one
 * wakeup of the standby, not one per record).  Full segments are not held
 * by the cork, so a large write streams as before.
 */
#define CHAN_TLS_RECORD (16u << 10)

static void cork(struct chan *c, bool on)
{
	int v = on;

	setsockopt(c->fd, IPPROTO_TCP, TCP_CORK, &v, sizeof(v));
}

static int write_burst(struct chan *c, const uint8_t *p, size_t len)
{
	bool corked = c->ssl && len > CHAN_TLS_RECORD;
	int ret;

	if (corked)
		cork(c, true);
	ret = raw_write(c, p, len);
	if (corked)
		cork(c, false);
	return ret;
}

static int cs_flush(struct stream *s)
{
	struct chan *c = of(s);
	int ret = c->wlen ? write_burst(c, c->wbuf, c->wlen) : 0;

	c->wlen = 0;
	return ret;
}

static int cs_write(struct stream *s, const void *buf, size_t len)
{
	struct chan *c = of(s);
	int ret;

	if (c->wlen + len <= c->wcap) {
		memcpy(c->wbuf + c->wlen, buf, len);
		c->wlen += len;
		return 0;
	}
	ret = cs_flush(s);
	if (ret)
		return ret;
	if (len >= c->wcap / 2)
		return write_burst(c, buf, len);
	memcpy(c->wbuf, buf, len);
	c->wlen = len;
	return 0;
}

static int cs_read(struct stream *s, void *buf, size_t len)
{
	struct chan *c = of(s);
	uint8_t *p = buf;

	while (len) {
		int chunk = len > (1u << 30) ? 1 << 30 : (int)len;
		ssize_t n;

		if (c->ssl)
			n = SSL_read(c->ssl, p, chunk);
		else
			n = recv(c->fd, p, (size_t)chunk, 0);
		if (n <= 0) {
			if (interrupted(c, n))
				continue;
			return io_error(c, (int)n, true);
		}
		p += n;
		len -= (size_t)n;
		c->bytes_in += (uint64_t)n;
	}
	return 0;
}

static const struct stream_ops chan_ops = { cs_write, cs_read, cs_flush };

int channel__flush(struct chan *c)
{
	return stream__flush(&c->s);
}

int channel__write(struct chan *c, const void *buf, size_t len)
{
	return stream__write(&c->s, buf, len);
}

int channel__read(struct chan *c, void *buf, size_t len)
{
	return stream__read(&c->s, buf, len);
}

void channel__shutdown(struct chan *c)
{
	if (c)
		shutdown(c->fd, SHUT_RDWR);
}

void channel__close(struct chan *c)
{
	if (!c)
		return;
	if (c->ssl) {
		/* A clean close_notify only when nothing failed: never block on it. */
		if (!c->s.error)
			SSL_shutdown(c->ssl);
		SSL_free(c->ssl);
	}
	close(c->fd);
	stream__close(&c->s);
	free(c->wbuf);
	free(c);
}

