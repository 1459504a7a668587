/* test_tls.c — the serving identity: tls_serving_load with flags from flags_parse (a self-signed
 * certificate generated into --cert-dir, reused, regenerated when it no longer fits; files given
 * with --tls-cert-file/--tls-private-key-file), tls_serving_install and the certificate
 * callback tls_serving_retrieve. Each test has its own temporary directory. */
#include <criterion/criterion.h>
#include <gnutls/gnutls.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "server/certgen.h"
#include "server/tls.h"

static char dir[64];
static char cert_dir[128];

static void setup(void)
{
    umask(022);
    snprintf(dir, sizeof(dir), "/tmp/ta-tls-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    snprintf(cert_dir, sizeof(cert_dir), "%s/certs", dir);
}

static void teardown(void)
{
    tls_serving_shutdown();
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    cr_assert_eq(system(cmd), 0);
}

TestSuite(tls, .init = setup, .fini = teardown);

/* ---- helpers ------------------------------------------------------------------------------- */

/* flags_parse of "tempo-adapter" plus up to 6 arguments (NULL-terminated). */
static void parse(struct flags *f, const char *a1, const char *a2, const char *a3, const char *a4)
{
    const char *in[] = { a1, a2, a3, a4 };
    char *argv[5] = { "tempo-adapter" };
    int argc = 1;
    for (int i = 0; i < 4 && in[i]; i++)
        argv[argc++] = (char *)in[i];
    struct ta_err err = { 0 };
    cr_assert_eq(flags_parse(argc, argv, f, &err), TA_OK, "%s", err.msg);
}

struct pem {
    struct buf crt;
    struct buf key;
};

static void pem_init(struct pem *p)
{
    buf_init(&p->crt, TLS_PEM_FILE_MAX);
    buf_init(&p->key, TLS_PEM_FILE_MAX);
}

static void pem_free(struct pem *p)
{
    buf_free(&p->crt);
    buf_free(&p->key);
}

static enum ta_rc load(const struct flags *f, struct pem *p, struct ta_err *err)
{
    pem_init(p);
    return tls_serving_load(f, &p->crt, &p->key, err);
}

static bool same(const struct buf *a, const struct buf *b)
{
    return a->len == b->len && memcmp(a->data, b->data, a->len) == 0;
}

static char *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "%s", path);
    char *data = malloc(TLS_PEM_FILE_MAX);
    *n = fread(data, 1, TLS_PEM_FILE_MAX, f);
    fclose(f);
    return data;
}

static void put(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f, "%s", path);
    cr_assert_eq(fwrite(data, 1, n, f), n);
    cr_assert_eq(fclose(f), 0);
}

static void file_in(char *out, size_t cap, const char *d, const char *name)
{
    cr_assert_lt((size_t)snprintf(out, cap, "%s/%s", d, name), cap);
}

static void expect_file_is(const char *name, const struct buf *want, mode_t mode)
{
    char path[256];
    file_in(path, sizeof(path), cert_dir, name);
    size_t n;
    char *got = slurp(path, &n);
    cr_assert_eq(n, want->len, "%s", name);
    cr_assert_eq(memcmp(got, want->data, n), 0, "%s holds the returned bytes", name);
    free(got);
    struct stat st;
    cr_assert_eq(stat(path, &st), 0);
    cr_assert_eq(st.st_mode & 0777, mode, "%s mode %o", name, st.st_mode & 0777);
}

static void make_pair(const char *const *sans, size_t nsans, int64_t nb, int64_t na,
                      struct pem *out)
{
    pem_init(out);
    struct certgen_request r = {
        .common_name = "given", .sans = sans, .nsans = nsans, .not_before_s = nb, .not_after_s = na
    };
    struct ta_err err = { 0 };
    cr_assert_eq(certgen_make(&r, &out->crt, &out->key, &err), TA_OK, "%s", err.msg);
}

static int64_t now_s(void)
{
    return (int64_t)time(NULL);
}

/* ---- tls_serving_load: self-signed in --cert-dir ------------------------------------------- */

