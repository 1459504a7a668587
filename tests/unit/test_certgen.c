/* test_certgen.c — certificate generation checked with OpenSSL directly (subject, SANs, CA
 * flag, key usage, validity, signature, chain verification), and certgen_inspect,
 * certgen_covers and certgen_check_pair on good, mismatched, garbage, empty, oversized and
 * unterminated input. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/certgen.h"

#define NB 1700000000LL /* 2023-11-14T22:13:20Z */
#define NA 1731536000LL /* 2024-11-13T22:13:20Z: NB + 366 days */

struct pair {
    struct buf crt;
    struct buf key;
};

static struct pair make(const char *cn, bool ca, const char *const *sans, size_t nsans,
                        const struct pair *signer)
{
    struct pair p;
    buf_init(&p.crt, CERTGEN_PEM_MAX);
    buf_init(&p.key, CERTGEN_PEM_MAX);
    struct certgen_request r = {
        .common_name = cn,
        .sans = sans,
        .nsans = nsans,
        .not_before_s = NB,
        .not_after_s = NA,
        .is_ca = ca,
        .signer_cert_pem = signer ? buf_cstr(&signer->crt) : NULL,
        .signer_key_pem = signer ? buf_cstr(&signer->key) : NULL,
    };
    struct ta_err err = { 0 };
    cr_assert_eq(certgen_make(&r, &p.crt, &p.key, &err), TA_OK, "%s", err.msg);
    return p;
}

static void pair_free(struct pair *p)
{
    buf_free(&p->crt);
    buf_free(&p->key);
}

static X509 *x509_of(const struct buf *pem)
{
    BIO *bio = BIO_new_mem_buf(pem->data, (int)pem->len);
    X509 *c = PEM_read_bio_X509(bio, NULL, NULL, NULL);
    BIO_free(bio);
    cr_assert_not_null(c, "a PEM certificate");
    return c;
}

static EVP_PKEY *key_of(const struct buf *pem)
{
    BIO *bio = BIO_new_mem_buf(pem->data, (int)pem->len);
    EVP_PKEY *k = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
    BIO_free(bio);
    cr_assert_not_null(k, "a PEM private key");
    return k;
}

/* Heap copy of the PEM text without a terminating NUL: ASan catches any read past len. */
static char *unterminated(const struct buf *pem)
{
    char *p = malloc(pem->len);
    memcpy(p, pem->data, pem->len);
    return p;
}

static void time_text(const ASN1_TIME *t, char *out, size_t cap)
{
    BIO *bio = BIO_new(BIO_s_mem());
    cr_assert_eq(ASN1_TIME_print(bio, t), 1);
    int n = BIO_read(bio, out, (int)cap - 1);
    cr_assert_gt(n, 0);
    out[n] = '\0';
    BIO_free(bio);
}

static void cn_of(X509 *c, char *out, size_t cap)
{
    cr_assert_gt(X509_NAME_get_text_by_NID(X509_get_subject_name(c), NID_commonName, out, (int)cap),
                 0);
}

/* The SAN entries rendered as "DNS:x" / "IP:1.2.3.4" / "IP:::1", joined by ','. */
static void sans_of(X509 *c, char *out, size_t cap)
{
    out[0] = '\0';
    GENERAL_NAMES *gens = X509_get_ext_d2i(c, NID_subject_alt_name, NULL, NULL);
    if (!gens)
        return;
    size_t used = 0;
    for (int i = 0; i < sk_GENERAL_NAME_num(gens); i++) {
        const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
        char item[300];
        if (g->type == GEN_DNS) {
            snprintf(item, sizeof(item), "DNS:%.*s", ASN1_STRING_length(g->d.dNSName),
                     (const char *)ASN1_STRING_get0_data(g->d.dNSName));
        } else if (g->type == GEN_IPADD) {
            int len = ASN1_STRING_length(g->d.iPAddress);
            char ip[INET6_ADDRSTRLEN];
            cr_assert(len == 4 || len == 16, "IP SAN of %d bytes", len);
            inet_ntop(len == 4 ? AF_INET : AF_INET6, ASN1_STRING_get0_data(g->d.iPAddress), ip,
                      sizeof(ip));
            snprintf(item, sizeof(item), "IP:%s", ip);
        } else {
            snprintf(item, sizeof(item), "other:%d", g->type);
        }
        used += (size_t)snprintf(out + used, cap - used, "%s%s", i ? "," : "", item);
        cr_assert_lt(used, cap);
    }
    GENERAL_NAMES_free(gens);
}

