/*
 * TLS 1.3 contexts for migration channels.  Both sides present a
 * certificate and verify the peer's against the cluster CA: a connection
 * from or to anything the CA did not sign is refused during the handshake.
 * Host names are not checked: the cluster CA signs only cluster nodes, and
 * nodes are addressed by IP in the cluster configuration.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "replication/channel.h"

int mig_tls__check(const struct mig_tls *t, const char **err)
{
	if (t->none) {
		if (t->ca || t->cert || t->key) {
			*err = "TLS files given together with --tls-none";
			return -EINVAL;
		}
		return 0;
	}
	if (!t->ca || !t->cert || !t->key) {
		*err = "TLS needs a CA file, a certificate and a key (--tls-ca, --tls-cert, "
		       "--tls-key); use --tls-none for plaintext";
		return -EINVAL;
	}
	return 0;
}

static void ssl_error(char *err, size_t errlen, const char *what, const char *path)
{
	unsigned long e = ERR_get_error();

	snprintf(err, errlen, "TLS: %s%s%s: %s", what, path ? " " : "", path ? path : "",
		 e ? ERR_reason_error_string(e) : "unknown error");
	ERR_clear_error();
}

int tls__ctx_new(SSL_CTX **out, const struct mig_tls *t, bool server, char *err,
		 size_t errlen)
{
	SSL_CTX *ctx = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());

	*out = NULL;
	if (!ctx) {
		ssl_error(err, errlen, "cannot create a context", NULL);
		return -ENOMEM;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
	if (SSL_CTX_load_verify_locations(ctx, t->ca, NULL) != 1) {
		ssl_error(err, errlen, "cannot load the CA file", t->ca);
		goto fail;
	}
	if (SSL_CTX_use_certificate_chain_file(ctx, t->cert) != 1) {
		ssl_error(err, errlen, "cannot load the certificate", t->cert);
		goto fail;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, t->key, SSL_FILETYPE_PEM) != 1) {
		ssl_error(err, errlen, "cannot load the key", t->key);
		goto fail;
	}
	if (SSL_CTX_check_private_key(ctx) != 1) {
		ssl_error(err, errlen, "the key does not match the certificate", t->cert);
		goto fail;
	}
	/* Mutual: the server asks for the client's certificate and insists. */
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER |
			   (server ? SSL_VERIFY_FAIL_IF_NO_PEER_CERT : 0), NULL);
	/* No session tickets: every migration is one full, fresh handshake. */
	SSL_CTX_set_num_tickets(ctx, 0);
	SSL_CTX_set_mode(ctx, SSL_MODE_AUTO_RETRY);
	*out = ctx;
	return 0;
fail:
	SSL_CTX_free(ctx);
	return -EINVAL;
}

void tls__ctx_free(SSL_CTX *ctx)
{
	SSL_CTX_free(ctx);
}
