/*
 * TLS 1.3 contexts for migration channels.  Both sides present a
 * certificate and verify the peer's against the cluster CA: a connection
 * from or to anything the CA did not sign is refused during the handshake.
 *
 * The CA signs every node, so a valid certificate only says "a node of
 * this cluster".  Each side is therefore also told which node the peer
 * must be (--tls-peer), and OpenSSL's own host name check (RFC 6125: the
 * DNS names of the subjectAltName, the CN only when there are none) holds
 * the peer's certificate to that name, in both directions: node B's
 * certificate is not accepted where node A is expected.  A CRL file, when
 * given, lets the CA withdraw a node's certificate before it expires.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "replication/channel.h"

int mig_tls__check(const struct mig_tls *t, const char **err)
{
	if (t->none) {
		if (t->ca || t->cert || t->key || t->peer || t->crl) {
			*err = "TLS options given together with --tls-none";
			return -EINVAL;
		}
		return 0;
	}
	if (!t->ca || !t->cert || !t->key) {
		*err = "TLS needs a CA file, a certificate and a key (--tls-ca, --tls-cert, "
		       "--tls-key); use --tls-none for plaintext";
		return -EINVAL;
	}
	if (!t->peer || !t->peer[0]) {
		*err = "TLS needs the name of the peer node (--tls-peer NAME): any certificate "
		       "of the CA would otherwise be taken for it";
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

/*
 * The peer's leaf certificate is kept on the connection when its
 * verification fails: OpenSSL drops a refused certificate, and the
 * operator needs to read whose it was.  The ex_data index is a process-wide
 * OpenSSL registration, the same for every VM in the process.
 */
static pthread_once_t leaf_once = PTHREAD_ONCE_INIT;
static int leaf_idx = -1;

static void leaf_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl,
		      void *argp)
{
	(void)parent; (void)ad; (void)idx; (void)argl; (void)argp;
	X509_free(ptr);
}

static void leaf_index(void)
{
	leaf_idx = SSL_get_ex_new_index(0, NULL, NULL, NULL, leaf_free);
}

static int verify_cb(int ok, X509_STORE_CTX *xs)
{
	SSL *ssl = X509_STORE_CTX_get_ex_data(xs, SSL_get_ex_data_X509_STORE_CTX_idx());
	X509 *leaf = X509_STORE_CTX_get0_cert(xs);

	if (!ok && ssl && leaf && leaf_idx >= 0 && !SSL_get_ex_data(ssl, leaf_idx) &&
	    X509_up_ref(leaf) && !SSL_set_ex_data(ssl, leaf_idx, leaf))
		X509_free(leaf);
	return ok;
}

/* Append s to out, printable ASCII only: the peer wrote it. */
static void put_text(char *out, size_t len, const char *prefix, const unsigned char *s,
		     size_t n)
{
	size_t o = strlen(out);

	for (const char *p = prefix; *p && o + 1 < len; p++)
		out[o++] = *p;
	for (size_t i = 0; i < n && o + 1 < len; i++)
		out[o++] = s[i] >= 0x20 && s[i] < 0x7f ? (char)s[i] : '?';
	out[o] = '\0';
}

/* "CN=a, DNS:a, DNS:b": what the certificate says it is. */
static void describe_cert(X509 *x, char *out, size_t len)
{
	X509_NAME *subj = X509_get_subject_name(x);
	int i = subj ? X509_NAME_get_index_by_NID(subj, NID_commonName, -1) : -1;
	GENERAL_NAMES *sans = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);

	out[0] = '\0';
	if (i >= 0) {
		ASN1_STRING *cn = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subj, i));

		put_text(out, len, "CN=", ASN1_STRING_get0_data(cn),
			 (size_t)ASN1_STRING_length(cn));
	} else {
		put_text(out, len, "no CN", NULL, 0);
	}
	for (int k = 0; k < sk_GENERAL_NAME_num(sans); k++) {
		const GENERAL_NAME *g = sk_GENERAL_NAME_value(sans, k);

		if (g->type == GEN_DNS)
			put_text(out, len, ", DNS:", ASN1_STRING_get0_data(g->d.dNSName),
				 (size_t)ASN1_STRING_length(g->d.dNSName));
	}
	GENERAL_NAMES_free(sans);
}

void tls__refusal(SSL *ssl, long vr, char *err, size_t errlen)
{
	X509 *leaf = leaf_idx >= 0 ? SSL_get_ex_data(ssl, leaf_idx) : NULL;
	const char *want = X509_VERIFY_PARAM_get0_host(SSL_get0_param(ssl), 0);
	char who[256] = "no certificate kept";

	if (leaf)
		describe_cert(leaf, who, sizeof(who));
	if (vr == X509_V_ERR_HOSTNAME_MISMATCH)
		snprintf(err, errlen, "TLS handshake refused: the peer is not node %s: its "
			 "certificate is for %s", want ? want : "?", who);
	else if (vr == X509_V_ERR_CERT_REVOKED)
		snprintf(err, errlen, "TLS handshake refused: the peer's certificate (%s) is "
			 "revoked by our CRL", who);
	else
		snprintf(err, errlen, "TLS handshake refused: the peer's certificate (%s) does "
			 "not verify against our CA%s: %s", who,
			 X509_VERIFY_PARAM_get_flags(SSL_get0_param(ssl)) & X509_V_FLAG_CRL_CHECK ?
			 " and CRL" : "", X509_verify_cert_error_string(vr));
}