/* X509_verify_cert of leaf against the CA ca, at a time inside the validity. */
static int verify_with(X509 *leaf, X509 *ca, int *error)
{
    X509_STORE *store = X509_STORE_new();
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    cr_assert_eq(X509_STORE_add_cert(store, ca), 1);
    cr_assert_eq(X509_STORE_CTX_init(ctx, store, leaf, NULL), 1);
    X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_SSL_SERVER);
    X509_VERIFY_PARAM_set_time(X509_STORE_CTX_get0_param(ctx), (time_t)(NB + 86400));
    int ok = X509_verify_cert(ctx);
    *error = X509_STORE_CTX_get_error(ctx);
    X509_STORE_CTX_free(ctx);
    X509_STORE_free(store);
    return ok;
}

/* ---- certgen_make -------------------------------------------------------------------------- */

Test(certgen, self_signed_leaf_has_subject_sans_and_validity)
{
    const char *sans[] = { "localhost", "tempo-adapter.svc", "127.0.0.1", "::1", "10.1.2.3" };
    struct pair p = make("tempo-adapter", false, sans, 5, NULL);
    cr_assert(strncmp(buf_cstr(&p.crt), "-----BEGIN CERTIFICATE-----\n", 28) == 0);
    cr_assert(strncmp(buf_cstr(&p.key), "-----BEGIN PRIVATE KEY-----\n", 28) == 0);
    X509 *c = x509_of(&p.crt);
    char text[1024];
    cn_of(c, text, sizeof(text));
    cr_assert_str_eq(text, "tempo-adapter");
    cr_assert_eq(X509_NAME_cmp(X509_get_subject_name(c), X509_get_issuer_name(c)), 0,
                 "self-signed: issuer is the subject");
    sans_of(c, text, sizeof(text));
    cr_assert_str_eq(text, "DNS:localhost,DNS:tempo-adapter.svc,IP:127.0.0.1,IP:::1,IP:10.1.2.3");
    time_text(X509_get0_notBefore(c), text, sizeof(text));
    cr_assert_str_eq(text, "Nov 14 22:13:20 2023 GMT");
    time_text(X509_get0_notAfter(c), text, sizeof(text));
    cr_assert_str_eq(text, "Nov 13 22:13:20 2024 GMT");
    cr_assert_eq(X509_get_version(c), 2, "X.509 v3");
    cr_assert_eq(X509_check_ca(c), 0, "a leaf is not a CA");
    cr_assert(X509_get_extension_flags(c) & EXFLAG_BCONS, "basicConstraints is present");
    cr_assert(X509_get_key_usage(c) & KU_DIGITAL_SIGNATURE);
    cr_assert_not(X509_get_key_usage(c) & KU_KEY_CERT_SIGN);
    cr_assert(X509_get_extended_key_usage(c) & XKU_SSL_SERVER);
    cr_assert_eq(X509_check_purpose(c, X509_PURPOSE_SSL_SERVER, 0), 1);

    EVP_PKEY *k = key_of(&p.key);
    cr_assert_eq(EVP_PKEY_get_base_id(k), EVP_PKEY_EC, "ECDSA");
    cr_assert_eq(EVP_PKEY_get_bits(k), 256, "P-256");
    cr_assert_eq(X509_check_private_key(c, k), 1, "the key belongs to the certificate");
    cr_assert_eq(X509_verify(c, k), 1, "signed by its own key");
    EVP_PKEY_free(k);
    X509_free(c);
    pair_free(&p);
}