Test(tls, generates_a_self_signed_certificate_on_first_load)
{
    struct flags f;
    parse(&f, "--cert-dir", cert_dir, NULL, NULL);
    struct pem p;
    struct ta_err err = { 0 };
    int64_t before = now_s();
    cr_assert_eq(load(&f, &p, &err), TA_OK, "%s", err.msg);
    int64_t after = now_s();
    cr_assert_eq(certgen_check_pair(p.crt.data, p.crt.len, p.key.data, p.key.len, &err), TA_OK,
                 "%s", err.msg);
    const char *names[] = { "localhost", "127.0.0.1", "::1" };
    for (size_t i = 0; i < 3; i++)
        cr_assert(certgen_covers(p.crt.data, p.crt.len, names[i]), "covers %s", names[i]);
    cr_assert_not(certgen_covers(p.crt.data, p.crt.len, "example.com"));
    struct certgen_info info;
    cr_assert_eq(certgen_inspect(p.crt.data, p.crt.len, &info, NULL), TA_OK);
    cr_assert_not(info.is_ca);
    cr_assert_leq(info.not_before_s, before, "valid already");
    cr_assert_geq(info.not_after_s, before + TLS_SELF_SIGNED_DAYS * 86400LL);
    cr_assert_leq(info.not_after_s, after + TLS_SELF_SIGNED_DAYS * 86400LL);
    expect_file_is("apiserver.crt", &p.crt, 0644);
    expect_file_is("apiserver.key", &p.key, 0600);
    pem_free(&p);
    flags_free(&f);
}

Test(tls, reuses_the_certificate_on_the_second_load)
{
    struct flags f;
    parse(&f, "--cert-dir", cert_dir, NULL, NULL);
    struct pem first, second;
    cr_assert_eq(load(&f, &first, NULL), TA_OK);
    cr_assert_eq(load(&f, &second, NULL), TA_OK);
    cr_assert(same(&first.crt, &second.crt), "same certificate bytes");
    cr_assert(same(&first.key, &second.key), "same key bytes");
    pem_free(&first);
    pem_free(&second);
    flags_free(&f);
}

Test(tls, regenerates_when_tls_sans_adds_a_name)
{
    struct flags f, g;
    parse(&f, "--cert-dir", cert_dir, NULL, NULL);
    parse(&g, "--cert-dir", cert_dir, "--tls-sans", "adapter.example,10.1.2.3");
    struct pem first, second, third;
    cr_assert_eq(load(&f, &first, NULL), TA_OK);
    cr_assert_eq(load(&g, &second, NULL), TA_OK);
    cr_assert_not(same(&first.crt, &second.crt), "a new certificate");
    cr_assert_not(same(&first.key, &second.key), "with a new key");
    cr_assert(certgen_covers(second.crt.data, second.crt.len, "adapter.example"));
    cr_assert(certgen_covers(second.crt.data, second.crt.len, "10.1.2.3"));
    cr_assert(certgen_covers(second.crt.data, second.crt.len, "localhost"), "and the base names");
    expect_file_is("apiserver.crt", &second.crt, 0644);
    expect_file_is("apiserver.key", &second.key, 0600);
    cr_assert_eq(load(&g, &third, NULL), TA_OK);
    cr_assert(same(&second.crt, &third.crt), "then reused");
    /* the bigger certificate still covers all the first flags want: kept */
    pem_free(&third);
    cr_assert_eq(load(&f, &third, NULL), TA_OK);
    cr_assert(same(&second.crt, &third.crt));
    pem_free(&first);
    pem_free(&second);
    pem_free(&third);
    flags_free(&f);
    flags_free(&g);
}