const char *tls__alert_hint(unsigned long e)
{
	if (ERR_GET_LIB(e) != ERR_LIB_SSL)
		return "";
	switch (ERR_GET_REASON(e)) {
	case SSL_R_SSLV3_ALERT_BAD_CERTIFICATE:
		/* OpenSSL's alert for a host name mismatch, among others. */
		return " (our certificate is refused there: is this the node its --tls-peer "
		       "names? its log says)";
	case SSL_R_SSLV3_ALERT_CERTIFICATE_REVOKED:
		return " (its CRL revokes our certificate)";
	case SSL_R_TLSV1_ALERT_UNKNOWN_CA:
		return " (our certificate does not chain to its CA)";
	}
	return "";
}

/* Every CRL of the file into the context's store; at least one. */
static int load_crl(SSL_CTX *ctx, const char *path, char *err, size_t errlen)
{
	X509_STORE *store = SSL_CTX_get_cert_store(ctx);
	BIO *bio = BIO_new_file(path, "r");
	X509_CRL *crl;
	int n = 0;

	if (!bio) {
		ssl_error(err, errlen, "cannot read the CRL file", path);
		return -EINVAL;
	}
	while ((crl = PEM_read_bio_X509_CRL(bio, NULL, NULL, NULL))) {
		int ok = X509_STORE_add_crl(store, crl);

		X509_CRL_free(crl);
		if (!ok) {
			BIO_free(bio);
			ssl_error(err, errlen, "cannot use the CRL in", path);
			return -EINVAL;
		}
		n++;
	}
	BIO_free(bio);
	ERR_clear_error();    /* the end of the file reads as "no start line" */
	if (!n) {
		snprintf(err, errlen, "TLS: the CRL file %s holds no CRL (PEM, X509 CRL)", path);
		return -EINVAL;
	}
	X509_VERIFY_PARAM_set_flags(SSL_CTX_get0_param(ctx), X509_V_FLAG_CRL_CHECK);
	return 0;
}

/*
 * Our own certificate checked with the CRL, now: a CRL of another CA, one
 * past its next update, or one that revokes us would refuse every peer
 * later, with a less telling message.
 */
static int check_own(SSL_CTX *ctx, const char *crl, char *err, size_t errlen)
{
	X509_STORE_CTX *xs = X509_STORE_CTX_new();
	STACK_OF(X509) *chain = NULL;
	int ok;

	SSL_CTX_get0_chain_certs(ctx, &chain);
	if (!xs || !X509_STORE_CTX_init(xs, SSL_CTX_get_cert_store(ctx),
					SSL_CTX_get0_certificate(ctx), chain)) {
		X509_STORE_CTX_free(xs);
		ssl_error(err, errlen, "cannot check our certificate with the CRL", crl);
		return -ENOMEM;
	}
	X509_STORE_CTX_set_flags(xs, X509_V_FLAG_CRL_CHECK);
	ok = X509_verify_cert(xs);
	if (ok != 1)
		snprintf(err, errlen, "TLS: our own certificate does not verify with the CRL %s: "
			 "%s", crl, X509_verify_cert_error_string(X509_STORE_CTX_get_error(xs)));
	X509_STORE_CTX_free(xs);
	ERR_clear_error();
	return ok == 1 ? 0 : -EINVAL;
}

/* The peer's certificate must name it: OpenSSL checks, during the handshake. */
static int set_peer(SSL_CTX *ctx, const char *peer, char *err, size_t errlen)
{
	X509_VERIFY_PARAM *vp = SSL_CTX_get0_param(ctx);

	/* Exact names only: a wildcard certificate is not a node. */
	X509_VERIFY_PARAM_set_hostflags(vp, X509_CHECK_FLAG_NO_WILDCARDS);
	if (X509_VERIFY_PARAM_set1_host(vp, peer, 0) != 1) {
		ssl_error(err, errlen, "cannot expect the peer name", peer);
		return -EINVAL;
	}
	return 0;
}

static int load_files(SSL_CTX *ctx, const struct mig_tls *t, char *err, size_t errlen)
{
	if (SSL_CTX_load_verify_locations(ctx, t->ca, NULL) != 1) {
		ssl_error(err, errlen, "cannot load the CA file", t->ca);
		return -EINVAL;
	}
	if (SSL_CTX_use_certificate_chain_file(ctx, t->cert) != 1) {
		ssl_error(err, errlen, "cannot load the certificate", t->cert);
		return -EINVAL;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, t->key, SSL_FILETYPE_PEM) != 1) {
		ssl_error(err, errlen, "cannot load the key", t->key);
		return -EINVAL;
	}
	if (SSL_CTX_check_private_key(ctx) != 1) {
		ssl_error(err, errlen, "the key does not match the certificate", t->cert);
		return -EINVAL;
	}
	if (t->crl && (load_crl(ctx, t->crl, err, errlen) || check_own(ctx, t->crl, err, errlen)))
		return -EINVAL;
	return 0;
}

int tls__ctx_new(SSL_CTX **out, const struct mig_tls *t, bool server, char *err,
		 size_t errlen)
{
	SSL_CTX *ctx = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());

	*out = NULL;
	pthread_once(&leaf_once, leaf_index);
	if (!ctx) {
		ssl_error(err, errlen, "cannot create a context", NULL);
		return -ENOMEM;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
	if (load_files(ctx, t, err, errlen) || set_peer(ctx, t->peer, err, errlen)) {
		SSL_CTX_free(ctx);
		return -EINVAL;
	}
	/* Mutual: the server asks for the client's certificate and insists. */
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER |
			   (server ? SSL_VERIFY_FAIL_IF_NO_PEER_CERT : 0), verify_cb);
	/* No session tickets: every migration is one full, fresh handshake. */
	SSL_CTX_set_num_tickets(ctx, 0);
	SSL_CTX_set_mode(ctx, SSL_MODE_AUTO_RETRY);
	*out = ctx;
	return 0;
}

void tls__ctx_free(SSL_CTX *ctx)
{
	SSL_CTX_free(ctx);
}