Test(certgen, ca_certificate_has_the_ca_flag_and_may_sign)
{
    struct pair ca = make("test-ca", true, NULL, 0, NULL);
    X509 *c = x509_of(&ca.crt);
    cr_assert_eq(X509_check_ca(c), 1, "CA:TRUE with keyCertSign");
    cr_assert(X509_get_key_usage(c) & KU_KEY_CERT_SIGN);
    char text[256];
    sans_of(c, text, sizeof(text));
    cr_assert_str_eq(text, "", "no names asked, no SAN extension");
    X509_free(c);

    struct certgen_info info;
    struct ta_err err = { 0 };
    cr_assert_eq(certgen_inspect(ca.crt.data, ca.crt.len, &info, &err), TA_OK, "%s", err.msg);
    cr_assert(info.is_ca);
    pair_free(&ca);
}

Test(certgen, leaf_signed_by_a_ca_verifies_against_it)
{
    struct pair ca = make("test-ca", true, NULL, 0, NULL);
    const char *sans[] = { "tempo-adapter.tempo-adapter.svc" };
    struct pair leaf = make("tempo-adapter.tempo-adapter.svc", false, sans, 1, &ca);
    X509 *cac = x509_of(&ca.crt), *lc = x509_of(&leaf.crt);
    cr_assert_eq(X509_NAME_cmp(X509_get_issuer_name(lc), X509_get_subject_name(cac)), 0);
    cr_assert_eq(X509_check_issued(cac, lc), X509_V_OK, "the CA issued the leaf");
    int error = 0;
    cr_assert_eq(verify_with(lc, cac, &error), 1, "%s", X509_verify_cert_error_string(error));
    EVP_PKEY *leaf_key = key_of(&leaf.key);
    cr_assert_eq(X509_check_private_key(lc, leaf_key), 1, "the leaf key is the leaf's own");
    cr_assert_neq(X509_verify(lc, leaf_key), 1, "the leaf is not self-signed");
    EVP_PKEY_free(leaf_key);

    /* and not against another CA with the same name */
    struct pair other = make("test-ca", true, NULL, 0, NULL);
    X509 *oc = x509_of(&other.crt);
    cr_assert_neq(verify_with(lc, oc, &error), 1);
    X509_free(oc);
    X509_free(cac);
    X509_free(lc);
    pair_free(&other);
    pair_free(&leaf);
    pair_free(&ca);
}

Test(certgen, a_ca_signed_by_a_ca_can_sign_leaves)
{
    struct pair root = make("root", true, NULL, 0, NULL);
    struct pair mid = make("intermediate", true, NULL, 0, &root);
    const char *sans[] = { "127.0.0.1" };
    struct pair leaf = make("leaf", false, sans, 1, &mid);
    X509 *rc = x509_of(&root.crt), *mc = x509_of(&mid.crt), *lc = x509_of(&leaf.crt);
    X509_STORE *store = X509_STORE_new();
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    STACK_OF(X509) *untrusted = sk_X509_new_null();
    cr_assert(sk_X509_push(untrusted, mc));
    cr_assert_eq(X509_STORE_add_cert(store, rc), 1);
    cr_assert_eq(X509_STORE_CTX_init(ctx, store, lc, untrusted), 1);
    X509_VERIFY_PARAM_set_time(X509_STORE_CTX_get0_param(ctx), (time_t)(NB + 86400));
    cr_assert_eq(X509_verify_cert(ctx), 1, "%s",
                 X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx)));
    X509_STORE_CTX_free(ctx);
    X509_STORE_free(store);
    sk_X509_free(untrusted);
    X509_free(rc);
    X509_free(mc);
    X509_free(lc);
    pair_free(&leaf);
    pair_free(&mid);
    pair_free(&root);
}

Test(certgen, every_call_makes_a_new_key_and_serial)
{
    struct pair a = make("x", false, NULL, 0, NULL);
    struct pair b = make("x", false, NULL, 0, NULL);
    cr_assert_neq(strcmp(buf_cstr(&a.key), buf_cstr(&b.key)), 0);
    X509 *ca = x509_of(&a.crt), *cb = x509_of(&b.crt);
    cr_assert_neq(ASN1_INTEGER_cmp(X509_get0_serialNumber(ca), X509_get0_serialNumber(cb)), 0);
    BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(ca), NULL);
    cr_assert_not(BN_is_negative(bn), "serials are positive");
    BN_free(bn);
    X509_free(ca);
    X509_free(cb);
    pair_free(&a);
    pair_free(&b);
}