Test(tls, regenerates_a_certificate_that_expires_within_a_day)
{
    cr_assert_eq(mkdir(cert_dir, 0700), 0);
    const char *names[] = { "localhost", "127.0.0.1", "::1" };
    struct pem old;
    make_pair(names, 3, now_s() - 86400, now_s() + 3600, &old);
    char crt[256], key[256];
    file_in(crt, sizeof(crt), cert_dir, "apiserver.crt");
    file_in(key, sizeof(key), cert_dir, "apiserver.key");
    put(crt, old.crt.data, old.crt.len);
    put(key, old.key.data, old.key.len);
    struct flags f;
    parse(&f, "--cert-dir", cert_dir, NULL, NULL);
    struct pem p;
    cr_assert_eq(load(&f, &p, NULL), TA_OK);
    cr_assert_not(same(&p.crt, &old.crt));
    struct certgen_info info;
    cr_assert_eq(certgen_inspect(p.crt.data, p.crt.len, &info, NULL), TA_OK);
    cr_assert_gt(info.not_after_s, now_s() + 300 * 86400LL);
    pem_free(&p);

    /* the same names valid for two days are kept */
    pem_free(&old);
    make_pair(names, 3, now_s() - 86400, now_s() + 2 * 86400, &old);
    put(crt, old.crt.data, old.crt.len);
    put(key, old.key.data, old.key.len);
    cr_assert_eq(load(&f, &p, NULL), TA_OK);
    cr_assert(same(&p.crt, &old.crt));
    cr_assert(same(&p.key, &old.key));
    pem_free(&p);
    pem_free(&old);
    flags_free(&f);
}

Test(tls, regenerates_over_a_mismatched_or_garbage_pair)
{
    struct flags f;
    parse(&f, "--cert-dir", cert_dir, NULL, NULL);
    struct pem first, p;
    cr_assert_eq(load(&f, &first, NULL), TA_OK);
    char crt[256], key[256];
    file_in(crt, sizeof(crt), cert_dir, "apiserver.crt");
    file_in(key, sizeof(key), cert_dir, "apiserver.key");

    struct pem other;
    make_pair(NULL, 0, now_s() - 60, now_s() + 86400 * 30, &other);
    put(key, other.key.data, other.key.len); /* a key of another certificate */
    cr_assert_eq(load(&f, &p, NULL), TA_OK);
    cr_assert_not(same(&p.crt, &first.crt));
    cr_assert_eq(certgen_check_pair(p.crt.data, p.crt.len, p.key.data, p.key.len, NULL), TA_OK);
    pem_free(&p);

    put(crt, "garbage", 7);
    cr_assert_eq(load(&f, &p, NULL), TA_OK);
    cr_assert_eq(certgen_check_pair(p.crt.data, p.crt.len, p.key.data, p.key.len, NULL), TA_OK);
    expect_file_is("apiserver.crt", &p.crt, 0644);
    pem_free(&p);

    cr_assert_eq(remove(key), 0); /* the key alone is missing */
    cr_assert_eq(load(&f, &p, NULL), TA_OK);
    expect_file_is("apiserver.key", &p.key, 0600);
    pem_free(&p);
    pem_free(&other);
    pem_free(&first);
    flags_free(&f);
}

Test(tls, creates_nested_cert_dirs_and_reports_an_unusable_one)
{
    char nested[192];
    snprintf(nested, sizeof(nested), "%s/a/b/c", dir);
    struct flags f;
    parse(&f, "--cert-dir", nested, NULL, NULL);
    struct pem p;
    cr_assert_eq(load(&f, &p, NULL), TA_OK);
    pem_free(&p);
    flags_free(&f);

    char blocked[256], file[192];
    file_in(file, sizeof(file), dir, "file");
    put(file, "x", 1);
    snprintf(blocked, sizeof(blocked), "%s/sub", file);
    parse(&f, "--cert-dir", blocked, NULL, NULL);
    struct ta_err err = { 0 };
    cr_assert_neq(load(&f, &p, &err), TA_OK);
    char want[320];
    snprintf(want, sizeof(want), "--cert-dir %s: ", blocked);
    cr_assert(strncmp(err.msg, want, strlen(want)) == 0, "%s", err.msg);
    pem_free(&p);
    flags_free(&f);
}

