/* certgen.c — key and certificate generation and inspection with OpenSSL 3.
 *
 * Used at startup (self-signed serving certificate) and by the serving-certificate manager.
 * Every OpenSSL object is freed at the one out: label. Any thread. */
#include "server/certgen.h"

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <string.h>

static enum ta_rc ossl_fail(struct ta_err *err, const char *what)
{
    char detail[160];
    unsigned long e = ERR_get_error();
    ERR_error_string_n(e, detail, sizeof(detail));
    ERR_clear_error();
    return ta_err_set(err, TA_INTERNAL, "%s: %s", what, e ? detail : "unknown OpenSSL error");
}

static bool is_ip(const char *s)
{
    unsigned char tmp[16];
    return inet_pton(AF_INET, s, tmp) == 1 || inet_pton(AF_INET6, s, tmp) == 1;
}

static enum ta_rc add_ext(X509 *cert, X509 *issuer, int nid, const char *value, struct ta_err *err)
{
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, issuer, cert, NULL, NULL, 0);
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    if (!ext)
        return ossl_fail(err, "certificate extension");
    int ok = X509_add_ext(cert, ext, -1);
    X509_EXTENSION_free(ext);
    return ok ? TA_OK : ossl_fail(err, "certificate extension");
}

/* "DNS:a,IP:1.2.3.4,…" for the subjectAltName extension. */
static enum ta_rc san_text(const struct certgen_request *req, struct buf *out, struct ta_err *err)
{
    for (size_t i = 0; i < req->nsans; i++) {
        const char *s = req->sans[i];
        if (strpbrk(s, ",:") && !is_ip(s))
            return ta_err_set(err, TA_INVALID, "invalid certificate name '%.64s'", s);
        if (buf_addf(out, "%s%s:%s", i ? "," : "", is_ip(s) ? "IP" : "DNS", s) != TA_OK)
            return ta_err_set(err, TA_TOO_LARGE, "too many certificate names");
    }
    return TA_OK;
}

static enum ta_rc pem_out(BIO *bio, struct buf *out, struct ta_err *err)
{
    char *data = NULL;
    long len = BIO_get_mem_data(bio, &data);
    if (len <= 0 || buf_add(out, data, (size_t)len) != TA_OK)
        return ta_err_set(err, TA_TOO_LARGE, "PEM output too large");
    return TA_OK;
}

static X509 *read_cert(const char *pem)
{
    BIO *bio = BIO_new_mem_buf(pem, -1);
    X509 *c = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
    BIO_free(bio);
    return c;
}

static EVP_PKEY *read_key(const char *pem)
{
    BIO *bio = BIO_new_mem_buf(pem, -1);
    EVP_PKEY *k = bio ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : NULL;
    BIO_free(bio);
    return k;
}

enum ta_rc certgen_make(const struct certgen_request *req, struct buf *cert_pem,
                        struct buf *key_pem, struct ta_err *err)
{
    enum ta_rc rc = TA_INTERNAL;
    EVP_PKEY *key = NULL, *signer_key = NULL;
    X509 *cert = NULL, *signer = NULL;
    BIO *cbio = NULL, *kbio = NULL;
    struct buf sans;
    buf_init(&sans, 16 * 1024);

