/* tls.h — the HTTPS serving identity: load or generate it, and hand it to GnuTLS.
 *
 * main calls tls_serving_load (files, or a self-signed certificate kept in --cert-dir) and
 * tls_serving_install before the API listener starts; the serving-certificate manager calls
 * tls_serving_install again to rotate. server/http.c registers tls_serving_retrieve as
 * libmicrohttpd's certificate callback: it returns the current identity and asks the client for
 * a certificate without requiring one (probes and bearer-token clients have none; front-proxy
 * requests do). GnuTLS gives the callback no user pointer, so the current identity is a
 * process-wide slot guarded by a mutex; replaced identities stay allocated until
 * tls_serving_shutdown (handshakes in progress may still use them). */
#ifndef TA_SERVER_TLS_H
#define TA_SERVER_TLS_H

#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>

#include "apis/base/buf.h"
#include "apis/base/slice.h"
#include "apis/base/ta_err.h"
#include "server/flags.h"

#define TLS_PEM_FILE_MAX     (256 * 1024) /* a certificate chain or key file */
#define TLS_SELF_SIGNED_DAYS 365
#define TLS_PRIORITIES       "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2:%SERVER_PRECEDENCE"

/* Fills cert_pem/key_pem (caps >= TLS_PEM_FILE_MAX) from --tls-cert-file/--tls-private-key-file,
 * or from <cert-dir>/apiserver.{crt,key}, generating them when missing, expiring within a day,
 * or not covering localhost, 127.0.0.1, ::1 and every --tls-sans name. */
enum ta_rc tls_serving_load(const struct flags *f, struct buf *cert_pem, struct buf *key_pem,
                            struct ta_err *err);
/* Parses the PEM texts and makes them the identity served from the next handshake on. */
enum ta_rc tls_serving_install(struct slice cert_pem, struct slice key_pem, struct ta_err *err);
/* gnutls_certificate_retrieve_function2 for libmicrohttpd's MHD_OPTION_HTTPS_CERT_CALLBACK. */
int tls_serving_retrieve(gnutls_session_t session, const gnutls_datum_t *req_ca_rdn, int nreqs,
                         const gnutls_pk_algorithm_t *pk_algos, int pk_algos_length,
                         gnutls_pcert_st **pcert, unsigned int *pcert_length,
                         gnutls_privkey_t *privkey);
/* Frees every identity; only after the listener has stopped. */
void tls_serving_shutdown(void);

#endif