Test(certgen, appends_to_the_output_buffers)
{
    struct buf crt, key;
    buf_init(&crt, CERTGEN_PEM_MAX);
    buf_init(&key, CERTGEN_PEM_MAX);
    cr_assert_eq(buf_adds(&crt, "# bundle\n"), TA_OK);
    cr_assert_eq(buf_adds(&key, "# key\n"), TA_OK);
    struct certgen_request r = { .common_name = "a", .not_before_s = NB, .not_after_s = NA };
    cr_assert_eq(certgen_make(&r, &crt, &key, NULL), TA_OK);
    cr_assert(strncmp(buf_cstr(&crt), "# bundle\n-----BEGIN CERTIFICATE-----", 36) == 0);
    cr_assert(strncmp(buf_cstr(&key), "# key\n-----BEGIN PRIVATE KEY-----", 33) == 0);
    buf_free(&crt);
    buf_free(&key);
}

Test(certgen, accepts_exactly_the_maximum_number_of_names)
{
    static char names[CERTGEN_MAX_SANS][32];
    const char *sans[CERTGEN_MAX_SANS];
    for (int i = 0; i < CERTGEN_MAX_SANS; i++) {
        snprintf(names[i], sizeof(names[i]), "host-%d.example", i);
        sans[i] = names[i];
    }
    struct pair p = make("many", false, sans, CERTGEN_MAX_SANS, NULL);
    X509 *c = x509_of(&p.crt);
    GENERAL_NAMES *gens = X509_get_ext_d2i(c, NID_subject_alt_name, NULL, NULL);
    cr_assert_eq(sk_GENERAL_NAME_num(gens), CERTGEN_MAX_SANS);
    GENERAL_NAMES_free(gens);
    X509_free(c);
    cr_assert(certgen_covers(p.crt.data, p.crt.len, "host-0.example"));
    cr_assert(certgen_covers(p.crt.data, p.crt.len, "host-63.example"));
    pair_free(&p);
}

Test(certgen, refuses_one_name_past_the_maximum)
{
    const char *sans[CERTGEN_MAX_SANS + 1];
    for (int i = 0; i <= CERTGEN_MAX_SANS; i++)
        sans[i] = "a.example";
    struct certgen_request r = { .common_name = "x",
                                 .sans = sans,
                                 .nsans = CERTGEN_MAX_SANS + 1,
                                 .not_before_s = NB,
                                 .not_after_s = NA };
    struct buf crt, key;
    buf_init(&crt, CERTGEN_PEM_MAX);
    buf_init(&key, CERTGEN_PEM_MAX);
    struct ta_err err = { 0 };
    cr_assert_eq(certgen_make(&r, &crt, &key, &err), TA_TOO_LARGE);
    cr_assert_str_eq(err.msg, "more than 64 certificate names");
    cr_assert_eq(crt.len, 0, "nothing is written on failure");
    cr_assert_eq(key.len, 0);
    buf_free(&crt);
    buf_free(&key);
}

Test(certgen, refuses_names_that_would_inject_san_entries)
{
    const char *bad[] = { "a.example,IP:10.0.0.1", "DNS:evil.example", "x:y" };
    for (size_t i = 0; i < 3; i++) {
        const char *sans[] = { "ok.example", bad[i] };
        struct certgen_request r = {
            .common_name = "x", .sans = sans, .nsans = 2, .not_before_s = NB, .not_after_s = NA
        };
        struct buf crt, key;
        buf_init(&crt, CERTGEN_PEM_MAX);
        buf_init(&key, CERTGEN_PEM_MAX);
        struct ta_err err = { 0 };
        cr_assert_eq(certgen_make(&r, &crt, &key, &err), TA_INVALID, "%s", bad[i]);
        char want[128];
        snprintf(want, sizeof(want), "invalid certificate name '%s'", bad[i]);
        cr_assert_str_eq(err.msg, want);
        cr_assert_eq(crt.len, 0);
        buf_free(&crt);
        buf_free(&key);
    }
}