Test(tls, refuses_more_tls_sans_than_a_certificate_holds)
{
    /* localhost, 127.0.0.1 and ::1 come first: CERTGEN_MAX_SANS - 3 more fit */
    struct buf list;
    buf_init(&list, 8192);
    for (int i = 0; i < CERTGEN_MAX_SANS - 3; i++)
        cr_assert_eq(buf_addf(&list, "%sn%d.example", i ? "," : "", i), TA_OK);
    struct flags f;
    parse(&f, "--cert-dir", cert_dir, "--tls-sans", buf_cstr(&list));
    struct pem p;
    struct ta_err err = { 0 };
    cr_assert_eq(load(&f, &p, &err), TA_OK, "%s", err.msg);
    cr_assert(certgen_covers(p.crt.data, p.crt.len, "n60.example"), "the last name is there");
    pem_free(&p);
    flags_free(&f);

    cr_assert_eq(buf_adds(&list, ",one-more.example"), TA_OK);
    parse(&f, "--cert-dir", cert_dir, "--tls-sans", buf_cstr(&list));
    cr_assert_eq(load(&f, &p, &err), TA_TOO_LARGE, "a name is never silently left out");
    cr_assert_str_eq(err.msg, "--tls-sans: at most 61 names");
    pem_free(&p);
    flags_free(&f);
    buf_free(&list);
}

/* ---- tls_serving_load: --tls-cert-file / --tls-private-key-file ----------------------------- */

Test(tls, loads_the_given_files)
{
    const char *names[] = { "given.example" };
    struct pem given;
    make_pair(names, 1, now_s() - 60, now_s() + 3600, &given); /* expiry is not our concern */
    char crt[192], key[192];
    file_in(crt, sizeof(crt), dir, "tls.crt");
    file_in(key, sizeof(key), dir, "tls.key");
    put(crt, given.crt.data, given.crt.len);
    put(key, given.key.data, given.key.len);
    struct flags f;
    parse(&f, "--tls-cert-file", crt, "--tls-private-key-file", key);
    struct pem p;
    struct ta_err err = { 0 };
    cr_assert_eq(load(&f, &p, &err), TA_OK, "%s", err.msg);
    cr_assert(same(&p.crt, &given.crt));
    cr_assert(same(&p.key, &given.key));
    struct stat st;
    cr_assert_neq(stat(cert_dir, &st), 0, "nothing is generated");
    pem_free(&p);
    pem_free(&given);
    flags_free(&f);
}

Test(tls, refuses_a_mismatched_file_pair)
{
    struct pem a, b;
    make_pair(NULL, 0, now_s() - 60, now_s() + 86400, &a);
    make_pair(NULL, 0, now_s() - 60, now_s() + 86400, &b);
    char crt[192], key[192];
    file_in(crt, sizeof(crt), dir, "tls.crt");
    file_in(key, sizeof(key), dir, "tls.key");
    put(crt, a.crt.data, a.crt.len);
    put(key, b.key.data, b.key.len);
    struct flags f;
    parse(&f, "--tls-cert-file", crt, "--tls-private-key-file", key);
    struct pem p;
    struct ta_err err = { 0 };
    cr_assert_eq(load(&f, &p, &err), TA_INVALID);
    char want[512];
    snprintf(want, sizeof(want),
             "--tls-cert-file %s: the private key does not match the certificate", crt);
    cr_assert_str_eq(err.msg, want);
    pem_free(&p);
    pem_free(&a);
    pem_free(&b);
    flags_free(&f);
}

Test(tls, reports_missing_or_garbage_files)
{
    char crt[192], key[192];
    file_in(crt, sizeof(crt), dir, "tls.crt");
    file_in(key, sizeof(key), dir, "tls.key");
    struct flags f;
    parse(&f, "--tls-cert-file", crt, "--tls-private-key-file", key);
    struct pem p;
    struct ta_err err = { 0 };
    cr_assert_eq(load(&f, &p, &err), TA_NOT_FOUND);
    char want[512];
    snprintf(want, sizeof(want), "--tls-cert-file %s: cannot open %s: No such file or directory",
             crt, crt);
    cr_assert_str_eq(err.msg, want);
    pem_free(&p);

    struct pem a;
    make_pair(NULL, 0, now_s() - 60, now_s() + 86400, &a);
    put(crt, a.crt.data, a.crt.len);
    cr_assert_eq(load(&f, &p, &err), TA_NOT_FOUND, "the key file is missing");
    pem_free(&p);
    put(key, "not a key", 9);
    cr_assert_eq(load(&f, &p, &err), TA_INVALID);
    snprintf(want, sizeof(want), "--tls-cert-file %s: no PEM private key found", crt);
    cr_assert_str_eq(err.msg, want);
    pem_free(&p);
    pem_free(&a);
    flags_free(&f);
}

