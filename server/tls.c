/* tls.c — serving identity: file loading, self-signed generation into --cert-dir, conversion
 * to GnuTLS, and the certificate callback. Thread rules: see tls.h (one mutex guards the
 * identity list; the callback only takes it to read the current pointer). */
#include "server/tls.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "apis/base/clock.h"
#include "apis/base/log.h"
#include "apis/base/ta_mem.h"
#include "server/certgen.h"
#include "server/fileio.h"

#define TLS_MAX_CHAIN 8

struct identity {
    gnutls_pcert_st pcerts[TLS_MAX_CHAIN];
    unsigned int npcerts;
    gnutls_privkey_t key;
    struct identity *older; /* replaced identities, freed at shutdown */
};

static struct {
    pthread_mutex_t mu;
    struct identity *current; /* guarded by mu */
} g_tls = { PTHREAD_MUTEX_INITIALIZER, NULL };

static void identity_free(struct identity *id)
{
    for (unsigned int i = 0; i < id->npcerts; i++)
        gnutls_pcert_deinit(&id->pcerts[i]);
    if (id->key)
        gnutls_privkey_deinit(id->key);
    free(id);
}

enum ta_rc tls_serving_install(struct slice cert_pem, struct slice key_pem, struct ta_err *err)
{
    struct identity *id = ta_xcalloc(1, sizeof(*id));
    gnutls_datum_t c = { (unsigned char *)cert_pem.ptr, (unsigned int)cert_pem.len };
    gnutls_datum_t k = { (unsigned char *)key_pem.ptr, (unsigned int)key_pem.len };
    id->npcerts = TLS_MAX_CHAIN;
    int r = gnutls_pcert_list_import_x509_raw(id->pcerts, &id->npcerts, &c, GNUTLS_X509_FMT_PEM, 0);
    if (r < 0 || id->npcerts == 0) {
        id->npcerts = 0;
        identity_free(id);
        return ta_err_set(err, TA_INVALID, "serving certificate: %s", gnutls_strerror(r));
    }
    r = gnutls_privkey_init(&id->key);
    if (r >= 0)
        r = gnutls_privkey_import_x509_raw(id->key, &k, GNUTLS_X509_FMT_PEM, NULL, 0);
    if (r < 0) {
        identity_free(id);
        return ta_err_set(err, TA_INVALID, "serving key: %s", gnutls_strerror(r));
    }
    pthread_mutex_lock(&g_tls.mu);
    id->older = g_tls.current;
    g_tls.current = id;
    pthread_mutex_unlock(&g_tls.mu);
    return TA_OK;
}

int tls_serving_retrieve(gnutls_session_t session, const gnutls_datum_t *req_ca_rdn, int nreqs,
                         const gnutls_pk_algorithm_t *pk_algos, int pk_algos_length,
                         gnutls_pcert_st **pcert, unsigned int *pcert_length,
                         gnutls_privkey_t *privkey)
{
    (void)req_ca_rdn;
    (void)nreqs;
    (void)pk_algos;
    (void)pk_algos_length;
    pthread_mutex_lock(&g_tls.mu);
    struct identity *id = g_tls.current;
    pthread_mutex_unlock(&g_tls.mu);
    if (!id)
        return -1;
    /* Ask for a client certificate without requiring one; no CA names are sent (the
     * credentials hold no trust list), so Go clients offer their front-proxy certificate
     * whatever CA signed it, and authentication verifies it (server/authn.c). */
    gnutls_certificate_server_set_request(session, GNUTLS_CERT_REQUEST);
    *pcert = id->pcerts;
    *pcert_length = id->npcerts;
    *privkey = id->key;
    return 0;
}

void tls_serving_shutdown(void)
{
    pthread_mutex_lock(&g_tls.mu);
    struct identity *id = g_tls.current;
    g_tls.current = NULL;
    pthread_mutex_unlock(&g_tls.mu);
    while (id) {
        struct identity *next = id->older;
        identity_free(id);
        id = next;
    }
}

/* The names every self-signed certificate covers, before the --tls-sans ones. */
static const char *const BASE_SANS[] = { "localhost", "127.0.0.1", "::1" };
#define NBASE_SANS (sizeof(BASE_SANS) / sizeof(BASE_SANS[0]))

