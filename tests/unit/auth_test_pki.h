/* auth_test_pki.h — test-only X.509 material made with OpenSSL, and request views, for the auth
 * unit tests (test_authn, test_authcfg, test_authz, test_kube_client, test_kubeconfig).
 *
 * A header of static functions rather than a shared tests/unit helper (.c), so it is compiled
 * only into the tests that include it. Keys are ECDSA P-256. Nothing here is thread-safe
 * beyond what OpenSSL gives; each criterion test runs in its own process. */
#ifndef TA_TESTS_AUTH_TEST_PKI_H
#define TA_TESTS_AUTH_TEST_PKI_H

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "server/request.h"

#define TPKI_UNUSED __attribute__((unused))

struct tpki_cert {
    EVP_PKEY *key;
    X509 *x;
};

struct tpki_spec {
    const char *cn;                 /* NULL: no CN */
    const char *orgs[4];            /* O values, NULL-terminated */
    const struct tpki_cert *issuer; /* NULL: self-signed */
    bool ca;
    const char *eku;   /* "clientAuth", "serverAuth" or NULL (no extension) */
    long not_before_s; /* offset from now */
    long not_after_s;  /* offset from now */
    const char *san;   /* e.g. "IP:127.0.0.1,DNS:localhost" or NULL */
};

static TPKI_UNUSED void tpki_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
    X509V3_CTX ctx;
    X509V3_set_ctx(&ctx, issuer, x, NULL, NULL, 0);
    X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    if (!e)
        abort();
    X509_add_ext(x, e, -1);
    X509_EXTENSION_free(e);
}

static TPKI_UNUSED struct tpki_cert tpki_make(const struct tpki_spec *s)
{
    static long serial = 1000;
    struct tpki_cert c = { EVP_EC_gen("P-256"), X509_new() };
    if (!c.key || !c.x)
        abort();
    X509_set_version(c.x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(c.x), serial++);
    X509_NAME *n = X509_NAME_new();
    for (int i = 0; i < 4 && s->orgs[i]; i++)
        X509_NAME_add_entry_by_txt(n, "O", MBSTRING_UTF8, (const unsigned char *)s->orgs[i], -1, -1,
                                   0);
    if (s->cn)
        X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_UTF8, (const unsigned char *)s->cn, -1, -1, 0);
    X509_set_subject_name(c.x, n);
    X509_set_issuer_name(c.x, s->issuer ? X509_get_subject_name(s->issuer->x) : n);
    X509_NAME_free(n);
    X509_gmtime_adj(X509_getm_notBefore(c.x), s->not_before_s);
    X509_gmtime_adj(X509_getm_notAfter(c.x), s->not_after_s);
    X509_set_pubkey(c.x, c.key);
    X509 *iss = s->issuer ? s->issuer->x : c.x;
    if (s->ca) {
        tpki_ext(c.x, iss, NID_basic_constraints, "critical,CA:TRUE");
        tpki_ext(c.x, iss, NID_key_usage, "critical,keyCertSign,cRLSign");
    } else {
        tpki_ext(c.x, iss, NID_basic_constraints, "CA:FALSE");
        tpki_ext(c.x, iss, NID_key_usage, "critical,digitalSignature");
    }
    tpki_ext(c.x, iss, NID_subject_key_identifier, "hash");
    if (s->issuer)
        tpki_ext(c.x, iss, NID_authority_key_identifier, "keyid");
    if (s->eku)
        tpki_ext(c.x, iss, NID_ext_key_usage, s->eku);
    if (s->san)
        tpki_ext(c.x, iss, NID_subject_alt_name, s->san);
    if (!X509_sign(c.x, s->issuer ? s->issuer->key : c.key, EVP_sha256()))
        abort();
    return c;
}

/* A CA valid from an hour ago for a year. */
static TPKI_UNUSED struct tpki_cert tpki_ca(const char *cn)
{
    struct tpki_spec s = {
        .cn = cn, .ca = true, .not_before_s = -3600, .not_after_s = 86400 * 365
    };
    return tpki_make(&s);
}