Test(certgen, signer_certificate_and_key_come_together)
{
    struct pair ca = make("ca", true, NULL, 0, NULL);
    struct certgen_request r = { .common_name = "x", .not_before_s = NB, .not_after_s = NA };
    struct buf crt, key;
    buf_init(&crt, CERTGEN_PEM_MAX);
    buf_init(&key, CERTGEN_PEM_MAX);
    struct ta_err err = { 0 };
    r.signer_cert_pem = buf_cstr(&ca.crt);
    cr_assert_eq(certgen_make(&r, &crt, &key, &err), TA_INVALID);
    cr_assert_str_eq(err.msg, "signer certificate and key must come together");
    r.signer_cert_pem = NULL;
    r.signer_key_pem = buf_cstr(&ca.key);
    cr_assert_eq(certgen_make(&r, &crt, &key, &err), TA_INVALID);
    cr_assert_str_eq(err.msg, "signer certificate and key must come together");
    cr_assert_eq(crt.len + key.len, 0);
    buf_free(&crt);
    buf_free(&key);
    pair_free(&ca);
}

Test(certgen, refuses_a_garbage_signer)
{
    struct pair ca = make("ca", true, NULL, 0, NULL);
    struct certgen_request r = { .common_name = "x",
                                 .not_before_s = NB,
                                 .not_after_s = NA,
                                 .signer_cert_pem = "not a certificate",
                                 .signer_key_pem = buf_cstr(&ca.key) };
    struct buf crt, key;
    buf_init(&crt, CERTGEN_PEM_MAX);
    buf_init(&key, CERTGEN_PEM_MAX);
    struct ta_err err = { 0 };
    cr_assert_neq(certgen_make(&r, &crt, &key, &err), TA_OK);
    cr_assert(strncmp(err.msg, "signer certificate or key: ", 27) == 0, "%s", err.msg);
    r.signer_cert_pem = buf_cstr(&ca.crt);
    r.signer_key_pem = "";
    cr_assert_neq(certgen_make(&r, &crt, &key, &err), TA_OK);
    cr_assert(strncmp(err.msg, "signer certificate or key: ", 27) == 0, "%s", err.msg);
    cr_assert_eq(crt.len + key.len, 0);
    buf_free(&crt);
    buf_free(&key);
    pair_free(&ca);
}

Test(certgen, output_over_the_buffer_cap_is_too_large)
{
    struct certgen_request r = { .common_name = "x", .not_before_s = NB, .not_after_s = NA };
    struct buf crt, key;
    buf_init(&crt, 100);
    buf_init(&key, CERTGEN_PEM_MAX);
    struct ta_err err = { 0 };
    cr_assert_eq(certgen_make(&r, &crt, &key, &err), TA_TOO_LARGE);
    cr_assert_str_eq(err.msg, "PEM output too large");
    cr_assert_eq(crt.len, 0);
    buf_free(&crt);
    buf_free(&key);
}

/* ---- certgen_inspect ----------------------------------------------------------------------- */

Test(certgen, inspect_reports_validity_and_ca_flag)
{
    struct pair ca = make("ca", true, NULL, 0, NULL);
    struct pair leaf = make("leaf", false, NULL, 0, &ca);
    struct certgen_info info;
    struct ta_err err = { 0 };
    cr_assert_eq(certgen_inspect(leaf.crt.data, leaf.crt.len, &info, &err), TA_OK, "%s", err.msg);
    cr_assert_eq(info.not_before_s, NB);
    cr_assert_eq(info.not_after_s, NA);
    cr_assert_not(info.is_ca);
    pair_free(&leaf);
    pair_free(&ca);
}

Test(certgen, inspect_reads_the_first_certificate_of_a_bundle)
{
    struct pair ca = make("ca", true, NULL, 0, NULL);
    struct pair leaf = make("leaf", false, NULL, 0, &ca);
    struct buf bundle;
    buf_init(&bundle, 2 * CERTGEN_PEM_MAX);
    cr_assert_eq(buf_add_slice(&bundle, buf_slice(&leaf.crt)), TA_OK);
    cr_assert_eq(buf_add_slice(&bundle, buf_slice(&ca.crt)), TA_OK);
    struct certgen_info info;
    cr_assert_eq(certgen_inspect(bundle.data, bundle.len, &info, NULL), TA_OK);
    cr_assert_not(info.is_ca, "the leaf comes first");
    buf_reset(&bundle);
    cr_assert_eq(buf_add_slice(&bundle, buf_slice(&ca.crt)), TA_OK);
    cr_assert_eq(buf_add_slice(&bundle, buf_slice(&leaf.crt)), TA_OK);
    cr_assert_eq(certgen_inspect(bundle.data, bundle.len, &info, NULL), TA_OK);
    cr_assert(info.is_ca);
    buf_free(&bundle);
    pair_free(&leaf);
    pair_free(&ca);
}

