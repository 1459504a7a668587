/* certgen.h — X.509 key and certificate generation with OpenSSL.
 *
 * server/tls.c makes the self-signed serving certificate (--cert-dir); the managed serving
 * certificate (--manage-serving-cert) makes a CA and a leaf signed by it. Keys are ECDSA P-256
 * (fast handshakes, accepted by Go clients). No globals: any thread. */
#ifndef TA_SERVER_CERTGEN_H
#define TA_SERVER_CERTGEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "apis/base/buf.h"
#include "apis/base/ta_err.h"

#define CERTGEN_MAX_SANS 64
#define CERTGEN_PEM_MAX  (64 * 1024) /* one certificate or key in PEM, with a chain */

struct certgen_request {
    const char *common_name;
    const char *const *sans; /* DNS names or IP literals (told apart automatically) */
    size_t nsans;
    int64_t not_before_s; /* unix seconds */
    int64_t not_after_s;
    bool is_ca; /* CA:TRUE, keyCertSign; else a serverAuth leaf */
    /* signer (PEM); both NULL for a self-signed certificate */
    const char *signer_cert_pem;
    const char *signer_key_pem;
};

/* Generates a key and a certificate; appends the PEM texts to cert_pem and key_pem (caps at
 * least CERTGEN_PEM_MAX). */
enum ta_rc certgen_make(const struct certgen_request *req, struct buf *cert_pem,
                        struct buf *key_pem, struct ta_err *err);

/* Facts about the first certificate of a PEM text, for reuse decisions. */
struct certgen_info {
    int64_t not_before_s;
    int64_t not_after_s;
    bool is_ca;
};
enum ta_rc certgen_inspect(const char *pem, size_t len, struct certgen_info *out,
                           struct ta_err *err);
/* True when the first certificate of pem covers name (a DNS SAN or an IP SAN). */
bool certgen_covers(const char *pem, size_t len, const char *name);
/* TA_OK when key_pem is the private key of the first certificate of cert_pem. */
enum ta_rc certgen_check_pair(const char *cert_pem, size_t cert_len, const char *key_pem,
                              size_t key_len, struct ta_err *err);

#endif