/* A clientAuth leaf valid from an hour ago for a year. */
static TPKI_UNUSED struct tpki_cert tpki_client(const char *cn, const struct tpki_cert *issuer)
{
    struct tpki_spec s = { .cn = cn,
                           .issuer = issuer,
                           .eku = "clientAuth",
                           .not_before_s = -3600,
                           .not_after_s = 86400 * 365 };
    return tpki_make(&s);
}

static TPKI_UNUSED void tpki_free(struct tpki_cert *c)
{
    EVP_PKEY_free(c->key);
    X509_free(c->x);
    c->key = NULL;
    c->x = NULL;
}

/* malloc'd PEM text of the certificate. */
static TPKI_UNUSED char *tpki_pem(const struct tpki_cert *c)
{
    BIO *b = BIO_new(BIO_s_mem());
    PEM_write_bio_X509(b, c->x);
    char *p;
    long n = BIO_get_mem_data(b, &p);
    char *s = malloc((size_t)n + 1);
    memcpy(s, p, (size_t)n);
    s[n] = '\0';
    BIO_free(b);
    return s;
}

static TPKI_UNUSED char *tpki_key_pem(const struct tpki_cert *c)
{
    BIO *b = BIO_new(BIO_s_mem());
    PEM_write_bio_PrivateKey(b, c->key, NULL, NULL, 0, NULL, NULL);
    char *p;
    long n = BIO_get_mem_data(b, &p);
    char *s = malloc((size_t)n + 1);
    memcpy(s, p, (size_t)n);
    s[n] = '\0';
    BIO_free(b);
    return s;
}

/* malloc'd DER of the certificate; *len its size. */
static TPKI_UNUSED unsigned char *tpki_der(const struct tpki_cert *c, size_t *len)
{
    unsigned char *der = NULL;
    int n = i2d_X509(c->x, &der);
    if (n <= 0)
        abort();
    unsigned char *copy = malloc((size_t)n);
    memcpy(copy, der, (size_t)n);
    OPENSSL_free(der);
    *len = (size_t)n;
    return copy;
}

static TPKI_UNUSED void tpki_write(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (!f)
        abort();
    fputs(text, f);
    fclose(f);
}

/* ---- request views ---------------------------------------------------------------------- */

#define TREQ_MAX_HEADERS 64
#define TREQ_MAX_CERTS   20

struct treq {
    struct request r;
    struct request_header h[TREQ_MAX_HEADERS];
    struct slice certs[TREQ_MAX_CERTS];
    unsigned char *der[TREQ_MAX_CERTS];
};

static TPKI_UNUSED void treq_init(struct treq *t, const char *path)
{
    memset(t, 0, sizeof(*t));
    t->r.method = SLICE_LIT("GET");
    t->r.path = slice_from_cstr(path);
    t->r.headers = t->h;
    t->r.peer_certs = t->certs;
    t->r.tls = true;
    t->r.remote_addr = SLICE_LIT("127.0.0.1:40000");
}

static TPKI_UNUSED void treq_header(struct treq *t, const char *name, const char *value)
{
    t->h[t->r.nheaders].name = slice_from_cstr(name);
    t->h[t->r.nheaders].value = slice_from_cstr(value);
    t->r.nheaders++;
}

static TPKI_UNUSED void treq_cert(struct treq *t, const struct tpki_cert *c)
{
    size_t n = t->r.npeer_certs;
    size_t len;
    t->der[n] = tpki_der(c, &len);
    t->certs[n] = slice_make((const char *)t->der[n], len);
    t->r.npeer_certs++;
}

static TPKI_UNUSED void treq_free(struct treq *t)
{
    for (size_t i = 0; i < TREQ_MAX_CERTS; i++)
        free(t->der[i]);
}

#endif