/* The names the self-signed certificate must cover. */
static size_t wanted_sans(const struct flags *f, const char **out, size_t cap)
{
    size_t n = 0;
    for (size_t i = 0; i < NBASE_SANS && n < cap; i++)
        out[n++] = BASE_SANS[i];
    for (size_t i = 0; i < f->tls_sans.n && n < cap; i++)
        out[n++] = f->tls_sans.items[i];
    return n;
}

static bool reusable(const struct flags *f, struct buf *cert, struct buf *key)
{
    struct certgen_info info;
    const char *sans[CERTGEN_MAX_SANS];
    int64_t now = clock_wall_ns() / NS_PER_SEC;
    if (certgen_inspect(cert->data, cert->len, &info, NULL) != TA_OK ||
        info.not_after_s < now + 86400 ||
        certgen_check_pair(cert->data, cert->len, key->data, key->len, NULL) != TA_OK)
        return false;
    size_t n = wanted_sans(f, sans, CERTGEN_MAX_SANS);
    for (size_t i = 0; i < n; i++)
        if (!certgen_covers(cert->data, cert->len, sans[i]))
            return false;
    return true;
}

static enum ta_rc generate(const struct flags *f, const char *crt_path, const char *key_path,
                           struct buf *cert, struct buf *key, struct ta_err *err)
{
    const char *sans[CERTGEN_MAX_SANS];
    int64_t now = clock_wall_ns() / NS_PER_SEC;
    struct certgen_request req = {
        .common_name = "tempo-adapter",
        .sans = sans,
        .nsans = wanted_sans(f, sans, CERTGEN_MAX_SANS),
        .not_before_s = now - 3600,
        .not_after_s = now + TLS_SELF_SIGNED_DAYS * 86400LL,
    };
    buf_reset(cert);
    buf_reset(key);
    enum ta_rc rc = certgen_make(&req, cert, key, err);
    if (rc == TA_OK)
        rc = file_mkdir_p(f->cert_dir, 0700, err);
    if (rc == TA_OK)
        rc = file_write_atomic(key_path, key->data, key->len, 0600, err);
    if (rc == TA_OK)
        rc = file_write_atomic(crt_path, cert->data, cert->len, 0644, err);
    if (rc == TA_OK)
        LOG_INFO("generated a self-signed serving certificate in %s", f->cert_dir);
    return rc;
}

enum ta_rc tls_serving_load(const struct flags *f, struct buf *cert_pem, struct buf *key_pem,
                            struct ta_err *err)
{
    enum ta_rc rc;
    if (f->tls_cert_file) {
        rc = file_read_all(f->tls_cert_file, TLS_PEM_FILE_MAX, cert_pem, err);
        if (rc == TA_OK)
            rc = file_read_all(f->tls_private_key_file, TLS_PEM_FILE_MAX, key_pem, err);
        if (rc == TA_OK)
            rc =
                certgen_check_pair(cert_pem->data, cert_pem->len, key_pem->data, key_pem->len, err);
        if (rc != TA_OK)
            return ta_err_prefix(err, "--tls-cert-file %s", f->tls_cert_file);
        return TA_OK;
    }
    if (f->tls_sans.n > CERTGEN_MAX_SANS - NBASE_SANS) /* never leave a name out silently */
        return ta_err_set(err, TA_TOO_LARGE, "--tls-sans: at most %zu names",
                          CERTGEN_MAX_SANS - NBASE_SANS);
    struct buf crt_path, key_path;
    buf_init(&crt_path, 4096);
    buf_init(&key_path, 4096);
    if (buf_addf(&crt_path, "%s/apiserver.crt", f->cert_dir) != TA_OK ||
        buf_addf(&key_path, "%s/apiserver.key", f->cert_dir) != TA_OK) {
        rc = ta_err_set(err, TA_TOO_LARGE, "--cert-dir path too long");
        goto out;
    }
    rc = file_read_all(buf_cstr(&crt_path), TLS_PEM_FILE_MAX, cert_pem, NULL);
    if (rc == TA_OK)
        rc = file_read_all(buf_cstr(&key_path), TLS_PEM_FILE_MAX, key_pem, NULL);
    if (rc == TA_OK && reusable(f, cert_pem, key_pem)) {
        LOG_INFO("using the serving certificate in %s", f->cert_dir);
        goto out;
    }
    rc = generate(f, buf_cstr(&crt_path), buf_cstr(&key_path), cert_pem, key_pem, err);
    if (rc != TA_OK)
        ta_err_prefix(err, "--cert-dir %s", f->cert_dir);
out:
    buf_free(&crt_path);
    buf_free(&key_path);
    return rc;
}