Test(certgen, inspect_reads_input_without_a_final_nul)
{
    struct pair p = make("x", false, NULL, 0, NULL);
    char *copy = unterminated(&p.crt);
    struct certgen_info info;
    cr_assert_eq(certgen_inspect(copy, p.crt.len, &info, NULL), TA_OK);
    cr_assert_eq(info.not_after_s, NA);
    /* only len bytes count: the text cut short is no certificate */
    struct ta_err err = { 0 };
    cr_assert_eq(certgen_inspect(copy, p.crt.len / 2, &info, &err), TA_INVALID);
    free(copy);
    pair_free(&p);
}

Test(certgen, inspect_refuses_garbage_empty_and_keys)
{
    struct pair p = make("x", false, NULL, 0, NULL);
    struct certgen_info info;
    struct ta_err err = { 0 };
    cr_assert_eq(certgen_inspect("garbage", 7, &info, &err), TA_INVALID);
    cr_assert_str_eq(err.msg, "no PEM certificate found");
    ta_err_clear(&err);
    cr_assert_eq(certgen_inspect("", 0, &info, &err), TA_INVALID);
    cr_assert_str_eq(err.msg, "no PEM certificate found");
    cr_assert_eq(certgen_inspect(p.key.data, p.key.len, &info, &err), TA_INVALID);
    const char broken[] = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
    cr_assert_eq(certgen_inspect(broken, sizeof(broken) - 1, &info, &err), TA_INVALID);
    /* an embedded NUL ends nothing: the bytes after it are not a certificate either */
    char nul[64] = "garbage";
    cr_assert_eq(certgen_inspect(nul, sizeof(nul), &info, NULL), TA_INVALID);
    pair_free(&p);
}

/* ---- certgen_covers ------------------------------------------------------------------------ */

Test(certgen, covers_dns_and_ip_names)
{
    const char *sans[] = { "tempo-adapter.svc", "*.wild.example", "127.0.0.1", "::1" };
    struct pair p = make("cn-only.example", false, sans, 4, NULL);
    const char *pem = p.crt.data;
    size_t len = p.crt.len;
    cr_assert(certgen_covers(pem, len, "tempo-adapter.svc"));
    cr_assert(certgen_covers(pem, len, "TEMPO-ADAPTER.SVC"), "DNS names compare case-blind");
    cr_assert(certgen_covers(pem, len, "127.0.0.1"));
    cr_assert(certgen_covers(pem, len, "::1"));
    cr_assert(certgen_covers(pem, len, "0:0:0:0:0:0:0:1"), "the address, not its spelling");
    cr_assert_not(certgen_covers(pem, len, "other.svc"));
    cr_assert_not(certgen_covers(pem, len, "svc"));
    cr_assert_not(certgen_covers(pem, len, "10.0.0.1"));
    cr_assert_not(certgen_covers(pem, len, "::2"));
    cr_assert_not(certgen_covers(pem, len, "a.wild.example"), "wildcards are not honoured");
    cr_assert_not(certgen_covers(pem, len, "cn-only.example"), "the CN is not a SAN");
    pair_free(&p);
}

Test(certgen, covers_is_false_for_garbage_and_reads_only_len_bytes)
{
    const char *sans[] = { "a.example" };
    struct pair p = make("x", false, sans, 1, NULL);
    cr_assert_not(certgen_covers("garbage", 7, "a.example"));
    cr_assert_not(certgen_covers("", 0, "a.example"));
    char *copy = unterminated(&p.crt);
    cr_assert(certgen_covers(copy, p.crt.len, "a.example"));
    cr_assert_not(certgen_covers(copy, 40, "a.example"));
    free(copy);
    pair_free(&p);
}

/* ---- certgen_check_pair -------------------------------------------------------------------- */