/* ---- tls_serving_install and tls_serving_retrieve ------------------------------------------ */

/* DER of the first certificate of pem, by OpenSSL. */
static unsigned char *der_of(const struct buf *pem, int *len)
{
    BIO *bio = BIO_new_mem_buf(pem->data, (int)pem->len);
    X509 *c = PEM_read_bio_X509(bio, NULL, NULL, NULL);
    BIO_free(bio);
    cr_assert_not_null(c);
    unsigned char *der = NULL;
    *len = i2d_X509(c, &der);
    cr_assert_gt(*len, 0);
    X509_free(c);
    return der;
}

static int retrieve(gnutls_pcert_st **pcert, unsigned int *n, gnutls_privkey_t *key)
{
    gnutls_session_t s;
    cr_assert_eq(gnutls_init(&s, GNUTLS_SERVER), 0);
    int r = tls_serving_retrieve(s, NULL, 0, NULL, 0, pcert, n, key);
    gnutls_deinit(s);
    return r;
}

Test(tls, retrieve_fails_before_any_install)
{
    gnutls_pcert_st *pc = NULL;
    unsigned int n = 0;
    gnutls_privkey_t k = NULL;
    cr_assert_lt(retrieve(&pc, &n, &k), 0);
}

Test(tls, install_serves_the_new_identity)
{
    struct pem a, b;
    make_pair(NULL, 0, now_s() - 60, now_s() + 86400, &a);
    make_pair(NULL, 0, now_s() - 60, now_s() + 86400, &b);
    struct ta_err err = { 0 };
    cr_assert_eq(tls_serving_install(buf_slice(&a.crt), buf_slice(&a.key), &err), TA_OK, "%s",
                 err.msg);
    gnutls_pcert_st *pc = NULL;
    unsigned int n = 0;
    gnutls_privkey_t k = NULL;
    cr_assert_eq(retrieve(&pc, &n, &k), 0);
    cr_assert_eq(n, 1);
    cr_assert_not_null(k);
    int len;
    unsigned char *der = der_of(&a.crt, &len);
    cr_assert_eq(pc[0].cert.size, (unsigned)len);
    cr_assert_eq(memcmp(pc[0].cert.data, der, (size_t)len), 0);
    OPENSSL_free(der);

    /* a rotation: the next handshake gets b */
    cr_assert_eq(tls_serving_install(buf_slice(&b.crt), buf_slice(&b.key), &err), TA_OK, "%s",
                 err.msg);
    cr_assert_eq(retrieve(&pc, &n, &k), 0);
    der = der_of(&b.crt, &len);
    cr_assert_eq(pc[0].cert.size, (unsigned)len);
    cr_assert_eq(memcmp(pc[0].cert.data, der, (size_t)len), 0);
    OPENSSL_free(der);
    pem_free(&a);
    pem_free(&b);
}