    if (req->nsans > CERTGEN_MAX_SANS) {
        rc = ta_err_set(err, TA_TOO_LARGE, "more than %d certificate names", CERTGEN_MAX_SANS);
        goto out;
    }
    if ((req->signer_cert_pem == NULL) != (req->signer_key_pem == NULL)) {
        rc = ta_err_set(err, TA_INVALID, "signer certificate and key must come together");
        goto out;
    }
    key = EVP_EC_gen("P-256");
    cert = X509_new();
    if (!key || !cert) {
        rc = ossl_fail(err, "key generation");
        goto out;
    }
    if (req->signer_cert_pem) {
        signer = read_cert(req->signer_cert_pem);
        signer_key = read_key(req->signer_key_pem);
        if (!signer || !signer_key) {
            rc = ossl_fail(err, "signer certificate or key");
            goto out;
        }
    }
    unsigned char serial[16];
    if (RAND_bytes(serial, sizeof(serial)) != 1) {
        rc = ossl_fail(err, "serial number");
        goto out;
    }
    serial[0] &= 0x7f; /* positive */
    BIGNUM *bn = BN_bin2bn(serial, sizeof(serial), NULL);
    int serial_ok = bn && BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert)) != NULL;
    BN_free(bn);
    X509_NAME *name = X509_get_subject_name(cert);
    if (!serial_ok || !X509_set_version(cert, 2) ||
        !ASN1_TIME_set(X509_getm_notBefore(cert), (time_t)req->not_before_s) ||
        !ASN1_TIME_set(X509_getm_notAfter(cert), (time_t)req->not_after_s) ||
        !X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                                    (const unsigned char *)req->common_name, -1, -1, 0) ||
        !X509_set_issuer_name(cert, signer ? X509_get_subject_name(signer) : name) ||
        !X509_set_pubkey(cert, key)) {
        rc = ossl_fail(err, "certificate fields");
        goto out;
    }
    X509 *issuer = signer ? signer : cert;
    if (req->is_ca) {
        rc = add_ext(cert, issuer, NID_basic_constraints, "critical,CA:TRUE", err);
        if (rc == TA_OK)
            rc = add_ext(cert, issuer, NID_key_usage,
                         "critical,keyCertSign,cRLSign,digitalSignature", err);
    } else {
        rc = add_ext(cert, issuer, NID_basic_constraints, "critical,CA:FALSE", err);
        if (rc == TA_OK)
            rc = add_ext(cert, issuer, NID_key_usage, "critical,digitalSignature,keyEncipherment",
                         err);
        if (rc == TA_OK)
            rc = add_ext(cert, issuer, NID_ext_key_usage, "serverAuth", err);
    }
    if (rc == TA_OK)
        rc = add_ext(cert, issuer, NID_subject_key_identifier, "hash", err);
    if (rc == TA_OK && signer)
        rc = add_ext(cert, issuer, NID_authority_key_identifier, "keyid:always", err);
    if (rc == TA_OK && req->nsans) {
        rc = san_text(req, &sans, err);
        if (rc == TA_OK)
            rc = add_ext(cert, issuer, NID_subject_alt_name, buf_cstr(&sans), err);
    }
    if (rc != TA_OK)
        goto out;
    if (X509_sign(cert, signer_key ? signer_key : key, EVP_sha256()) <= 0) {
        rc = ossl_fail(err, "certificate signature");
        goto out;
    }
    cbio = BIO_new(BIO_s_mem());
    kbio = BIO_new(BIO_s_mem());
    if (!cbio || !kbio || !PEM_write_bio_X509(cbio, cert) ||
        !PEM_write_bio_PrivateKey(kbio, key, NULL, NULL, 0, NULL, NULL)) {
        rc = ossl_fail(err, "PEM encoding");
        goto out;
    }
    rc = pem_out(cbio, cert_pem, err);
    if (rc == TA_OK)
        rc = pem_out(kbio, key_pem, err);
out:
    buf_free(&sans);
    BIO_free(cbio);
    BIO_free(kbio);
    X509_free(cert);
    X509_free(signer);
    EVP_PKEY_free(key);
    EVP_PKEY_free(signer_key);
    return rc;
}

static X509 *read_cert_n(const char *pem, size_t len)
{
    if (len > CERTGEN_PEM_MAX * 16)
        return NULL;
    BIO *bio = BIO_new_mem_buf(pem, (int)len);
    X509 *c = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
    BIO_free(bio);
    ERR_clear_error();
    return c;
}

static int64_t asn1_unix(const ASN1_TIME *t)
{
    struct tm tm;
    if (!t || ASN1_TIME_to_tm(t, &tm) != 1)
        return 0;
    return (int64_t)timegm(&tm);
}

enum ta_rc certgen_inspect(const char *pem, size_t len, struct certgen_info *out,
                           struct ta_err *err)
{
    X509 *c = read_cert_n(pem, len);
    if (!c)
        return ta_err_set(err, TA_INVALID, "no PEM certificate found");
    out->not_before_s = asn1_unix(X509_get0_notBefore(c));
    out->not_after_s = asn1_unix(X509_get0_notAfter(c));
    out->is_ca = X509_check_ca(c) != 0;
    X509_free(c);
    return TA_OK;
}

bool certgen_covers(const char *pem, size_t len, const char *name)
{
    X509 *c = read_cert_n(pem, len);
    if (!c)
        return false;
    bool ok;
    if (is_ip(name))
        ok = X509_check_ip_asc(c, name, 0) == 1;
    else
        ok = X509_check_host(c, name, strlen(name), X509_CHECK_FLAG_NO_WILDCARDS, NULL) == 1;
    X509_free(c);
    return ok;
}

enum ta_rc certgen_check_pair(const char *cert_pem, size_t cert_len, const char *key_pem,
                              size_t key_len, struct ta_err *err)
{
    if (key_len > CERTGEN_PEM_MAX)
        return ta_err_set(err, TA_TOO_LARGE, "private key PEM is larger than %d bytes",
                          CERTGEN_PEM_MAX);
    enum ta_rc rc = TA_OK;
    X509 *c = read_cert_n(cert_pem, cert_len);
    BIO *bio = BIO_new_mem_buf(key_pem, (int)key_len);
    EVP_PKEY *k = bio ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : NULL;
    if (!c)
        rc = ta_err_set(err, TA_INVALID, "no PEM certificate found");
    else if (!k)
        rc = ta_err_set(err, TA_INVALID, "no PEM private key found");
    else if (X509_check_private_key(c, k) != 1)
        rc = ta_err_set(err, TA_INVALID, "the private key does not match the certificate");
    ERR_clear_error();
    EVP_PKEY_free(k);
    BIO_free(bio);
    X509_free(c);
    return rc;
}