Test(certgen, check_pair_accepts_the_matching_key)
{
    struct pair p = make("x", false, NULL, 0, NULL);
    struct ta_err err = { 0 };
    cr_assert_eq(certgen_check_pair(p.crt.data, p.crt.len, p.key.data, p.key.len, &err), TA_OK,
                 "%s", err.msg);
    char *crt = unterminated(&p.crt), *key = unterminated(&p.key);
    cr_assert_eq(certgen_check_pair(crt, p.crt.len, key, p.key.len, &err), TA_OK,
                 "input without a final NUL: %s", err.msg);
    free(crt);
    free(key);
    pair_free(&p);
}

Test(certgen, check_pair_refuses_a_mismatched_key)
{
    struct pair a = make("a", false, NULL, 0, NULL);
    struct pair b = make("a", false, NULL, 0, NULL);
    struct ta_err err = { 0 };
    cr_assert_eq(certgen_check_pair(a.crt.data, a.crt.len, b.key.data, b.key.len, &err),
                 TA_INVALID);
    cr_assert_str_eq(err.msg, "the private key does not match the certificate");
    pair_free(&a);
    pair_free(&b);
}

Test(certgen, check_pair_refuses_garbage_and_empty_input)
{
    struct pair p = make("x", false, NULL, 0, NULL);
    struct ta_err err = { 0 };
    cr_assert_eq(certgen_check_pair("junk", 4, p.key.data, p.key.len, &err), TA_INVALID);
    cr_assert_str_eq(err.msg, "no PEM certificate found");
    cr_assert_eq(certgen_check_pair(p.crt.data, p.crt.len, "junk", 4, &err), TA_INVALID);
    cr_assert_str_eq(err.msg, "no PEM private key found");
    cr_assert_eq(certgen_check_pair(p.crt.data, p.crt.len, "", 0, &err), TA_INVALID);
    cr_assert_str_eq(err.msg, "no PEM private key found");
    cr_assert_eq(certgen_check_pair("", 0, "", 0, &err), TA_INVALID);
    cr_assert_str_eq(err.msg, "no PEM certificate found");
    /* key and certificate swapped */
    cr_assert_eq(certgen_check_pair(p.key.data, p.key.len, p.crt.data, p.crt.len, &err),
                 TA_INVALID);
    cr_assert_str_eq(err.msg, "no PEM certificate found");
    cr_assert_eq(certgen_check_pair(p.crt.data, p.crt.len, p.crt.data, p.crt.len, NULL),
                 TA_INVALID);
    /* the key cut short within len */
    cr_assert_eq(certgen_check_pair(p.crt.data, p.crt.len, p.key.data, p.key.len - 30, &err),
                 TA_INVALID);
    cr_assert_str_eq(err.msg, "no PEM private key found");
    pair_free(&p);
}

/* The key PEM followed by blank lines up to total bytes (PEM readers skip them). */
static char *padded_key(const struct pair *p, size_t total)
{
    cr_assert_lt(p->key.len, total);
    char *k = malloc(total);
    memcpy(k, p->key.data, p->key.len);
    memset(k + p->key.len, '\n', total - p->key.len);
    return k;
}

Test(certgen, check_pair_reads_a_key_of_exactly_the_limit)
{
    struct pair p = make("x", false, NULL, 0, NULL);
    char *k = padded_key(&p, CERTGEN_PEM_MAX);
    struct ta_err err = { 0 };
    cr_assert_eq(certgen_check_pair(p.crt.data, p.crt.len, k, CERTGEN_PEM_MAX, &err), TA_OK, "%s",
                 err.msg);
    free(k);
    pair_free(&p);
}

Test(certgen, check_pair_refuses_a_key_one_byte_past_the_limit)
{
    struct pair p = make("x", false, NULL, 0, NULL);
    char *k = padded_key(&p, CERTGEN_PEM_MAX + 1);
    struct ta_err err = { 0 };
    cr_assert_eq(certgen_check_pair(p.crt.data, p.crt.len, k, CERTGEN_PEM_MAX + 1, &err),
                 TA_TOO_LARGE);
    cr_assert_str_eq(err.msg, "private key PEM is larger than 65536 bytes");
    free(k);
    pair_free(&p);
}