Test(tls, install_keeps_a_whole_chain_and_reads_unterminated_input)
{
    struct pem ca;
    pem_init(&ca);
    struct certgen_request r = { .common_name = "ca",
                                 .not_before_s = now_s() - 60,
                                 .not_after_s = now_s() + 86400,
                                 .is_ca = true };
    cr_assert_eq(certgen_make(&r, &ca.crt, &ca.key, NULL), TA_OK);
    struct pem leaf;
    pem_init(&leaf);
    r.common_name = "leaf";
    r.is_ca = false;
    r.signer_cert_pem = buf_cstr(&ca.crt);
    r.signer_key_pem = buf_cstr(&ca.key);
    cr_assert_eq(certgen_make(&r, &leaf.crt, &leaf.key, NULL), TA_OK);
    cr_assert_eq(buf_add_slice(&leaf.crt, buf_slice(&ca.crt)), TA_OK); /* leaf, then CA */

    char *crt = malloc(leaf.crt.len), *key = malloc(leaf.key.len);
    memcpy(crt, leaf.crt.data, leaf.crt.len);
    memcpy(key, leaf.key.data, leaf.key.len);
    struct ta_err err = { 0 };
    cr_assert_eq(
        tls_serving_install(slice_make(crt, leaf.crt.len), slice_make(key, leaf.key.len), &err),
        TA_OK, "%s", err.msg);
    free(crt);
    free(key); /* the identity keeps its own copy */
    gnutls_pcert_st *pc = NULL;
    unsigned int n = 0;
    gnutls_privkey_t k = NULL;
    cr_assert_eq(retrieve(&pc, &n, &k), 0);
    cr_assert_eq(n, 2, "leaf and CA are both sent");
    int len;
    unsigned char *der = der_of(&ca.crt, &len);
    cr_assert_eq(pc[1].cert.size, (unsigned)len);
    cr_assert_eq(memcmp(pc[1].cert.data, der, (size_t)len), 0);
    OPENSSL_free(der);
    pem_free(&leaf);
    pem_free(&ca);
}

Test(tls, install_rejects_garbage_pem)
{
    struct pem a;
    make_pair(NULL, 0, now_s() - 60, now_s() + 86400, &a);
    struct ta_err err = { 0 };
    cr_assert_eq(tls_serving_install(SLICE_LIT("garbage"), buf_slice(&a.key), &err), TA_INVALID);
    cr_assert(strncmp(err.msg, "serving certificate: ", 21) == 0, "%s", err.msg);
    cr_assert_eq(tls_serving_install(SLICE_LIT(""), buf_slice(&a.key), &err), TA_INVALID);
    cr_assert(strncmp(err.msg, "serving certificate: ", 21) == 0, "%s", err.msg);
    cr_assert_eq(tls_serving_install(buf_slice(&a.crt), SLICE_LIT("garbage"), &err), TA_INVALID);
    cr_assert(strncmp(err.msg, "serving key: ", 13) == 0, "%s", err.msg);
    cr_assert_eq(tls_serving_install(buf_slice(&a.crt), SLICE_LIT(""), &err), TA_INVALID);
    cr_assert(strncmp(err.msg, "serving key: ", 13) == 0, "%s", err.msg);
    cr_assert_eq(tls_serving_install(buf_slice(&a.key), buf_slice(&a.crt), &err), TA_INVALID,
                 "swapped");

    gnutls_pcert_st *pc = NULL;
    unsigned int n = 0;
    gnutls_privkey_t k = NULL;
    cr_assert_lt(retrieve(&pc, &n, &k), 0, "a refused identity is not installed");
    pem_free(&a);
}

Test(tls, a_refused_install_keeps_the_current_identity)
{
    struct pem a;
    make_pair(NULL, 0, now_s() - 60, now_s() + 86400, &a);
    cr_assert_eq(tls_serving_install(buf_slice(&a.crt), buf_slice(&a.key), NULL), TA_OK);
    cr_assert_eq(tls_serving_install(buf_slice(&a.crt), SLICE_LIT("junk"), NULL), TA_INVALID);
    gnutls_pcert_st *pc = NULL;
    unsigned int n = 0;
    gnutls_privkey_t k = NULL;
    cr_assert_eq(retrieve(&pc, &n, &k), 0);
    int len;
    unsigned char *der = der_of(&a.crt, &len);
    cr_assert_eq(pc[0].cert.size, (unsigned)len);
    cr_assert_eq(memcmp(pc[0].cert.data, der, (size_t)len), 0);
    OPENSSL_free(der);
    pem_free(&a);
}
