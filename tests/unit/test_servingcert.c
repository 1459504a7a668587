/* test_servingcert.c — the managed serving certificate: names, the validity decision,
 * generation, the Secret and APIService bodies, and servingcert_start against the scripted
 * kube-apiserver stub (create, update, 409 conflict, RBAC errors, a foreign APIService).
 * Certificates for the decision tests are made with certgen at fixed dates around NOW. */
#include <criterion/criterion.h>
#include <curl/curl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "apis/base/parse.h"
#include "server/certgen.h"
#include "server/flags.h"
#include "server/kube_client.h"
#include "server/servingcert.h"
#include "server/tls.h"
#include "tests/unit/auth_test_server.h"

#define NOW 1800000000LL /* 2027-01-15T08:00:00Z */
#define DAY 86400LL

static const char *const NAMES4[4] = { "tempo-adapter.tempo-adapter.svc",
                                       "tempo-adapter.tempo-adapter", "tempo-adapter",
                                       "tempo-adapter.tempo-adapter.svc.cluster.local" };

/* ---- helpers ------------------------------------------------------------------------------- */

struct pair {
    struct buf crt;
    struct buf key;
};

static struct pair make_cert(const char *cn, bool ca, int64_t nb, int64_t na,
                             const char *const *sans, size_t nsans, const struct pair *signer)
{
    struct pair p;
    buf_init(&p.crt, CERTGEN_PEM_MAX);
    buf_init(&p.key, CERTGEN_PEM_MAX);
    struct certgen_request r = {
        .common_name = cn,
        .sans = sans,
        .nsans = nsans,
        .not_before_s = nb,
        .not_after_s = na,
        .is_ca = ca,
        .signer_cert_pem = signer ? buf_cstr(&signer->crt) : NULL,
        .signer_key_pem = signer ? buf_cstr(&signer->key) : NULL,
    };
    struct ta_err err = { 0 };
    cr_assert_eq(certgen_make(&r, &p.crt, &p.key, &err), TA_OK, "%s", err.msg);
    return p;
}

static struct pair make_ca(int64_t nb, int64_t na)
{
    return make_cert("test-ca", true, nb, na, NULL, 0, NULL);
}

static struct pair make_leaf(const struct pair *ca, int64_t nb, int64_t na)
{
    return make_cert("tempo-adapter.tempo-adapter.svc", false, nb, na, NAMES4, 4, ca);
}

static void pair_free(struct pair *p)
{
    buf_free(&p->crt);
    buf_free(&p->key);
}

static void add(struct buf *b, const struct buf *from)
{
    cr_assert_eq(buf_add_slice(b, buf_slice(from)), TA_OK);
}

/* pems from a CA and a leaf (either may be NULL). */
static void pems_of(struct servingcert_pems *p, const struct pair *ca, const struct pair *leaf)
{
    servingcert_pems_init(p);
    if (ca) {
        add(&p->ca_crt, &ca->crt);
        add(&p->ca_key, &ca->key);
    }
    if (leaf) {
        add(&p->tls_crt, &leaf->crt);
        add(&p->tls_key, &leaf->key);
    }
}

static struct servingcert_names names(void)
{
    struct servingcert_names n;
    cr_assert_eq(servingcert_names_make("tempo-adapter", "tempo-adapter", &n, NULL), TA_OK);
    return n;
}

static const char *date_of(int64_t t)
{
    static char s[32];
    time_t tt = (time_t)t;
    struct tm tm;
    gmtime_r(&tt, &tm);
    strftime(s, sizeof(s), "%Y-%m-%dT%H:%M:%SZ", &tm);
    return s;
}

static size_t count_certs(const struct buf *b)
{
    size_t n = 0;
    for (const char *p = buf_cstr(b); (p = strstr(p, "-----BEGIN CERTIFICATE-----")); p++)
        n++;
    return n;
}

/* The verdict for ca/leaf at NOW; *why gets the reason. */
static enum servingcert_verdict verdict(const struct pair *ca, const struct pair *leaf,
                                        struct ta_err *why)
{
    struct servingcert_pems p;
    pems_of(&p, ca, leaf);
    struct servingcert_names n = names();
    enum servingcert_verdict v = servingcert_check(&p, &n, NOW, why);
    servingcert_pems_free(&p);
    return v;
}

/* Malloc'd copy of text without a final NUL (len must rule). */
static struct slice exact(const char *text, char **owned)
{
    size_t n = strlen(text);
    *owned = malloc(n ? n : 1);
    memcpy(*owned, text, n);
    return slice_make(*owned, n);
}

/* ---- names ----------------------------------------------------------------------------------- */

Test(servingcert, names_are_the_four_service_names_in_order)
{
    struct servingcert_names n;
    cr_assert_eq(servingcert_names_make("tempo-adapter", "monitoring", &n, NULL), TA_OK);
    cr_assert_str_eq(n.name[0], "tempo-adapter.monitoring.svc");
    cr_assert_str_eq(n.name[1], "tempo-adapter.monitoring");
    cr_assert_str_eq(n.name[2], "tempo-adapter");
    cr_assert_str_eq(n.name[3], "tempo-adapter.monitoring.svc.cluster.local");
}

Test(servingcert, names_reject_a_service_that_is_not_a_dns_1035_label)
{
    struct servingcert_names n;
    struct ta_err err = { 0 };
    cr_assert_eq(servingcert_names_make("Tempo", "ns", &n, &err), TA_INVALID);
    cr_assert_str_eq(err.msg, "--service-name: \"Tempo\" is not a DNS label");
    cr_assert_eq(servingcert_names_make("1tempo", "ns", &n, &err), TA_INVALID);
    cr_assert_eq(servingcert_names_make("tempo-", "ns", &n, &err), TA_INVALID);
    cr_assert_eq(servingcert_names_make("te.mpo", "ns", &n, &err), TA_INVALID);
    cr_assert_eq(servingcert_names_make("", "ns", &n, &err), TA_INVALID);
}

Test(servingcert, names_accept_a_namespace_starting_with_a_digit_but_not_other_forms)
{
    struct servingcert_names n;
    struct ta_err err = { 0 };
    cr_assert_eq(servingcert_names_make("svc", "1ns", &n, &err), TA_OK, "%s", err.msg);
    cr_assert_str_eq(n.name[0], "svc.1ns.svc");
    cr_assert_eq(servingcert_names_make("svc", "a/b", &n, &err), TA_INVALID);
    cr_assert_str_eq(err.msg, "--service-namespace: \"a/b\" is not a DNS label");
    cr_assert_eq(servingcert_names_make("svc", "-ns", &n, &err), TA_INVALID);
    cr_assert_eq(servingcert_names_make("svc", "NS", &n, &err), TA_INVALID);
}

Test(servingcert, names_accept_63_bytes_and_reject_64)
{
    char l63[64], l64[65];
    memset(l63, 'a', 63);
    l63[63] = '\0';
    memset(l64, 'a', 64);
    l64[64] = '\0';
    struct servingcert_names n;
    cr_assert_eq(servingcert_names_make(l63, l63, &n, NULL), TA_OK);
    cr_assert_eq(strlen(n.name[3]), 63 + 1 + 63 + strlen(".svc.cluster.local"));
    cr_assert_eq(servingcert_names_make(l64, "ns", &n, NULL), TA_INVALID);
    cr_assert_eq(servingcert_names_make("svc", l64, &n, NULL), TA_INVALID);
}

/* ---- the decision ---------------------------------------------------------------------------- */

Test(servingcert, check_accepts_a_ca_and_leaf_valid_for_longer_than_30_days)
{
    struct pair ca = make_ca(NOW - DAY, NOW + 3650 * DAY);
    struct pair leaf = make_leaf(&ca, NOW - DAY, NOW + 365 * DAY);
    struct ta_err why = { .rc = TA_OK, .msg = "untouched" };
    cr_assert_eq(verdict(&ca, &leaf, &why), SERVINGCERT_VALID, "%s", why.msg);
    cr_assert_str_eq(why.msg, "untouched");
    pair_free(&leaf);
    pair_free(&ca);
}

Test(servingcert, check_renews_everything_when_the_secret_is_empty)
{
    struct ta_err why = { 0 };
    cr_assert_eq(verdict(NULL, NULL, &why), SERVINGCERT_RENEW_ALL);
    cr_assert_str_eq(why.msg, "ca.crt or ca.key is missing");
    cr_assert_eq(why.rc, TA_INVALID);
}

Test(servingcert, check_renews_a_ca_expiring_within_30_days_and_keeps_one_past_the_limit)
{
    struct ta_err why = { 0 };
    struct pair ca = make_ca(NOW - DAY, NOW + 30 * DAY); /* exactly 30 days: renew */
    struct pair leaf = make_leaf(&ca, NOW - DAY, NOW + 365 * DAY);
    cr_assert_eq(verdict(&ca, &leaf, &why), SERVINGCERT_RENEW_ALL);
    char want[128];
    snprintf(want, sizeof(want), "ca.crt expires within 30 days (%s)", date_of(NOW + 30 * DAY));
    cr_assert_str_eq(why.msg, want);
    pair_free(&leaf);
    pair_free(&ca);

    ca = make_ca(NOW - DAY, NOW + 30 * DAY + 1); /* one second more: keep */
    leaf = make_leaf(&ca, NOW - DAY, NOW + 365 * DAY);
    cr_assert_eq(verdict(&ca, &leaf, &why), SERVINGCERT_VALID, "%s", why.msg);
    pair_free(&leaf);
    pair_free(&ca);
}

Test(servingcert, check_renews_an_expired_ca)
{
    struct ta_err why = { 0 };
    struct pair ca = make_ca(NOW - 400 * DAY, NOW - DAY);
    cr_assert_eq(verdict(&ca, NULL, &why), SERVINGCERT_RENEW_ALL);
    char want[128];
    snprintf(want, sizeof(want), "ca.crt has expired (%s)", date_of(NOW - DAY));
    cr_assert_str_eq(why.msg, want);
    pair_free(&ca);
}

Test(servingcert, check_renews_a_ca_not_valid_yet)
{
    struct ta_err why = { 0 };
    struct pair ca = make_ca(NOW + 60, NOW + 3650 * DAY);
    cr_assert_eq(verdict(&ca, NULL, &why), SERVINGCERT_RENEW_ALL);
    char want[128];
    snprintf(want, sizeof(want), "ca.crt is not valid before %s", date_of(NOW + 60));
    cr_assert_str_eq(why.msg, want);
    pair_free(&ca);
}

Test(servingcert, check_renews_a_ca_that_is_not_a_ca)
{
    struct ta_err why = { 0 };
    struct pair notca = make_cert("leaf", false, NOW - DAY, NOW + 3650 * DAY, NULL, 0, NULL);
    cr_assert_eq(verdict(&notca, NULL, &why), SERVINGCERT_RENEW_ALL);
    cr_assert_str_eq(why.msg, "ca.crt is not a CA certificate");
    pair_free(&notca);
}

Test(servingcert, check_renews_a_ca_whose_key_does_not_match)
{
    struct ta_err why = { 0 };
    struct pair ca = make_ca(NOW - DAY, NOW + 3650 * DAY);
    struct pair other = make_ca(NOW - DAY, NOW + 3650 * DAY);
    struct servingcert_pems p;
    servingcert_pems_init(&p);
    add(&p.ca_crt, &ca.crt);
    add(&p.ca_key, &other.key);
    struct servingcert_names n = names();
    cr_assert_eq(servingcert_check(&p, &n, NOW, &why), SERVINGCERT_RENEW_ALL);
    cr_assert_str_eq(why.msg, "ca.key: the private key does not match the certificate");
    servingcert_pems_free(&p);
    pair_free(&other);
    pair_free(&ca);
}

Test(servingcert, check_renews_a_ca_that_is_not_pem)
{
    struct ta_err why = { 0 };
    struct servingcert_pems p;
    servingcert_pems_init(&p);
    cr_assert_eq(buf_adds(&p.ca_crt, "not a certificate"), TA_OK);
    cr_assert_eq(buf_adds(&p.ca_key, "not a key"), TA_OK);
    struct servingcert_names n = names();
    cr_assert_eq(servingcert_check(&p, &n, NOW, &why), SERVINGCERT_RENEW_ALL);
    cr_assert_str_eq(why.msg, "ca.crt: no PEM certificate found");
    servingcert_pems_free(&p);
}

Test(servingcert, check_renews_only_the_leaf_when_it_is_missing)
{
    struct ta_err why = { 0 };
    struct pair ca = make_ca(NOW - DAY, NOW + 3650 * DAY);
    cr_assert_eq(verdict(&ca, NULL, &why), SERVINGCERT_RENEW_LEAF);
    cr_assert_str_eq(why.msg, "tls.crt or tls.key is missing");
    pair_free(&ca);
}

Test(servingcert, check_renews_a_leaf_expiring_within_30_days)
{
    struct ta_err why = { 0 };
    struct pair ca = make_ca(NOW - DAY, NOW + 3650 * DAY);
    struct pair leaf = make_leaf(&ca, NOW - 300 * DAY, NOW + 10 * DAY);
    cr_assert_eq(verdict(&ca, &leaf, &why), SERVINGCERT_RENEW_LEAF);
    char want[128];
    snprintf(want, sizeof(want), "tls.crt expires within 30 days (%s)", date_of(NOW + 10 * DAY));
    cr_assert_str_eq(why.msg, want);
    pair_free(&leaf);
    pair_free(&ca);
}

Test(servingcert, check_renews_an_expired_leaf)
{
    struct ta_err why = { 0 };
    struct pair ca = make_ca(NOW - 400 * DAY, NOW + 3650 * DAY);
    struct pair leaf = make_leaf(&ca, NOW - 400 * DAY, NOW - 35 * DAY);
    cr_assert_eq(verdict(&ca, &leaf, &why), SERVINGCERT_RENEW_LEAF);
    cr_assert_str_eq(why.msg, "tls.crt does not verify against ca.crt: certificate has expired");
    pair_free(&leaf);
    pair_free(&ca);
}

Test(servingcert, check_renews_a_leaf_signed_by_another_ca)
{
    struct ta_err why = { 0 };
    struct pair ca = make_ca(NOW - DAY, NOW + 3650 * DAY);
    struct pair other = make_ca(NOW - DAY, NOW + 3650 * DAY);
    struct pair leaf = make_leaf(&other, NOW - DAY, NOW + 365 * DAY);
    cr_assert_eq(verdict(&ca, &leaf, &why), SERVINGCERT_RENEW_LEAF);
    cr_assert_str_eq(why.msg, "tls.crt does not verify against ca.crt: unable to get local issuer "
                              "certificate");
    pair_free(&leaf);
    pair_free(&other);
    pair_free(&ca);
}

Test(servingcert, check_renews_a_leaf_missing_one_name)
{
    struct ta_err why = { 0 };
    struct pair ca = make_ca(NOW - DAY, NOW + 3650 * DAY);
    struct pair leaf = make_cert("x", false, NOW - DAY, NOW + 365 * DAY, NAMES4, 3, &ca);
    cr_assert_eq(verdict(&ca, &leaf, &why), SERVINGCERT_RENEW_LEAF);
    cr_assert_str_eq(why.msg,
                     "tls.crt does not cover tempo-adapter.tempo-adapter.svc.cluster.local");
    pair_free(&leaf);
    pair_free(&ca);
}

Test(servingcert, check_renews_a_leaf_whose_key_does_not_match)
{
    struct ta_err why = { 0 };
    struct pair ca = make_ca(NOW - DAY, NOW + 3650 * DAY);
    struct pair leaf = make_leaf(&ca, NOW - DAY, NOW + 365 * DAY);
    struct pair leaf2 = make_leaf(&ca, NOW - DAY, NOW + 365 * DAY);
    struct servingcert_pems p;
    pems_of(&p, &ca, NULL);
    add(&p.tls_crt, &leaf.crt);
    add(&p.tls_key, &leaf2.key);
    struct servingcert_names n = names();
    cr_assert_eq(servingcert_check(&p, &n, NOW, &why), SERVINGCERT_RENEW_LEAF);
    cr_assert_str_eq(why.msg, "tls.key: the private key does not match the certificate");
    servingcert_pems_free(&p);
    pair_free(&leaf2);
    pair_free(&leaf);
    pair_free(&ca);
}

Test(servingcert, check_accepts_a_ca_bundle_with_the_signer_first)
{
    struct ta_err why = { 0 };
    struct pair ca = make_ca(NOW - DAY, NOW + 3650 * DAY);
    struct pair old = make_ca(NOW - 900 * DAY, NOW + 100 * DAY);
    struct pair leaf = make_leaf(&ca, NOW - DAY, NOW + 365 * DAY);
    struct servingcert_pems p;
    pems_of(&p, &ca, &leaf);
    add(&p.ca_crt, &old.crt);
    struct servingcert_names n = names();
    cr_assert_eq(servingcert_check(&p, &n, NOW, &why), SERVINGCERT_VALID, "%s", why.msg);
    servingcert_pems_free(&p);
    pair_free(&leaf);
    pair_free(&old);
    pair_free(&ca);
}

/* ---- generation ------------------------------------------------------------------------------ */

Test(servingcert, generate_all_makes_a_ten_year_ca_and_a_one_year_leaf)
{
    struct servingcert_pems old, out;
    servingcert_pems_init(&old);
    servingcert_pems_init(&out);
    struct servingcert_names n = names();
    struct ta_err err = { 0 };
    cr_assert_eq(servingcert_generate(SERVINGCERT_RENEW_ALL, &n, &old, NOW, &out, &err), TA_OK,
                 "%s", err.msg);
    cr_assert_eq(servingcert_check(&out, &n, NOW, &err), SERVINGCERT_VALID, "%s", err.msg);
    struct certgen_info ci, li;
    cr_assert_eq(certgen_inspect(out.ca_crt.data, out.ca_crt.len, &ci, NULL), TA_OK);
    cr_assert_eq(certgen_inspect(out.tls_crt.data, out.tls_crt.len, &li, NULL), TA_OK);
    cr_assert(ci.is_ca);
    cr_assert(!li.is_ca);
    cr_assert_eq(ci.not_before_s, NOW - 3600);
    cr_assert_eq(ci.not_after_s, NOW + 3650 * DAY);
    cr_assert_eq(li.not_before_s, NOW - 3600);
    cr_assert_eq(li.not_after_s, NOW + 365 * DAY);
    cr_assert_eq(count_certs(&out.ca_crt), 1);
    cr_assert_eq(count_certs(&out.tls_crt), 1);
    cr_assert_not_null(strstr(buf_cstr(&out.tls_key), "PRIVATE KEY"));
    /* a year minus 31 days later it is due again, and not a day before that */
    cr_assert_eq(servingcert_check(&out, &n, NOW + 334 * DAY, &err), SERVINGCERT_VALID);
    cr_assert_eq(servingcert_check(&out, &n, NOW + 336 * DAY, &err), SERVINGCERT_RENEW_LEAF);
    servingcert_pems_free(&out);
    servingcert_pems_free(&old);
}

Test(servingcert, generate_all_keeps_the_previous_ca_while_it_is_valid)
{
    struct pair oldca = make_ca(NOW - 3640 * DAY, NOW + 10 * DAY);
    struct servingcert_pems old, out;
    pems_of(&old, &oldca, NULL);
    servingcert_pems_init(&out);
    struct servingcert_names n = names();
    struct ta_err err = { 0 };
    cr_assert_eq(servingcert_generate(SERVINGCERT_RENEW_ALL, &n, &old, NOW, &out, &err), TA_OK,
                 "%s", err.msg);
    cr_assert_eq(count_certs(&out.ca_crt), 2);
    /* the old CA follows the new one, byte for byte */
    cr_assert(out.ca_crt.len > oldca.crt.len);
    cr_assert_eq(
        memcmp(out.ca_crt.data + out.ca_crt.len - oldca.crt.len, oldca.crt.data, oldca.crt.len), 0);
    cr_assert_eq(servingcert_check(&out, &n, NOW, &err), SERVINGCERT_VALID, "%s", err.msg);
    servingcert_pems_free(&out);
    servingcert_pems_free(&old);
    pair_free(&oldca);
}

Test(servingcert, generate_all_drops_an_expired_previous_ca)
{
    struct pair oldca = make_ca(NOW - 3650 * DAY, NOW - 1);
    struct servingcert_pems old, out;
    pems_of(&old, &oldca, NULL);
    servingcert_pems_init(&out);
    struct servingcert_names n = names();
    cr_assert_eq(servingcert_generate(SERVINGCERT_RENEW_ALL, &n, &old, NOW, &out, NULL), TA_OK);
    cr_assert_eq(count_certs(&out.ca_crt), 1);
    servingcert_pems_free(&out);
    servingcert_pems_free(&old);
    pair_free(&oldca);
}

Test(servingcert, generate_leaf_keeps_the_ca_and_never_outlives_it)
{
    struct pair ca = make_ca(NOW - DAY, NOW + 100 * DAY);
    struct servingcert_pems old, out;
    pems_of(&old, &ca, NULL);
    servingcert_pems_init(&out);
    struct servingcert_names n = names();
    struct ta_err err = { 0 };
    cr_assert_eq(servingcert_generate(SERVINGCERT_RENEW_LEAF, &n, &old, NOW, &out, &err), TA_OK,
                 "%s", err.msg);
    cr_assert_eq(out.ca_crt.len, ca.crt.len);
    cr_assert_eq(memcmp(out.ca_crt.data, ca.crt.data, ca.crt.len), 0);
    cr_assert_eq(out.ca_key.len, ca.key.len);
    struct certgen_info li;
    cr_assert_eq(certgen_inspect(out.tls_crt.data, out.tls_crt.len, &li, NULL), TA_OK);
    cr_assert_eq(li.not_after_s, NOW + 100 * DAY);
    cr_assert_eq(servingcert_check(&out, &n, NOW, &err), SERVINGCERT_VALID, "%s", err.msg);
    servingcert_pems_free(&out);
    servingcert_pems_free(&old);
    pair_free(&ca);
}

Test(servingcert, generate_refuses_valid_input_and_a_broken_ca_leaving_out_empty)
{
    struct servingcert_pems old, out;
    servingcert_pems_init(&old);
    servingcert_pems_init(&out);
    cr_assert_eq(buf_adds(&out.tls_crt, "stale"), TA_OK);
    struct servingcert_names n = names();
    struct ta_err err = { 0 };
    cr_assert_eq(servingcert_generate(SERVINGCERT_VALID, &n, &old, NOW, &out, &err), TA_INVALID);
    cr_assert_str_eq(err.msg, "nothing to renew");
    cr_assert_eq(buf_adds(&old.ca_crt, "garbage"), TA_OK);
    cr_assert_eq(buf_adds(&old.ca_key, "garbage"), TA_OK);
    cr_assert_neq(servingcert_generate(SERVINGCERT_RENEW_LEAF, &n, &old, NOW, &out, &err), TA_OK);
    cr_assert_eq(out.ca_crt.len + out.ca_key.len + out.tls_crt.len + out.tls_key.len, 0);
    servingcert_pems_free(&out);
    servingcert_pems_free(&old);
}

/* ---- Secret bodies --------------------------------------------------------------------------- */

static enum ta_rc decode(const char *text, struct servingcert_pems *p, struct ta_err *err)
{
    char *owned;
    struct slice s = exact(text, &owned);
    enum ta_rc rc = servingcert_secret_decode(s, p, err);
    free(owned);
    return rc;
}

Test(servingcert, secret_decode_reads_the_four_keys)
{
    struct servingcert_pems p;
    servingcert_pems_init(&p);
    struct ta_err err = { 0 };
    cr_assert_eq(decode("{\"kind\":\"Secret\",\"apiVersion\":\"v1\",\"data\":{"
                        "\"ca.crt\":\"Y2EtY3J0\",\"ca.key\":\"Y2Eta2V5\","
                        "\"tls.crt\":\"dGxzLWNydA==\",\"tls.key\":\"dGxzLWtleQ\","
                        "\"other\":\"b3RoZXI=\"}}",
                        &p, &err),
                 TA_OK, "%s", err.msg);
    cr_assert_str_eq(buf_cstr(&p.ca_crt), "ca-crt");
    cr_assert_str_eq(buf_cstr(&p.ca_key), "ca-key");
    cr_assert_str_eq(buf_cstr(&p.tls_crt), "tls-crt");
    cr_assert_str_eq(buf_cstr(&p.tls_key), "tls-key"); /* padding is optional */
    servingcert_pems_free(&p);
}

Test(servingcert, secret_decode_gives_empty_pems_without_data_or_keys)
{
    struct servingcert_pems p;
    servingcert_pems_init(&p);
    cr_assert_eq(decode("{\"kind\":\"Secret\"}", &p, NULL), TA_OK);
    cr_assert_eq(p.ca_crt.len + p.ca_key.len + p.tls_crt.len + p.tls_key.len, 0);
    cr_assert_eq(decode("{\"kind\":\"Secret\",\"data\":null}", &p, NULL), TA_OK);
    cr_assert_eq(decode("{\"kind\":\"Secret\",\"data\":{\"ca.crt\":\"Y2EtY3J0\",\"tls.key\":null}}",
                        &p, NULL),
                 TA_OK);
    cr_assert_str_eq(buf_cstr(&p.ca_crt), "ca-crt");
    cr_assert_eq(p.ca_key.len + p.tls_crt.len + p.tls_key.len, 0);
    servingcert_pems_free(&p);
}

Test(servingcert, secret_decode_rejects_bodies_that_are_not_secrets)
{
    struct servingcert_pems p;
    servingcert_pems_init(&p);
    struct ta_err err = { 0 };
    cr_assert_eq(decode("not json", &p, &err), TA_INVALID);
    cr_assert_str_eq(err.msg, "Secret: not a JSON object");
    cr_assert_eq(decode("[]", &p, &err), TA_INVALID);
    cr_assert_str_eq(err.msg, "Secret: not a JSON object");
    cr_assert_eq(decode("{\"kind\":\"ConfigMap\"}", &p, &err), TA_INVALID);
    cr_assert_str_eq(err.msg, "Secret: the object's kind is not Secret");
    cr_assert_eq(decode("{\"data\":{}}", &p, &err), TA_INVALID);
    cr_assert_str_eq(err.msg, "Secret: the object's kind is not Secret");
    cr_assert_eq(decode("{\"kind\":\"Secret\",\"data\":[]}", &p, &err), TA_INVALID);
    cr_assert_str_eq(err.msg, "Secret: data is not an object");
    servingcert_pems_free(&p);
}

Test(servingcert, secret_decode_rejects_bad_values_and_leaves_pems_empty)
{
    struct servingcert_pems p;
    servingcert_pems_init(&p);
    struct ta_err err = { 0 };
    cr_assert_eq(
        decode("{\"kind\":\"Secret\",\"data\":{\"ca.crt\":\"Y2EtY3J0\",\"ca.key\":7}}", &p, &err),
        TA_INVALID);
    cr_assert_str_eq(err.msg, "Secret: data.ca.key is not a string");
    cr_assert_eq(p.ca_crt.len, 0); /* nothing half-filled */
    cr_assert_eq(decode("{\"kind\":\"Secret\",\"data\":{\"tls.key\":\"dGx*LWtleQ==\"}}", &p, &err),
                 TA_INVALID);
    cr_assert_str_eq(err.msg, "Secret: data.tls.key: invalid base64 character at position 3");
    cr_assert_eq(decode("{\"kind\":\"Secret\",\"data\":{\"ca.key\":\"AA==\"}}", &p, &err),
                 TA_INVALID);
    cr_assert_str_eq(err.msg, "Secret: data.ca.key contains a NUL byte");
    servingcert_pems_free(&p);
}

Test(servingcert, secret_decode_rejects_a_body_with_an_embedded_nul)
{
    static const char body[] = "{\"kind\":\"Secret\",\0\"data\":{}}";
    struct servingcert_pems p;
    servingcert_pems_init(&p);
    struct ta_err err = { 0 };
    cr_assert_eq(servingcert_secret_decode(slice_make(body, sizeof(body) - 1), &p, &err),
                 TA_INVALID);
    cr_assert_str_eq(err.msg, "Secret: not a JSON object");
    servingcert_pems_free(&p);
}

/* A Secret body whose ca.crt decodes to n bytes of 'A'. */
static char *secret_with_value_of(size_t n)
{
    size_t b64 = (n + 2) / 3 * 4;
    char *s = malloc(b64 + 128);
    int off = snprintf(s, 128, "{\"kind\":\"Secret\",\"data\":{\"ca.crt\":\"");
    /* "QUFB" is base64 of "AAA"; the tail gets padding */
    size_t i = 0;
    for (; i + 3 <= n; i += 3, off += 4)
        memcpy(s + off, "QUFB", 4);
    if (n - i == 1) {
        memcpy(s + off, "QQ==", 4);
        off += 4;
    } else if (n - i == 2) {
        memcpy(s + off, "QUE=", 4);
        off += 4;
    }
    memcpy(s + off, "\"}}", 4);
    return s;
}

Test(servingcert, secret_decode_accepts_the_limit_and_rejects_one_byte_more)
{
    struct servingcert_pems p;
    servingcert_pems_init(&p);
    struct ta_err err = { 0 };
    char *ok = secret_with_value_of(SERVINGCERT_PEM_MAX);
    cr_assert_eq(decode(ok, &p, &err), TA_OK, "%s", err.msg);
    cr_assert_eq(p.ca_crt.len, SERVINGCERT_PEM_MAX);
    char *big = secret_with_value_of(SERVINGCERT_PEM_MAX + 1);
    cr_assert_eq(decode(big, &p, &err), TA_TOO_LARGE);
    char want[80];
    snprintf(want, sizeof(want), "Secret: data.ca.crt is larger than %u bytes",
             (unsigned)SERVINGCERT_PEM_MAX);
    cr_assert_str_eq(err.msg, want);
    cr_assert_eq(p.ca_crt.len, 0);
    free(ok);
    free(big);
    servingcert_pems_free(&p);
}

static void fake_pems(struct servingcert_pems *p)
{
    servingcert_pems_init(p);
    cr_assert_eq(buf_adds(&p->ca_crt, "ca-crt"), TA_OK);
    cr_assert_eq(buf_adds(&p->ca_key, "ca-key"), TA_OK);
    cr_assert_eq(buf_adds(&p->tls_crt, "tls-crt"), TA_OK);
    cr_assert_eq(buf_adds(&p->tls_key, "tls-key"), TA_OK);
}

static json_t *load(const struct buf *b)
{
    json_error_t e;
    json_t *j = json_loadb(b->data, b->len, 0, &e);
    cr_assert_not_null(j, "%s: %s", e.text, buf_cstr(b));
    return j;
}

/* The string at a dotted path of object keys ("metadata.name"), or NULL. */
static const char *jstr(json_t *root, const char *path)
{
    char key[64];
    json_t *j = root;
    while (j && *path) {
        size_t n = strcspn(path, ".");
        snprintf(key, sizeof(key), "%.*s", (int)n, path);
        j = json_object_get(j, key);
        path += n + (path[n] == '.');
    }
    return json_is_string(j) ? json_string_value(j) : NULL;
}

Test(servingcert, secret_encode_builds_a_new_opaque_secret)
{
    struct servingcert_pems p;
    fake_pems(&p);
    struct buf out;
    buf_init(&out, SERVINGCERT_BODY_MAX);
    struct ta_err err = { 0 };
    cr_assert_eq(servingcert_secret_encode(SLICE_NULL, "tempo-adapter",
                                           "tempo-adapter-serving-cert", &p, &out, &err),
                 TA_OK, "%s", err.msg);
    json_t *j = load(&out);
    cr_assert_str_eq(json_string_value(json_object_get(j, "apiVersion")), "v1");
    cr_assert_str_eq(json_string_value(json_object_get(j, "kind")), "Secret");
    cr_assert_str_eq(json_string_value(json_object_get(j, "type")), "Opaque");
    json_t *meta = json_object_get(j, "metadata");
    cr_assert_str_eq(json_string_value(json_object_get(meta, "name")),
                     "tempo-adapter-serving-cert");
    cr_assert_str_eq(json_string_value(json_object_get(meta, "namespace")), "tempo-adapter");
    json_t *data = json_object_get(j, "data");
    cr_assert_eq(json_object_size(data), 4);
    cr_assert_str_eq(json_string_value(json_object_get(data, "ca.crt")), "Y2EtY3J0");
    cr_assert_str_eq(json_string_value(json_object_get(data, "ca.key")), "Y2Eta2V5");
    cr_assert_str_eq(json_string_value(json_object_get(data, "tls.crt")), "dGxzLWNydA==");
    cr_assert_str_eq(json_string_value(json_object_get(data, "tls.key")), "dGxzLWtleQ==");
    json_decref(j);
    buf_free(&out);
    servingcert_pems_free(&p);
}

Test(servingcert, secret_encode_keeps_what_it_read_and_replaces_the_four_keys)
{
    static const char current[] =
        "{\"apiVersion\":\"v1\",\"kind\":\"Secret\",\"type\":\"Opaque\",\"metadata\":{\"name\":"
        "\"s\",\"namespace\":\"n\",\"resourceVersion\":\"4711\",\"labels\":{\"a\":\"b\"},"
        "\"annotations\":{\"kubectl.kubernetes.io/last-applied-configuration\":\"{}\"}},"
        "\"data\":{\"ca.crt\":\"b2xk\",\"other\":\"b3RoZXI=\"},\"stringData\":{\"x\":\"y\"}}";
    struct servingcert_pems p;
    fake_pems(&p);
    struct buf out;
    buf_init(&out, SERVINGCERT_BODY_MAX);
    char *owned;
    struct slice cur = exact(current, &owned);
    struct ta_err err = { 0 };
    cr_assert_eq(servingcert_secret_encode(cur, "ignored", "ignored", &p, &out, &err), TA_OK, "%s",
                 err.msg);
    json_t *j = load(&out);
    json_t *meta = json_object_get(j, "metadata");
    cr_assert_str_eq(json_string_value(json_object_get(meta, "name")), "s");
    cr_assert_str_eq(json_string_value(json_object_get(meta, "resourceVersion")), "4711");
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(meta, "labels"), "a")), "b");
    cr_assert_not_null(json_object_get(json_object_get(meta, "annotations"),
                                       "kubectl.kubernetes.io/last-applied-configuration"));
    json_t *data = json_object_get(j, "data");
    cr_assert_eq(json_object_size(data), 5);
    cr_assert_str_eq(json_string_value(json_object_get(data, "ca.crt")), "Y2EtY3J0");
    cr_assert_str_eq(json_string_value(json_object_get(data, "other")), "b3RoZXI=");
    cr_assert_null(json_object_get(j, "stringData"));
    /* and it reads back to the same texts */
    struct servingcert_pems back;
    servingcert_pems_init(&back);
    cr_assert_eq(servingcert_secret_decode(buf_slice(&out), &back, &err), TA_OK, "%s", err.msg);
    cr_assert_str_eq(buf_cstr(&back.tls_key), "tls-key");
    servingcert_pems_free(&back);
    json_decref(j);
    free(owned);
    buf_free(&out);
    servingcert_pems_free(&p);
}

Test(servingcert, secret_encode_rejects_a_current_body_that_is_not_a_secret)
{
    struct servingcert_pems p;
    fake_pems(&p);
    struct buf out;
    buf_init(&out, SERVINGCERT_BODY_MAX);
    struct ta_err err = { 0 };
    cr_assert_eq(
        servingcert_secret_encode(SLICE_LIT("{\"kind\":\"Status\"}"), "n", "s", &p, &out, &err),
        TA_INVALID);
    cr_assert_str_eq(err.msg, "Secret: the object's kind is not Secret");
    cr_assert_eq(out.len, 0);
    buf_free(&out);
    servingcert_pems_free(&p);
}

/* ---- APIService bodies ----------------------------------------------------------------------- */

#define APISVC(extra)                                                                               \
    "{\"apiVersion\":\"apiregistration.k8s.io/v1\",\"kind\":\"APIService\",\"metadata\":{\"name\":" \
    "\"v1beta1.external.metrics.k8s.io\",\"resourceVersion\":\"9\"},\"spec\":{\"group\":"           \
    "\"external.metrics.k8s.io\",\"version\":\"v1beta1\",\"groupPriorityMinimum\":100,"             \
    "\"versionPriority\":100,\"service\":{\"name\":\"tempo-adapter\",\"namespace\":"                \
    "\"tempo-adapter\",\"port\":443}" extra "}}"

static enum ta_rc apisvc(const char *current, const char *ca, bool *changed, struct buf *out,
                         struct ta_err *err)
{
    char *owned;
    struct slice cur = exact(current, &owned);
    enum ta_rc rc = servingcert_apiservice_encode(cur, slice_from_cstr(ca), "tempo-adapter",
                                                  "tempo-adapter", changed, out, err);
    free(owned);
    return rc;
}

Test(servingcert, apiservice_unchanged_when_the_ca_bundle_matches)
{
    struct buf out;
    buf_init(&out, SERVINGCERT_BODY_MAX);
    bool changed = true;
    cr_assert_eq(apisvc(APISVC(",\"caBundle\":\"Y2EtY3J0\""), "ca-crt", &changed, &out, NULL),
                 TA_OK);
    cr_assert(!changed);
    cr_assert_eq(out.len, 0);
    buf_free(&out);
}

Test(servingcert, apiservice_sets_a_missing_or_different_ca_bundle_keeping_the_rest)
{
    const char *cases[] = { APISVC(""), APISVC(",\"caBundle\":\"b2xk\""),
                            APISVC(",\"caBundle\":\"!!notbase64\"") };
    for (size_t i = 0; i < 3; i++) {
        struct buf out;
        buf_init(&out, SERVINGCERT_BODY_MAX);
        bool changed = false;
        struct ta_err err = { 0 };
        cr_assert_eq(apisvc(cases[i], "ca-crt", &changed, &out, &err), TA_OK, "%s", err.msg);
        cr_assert(changed);
        json_t *j = load(&out);
        json_t *spec = json_object_get(j, "spec");
        cr_assert_str_eq(json_string_value(json_object_get(spec, "caBundle")), "Y2EtY3J0");
        cr_assert_eq(json_integer_value(json_object_get(spec, "groupPriorityMinimum")), 100);
        cr_assert_eq(json_integer_value(json_object_get(spec, "versionPriority")), 100);
        cr_assert_str_eq(
            json_string_value(json_object_get(json_object_get(j, "metadata"), "resourceVersion")),
            "9");
        json_decref(j);
        buf_free(&out);
    }
}

Test(servingcert, apiservice_drops_insecure_skip_tls_verify_next_to_the_ca_bundle)
{
    struct buf out;
    buf_init(&out, SERVINGCERT_BODY_MAX);
    bool changed = false;
    cr_assert_eq(apisvc(APISVC(",\"caBundle\":\"Y2EtY3J0\",\"insecureSkipTLSVerify\":true"),
                        "ca-crt", &changed, &out, NULL),
                 TA_OK);
    cr_assert(changed);
    json_t *j = load(&out);
    json_t *spec = json_object_get(j, "spec");
    cr_assert_null(json_object_get(spec, "insecureSkipTLSVerify"));
    cr_assert_str_eq(json_string_value(json_object_get(spec, "caBundle")), "Y2EtY3J0");
    json_decref(j);
    buf_free(&out);
}

Test(servingcert, apiservice_of_another_service_is_left_alone)
{
    struct buf out;
    buf_init(&out, SERVINGCERT_BODY_MAX);
    bool changed = true;
    struct ta_err err = { 0 };
    char *owned;
    struct slice cur = exact(APISVC(""), &owned);
    cr_assert_eq(servingcert_apiservice_encode(cur, SLICE_LIT("ca"), "prometheus-adapter",
                                               "monitoring", &changed, &out, &err),
                 TA_INVALID);
    cr_assert_str_eq(err.msg,
                     "APIService v1beta1.external.metrics.k8s.io points at Service "
                     "tempo-adapter/tempo-adapter, not monitoring/prometheus-adapter (another "
                     "external metrics adapter?): its caBundle is left alone");
    cr_assert(!changed);
    cr_assert_eq(out.len, 0);
    free(owned);
    cr_assert_eq(apisvc("{\"kind\":\"APIService\",\"metadata\":{\"name\":\"v1.x\"},\"spec\":{}}",
                        "ca", &changed, &out, &err),
                 TA_INVALID);
    cr_assert_str_eq(err.msg, "APIService v1.x has no spec.service: it is served by "
                              "kube-apiserver itself; its caBundle is left alone");
    cr_assert_eq(apisvc("{\"kind\":\"APIService\"}", "ca", &changed, &out, &err), TA_INVALID);
    cr_assert_str_eq(err.msg, "APIService ? has no spec");
    cr_assert_eq(apisvc("{\"kind\":\"Secret\"}", "ca", &changed, &out, &err), TA_INVALID);
    cr_assert_str_eq(err.msg, "APIService: the object's kind is not APIService");
    buf_free(&out);
}

/* ---- servingcert_start against the stub --------------------------------------------------------
 */

static struct tsrv srv;
static char dir[64];
static char kubeconfig_path[128];

static void setup(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    snprintf(dir, sizeof(dir), "/tmp/ta-servingcert-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    tsrv_start(&srv);
    char ca[128];
    snprintf(ca, sizeof(ca), "%s/ca.crt", dir);
    tpki_write(ca, srv.ca_pem);
    snprintf(kubeconfig_path, sizeof(kubeconfig_path), "%s/kubeconfig", dir);
    char text[1024];
    snprintf(text, sizeof(text),
             "apiVersion: v1\nkind: Config\ncurrent-context: t\n"
             "clusters: [{name: t, cluster: {server: \"https://127.0.0.1:%d\", "
             "certificate-authority: \"%s\"}}]\n"
             "users: [{name: u, user: {token: t0k}}]\n"
             "contexts: [{name: t, context: {cluster: t, user: u}}]\n",
             srv.port, ca);
    tpki_write(kubeconfig_path, text);
}

static void teardown(void)
{
    tsrv_stop(&srv);
    tls_serving_shutdown();
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    cr_assert_eq(system(cmd), 0);
    curl_global_cleanup();
}

#define SECRET_PATH  "/api/v1/namespaces/tempo-adapter/secrets/tempo-adapter-serving-cert"
#define SECRETS_PATH "/api/v1/namespaces/tempo-adapter/secrets"
#define APISVC_PATH  "/apis/apiregistration.k8s.io/v1/apiservices/v1beta1.external.metrics.k8s.io"
#define SECRET_EMPTY                                                                         \
    "{\"apiVersion\":\"v1\",\"kind\":\"Secret\",\"type\":\"Opaque\",\"metadata\":{\"name\":" \
    "\"tempo-adapter-serving-cert\",\"namespace\":\"tempo-adapter\",\"resourceVersion\":\"7\"}}"
#define CONFLICT \
    "{\"kind\":\"Status\",\"code\":409,\"reason\":\"Conflict\",\"message\":\"conflict\"}"

static void parse_flags(struct flags *f, const char *extra)
{
    char *argv[] = { "tempo-adapter", "--manage-serving-cert", "--kubeconfig",
                     kubeconfig_path, "--service-namespace",   "tempo-adapter",
                     (char *)extra };
    struct ta_err err = { 0 };
    cr_assert_eq(flags_parse(extra ? 7 : 6, argv, f, &err), TA_OK, "%s", err.msg);
}

static struct tsrv_seen seen(size_t i)
{
    pthread_mutex_lock(&srv.mu);
    cr_assert_lt(i, srv.nseen);
    struct tsrv_seen s = srv.seen[i];
    pthread_mutex_unlock(&srv.mu);
    return s;
}

/* The CA bundle an APIService update body carries, decoded. */
static void ca_bundle_of(const char *body, struct buf *out)
{
    json_error_t e;
    json_t *j = json_loads(body, 0, &e);
    cr_assert_not_null(j);
    const char *b64 = jstr(j, "spec.caBundle");
    cr_assert_not_null(b64);
    uint8_t *tmp = malloc(SERVINGCERT_PEM_MAX);
    size_t n = 0;
    cr_assert_eq(parse_base64(slice_from_cstr(b64), tmp, SERVINGCERT_PEM_MAX, &n, NULL), TA_OK);
    cr_assert_eq(buf_add(out, tmp, n), TA_OK);
    free(tmp);
    json_decref(j);
}

TestSuite(servingcert_start, .init = setup, .fini = teardown);

Test(servingcert_start, fills_the_shipped_empty_secret_and_writes_the_ca_bundle)
{
    tsrv_push(&srv, tsrv_ans(200, SECRET_EMPTY));
    tsrv_push(&srv, tsrv_ans(200, "{}"));
    tsrv_push(&srv, tsrv_ans(200, APISVC("")));
    tsrv_push(&srv, tsrv_ans(200, "{}"));
    struct flags f;
    parse_flags(&f, NULL);
    struct servingcert *sc = NULL;
    struct ta_err err = { 0 };
    cr_assert_eq(servingcert_start(&f, &sc, &err), TA_OK, "%s", err.msg);
    cr_assert_not_null(sc);
    cr_assert_eq(tsrv_nseen(&srv), 4);
    struct tsrv_seen s0 = seen(0), s1 = seen(1), s2 = seen(2), s3 = seen(3);
    cr_assert_str_eq(s0.method, "GET");
    cr_assert_str_eq(s0.path, SECRET_PATH);
    cr_assert_str_eq(s0.auth, "Bearer t0k");
    cr_assert_str_eq(s1.method, "PUT");
    cr_assert_str_eq(s1.path, SECRET_PATH);
    cr_assert_not_null(strstr(s1.body, "\"resourceVersion\":\"7\""));
    struct servingcert_pems written;
    servingcert_pems_init(&written);
    cr_assert_eq(servingcert_secret_decode(slice_from_cstr(s1.body), &written, &err), TA_OK, "%s",
                 err.msg);
    struct servingcert_names n = names();
    int64_t now = (int64_t)time(NULL);
    cr_assert_eq(servingcert_check(&written, &n, now, &err), SERVINGCERT_VALID, "%s", err.msg);
    cr_assert_str_eq(s2.method, "GET");
    cr_assert_str_eq(s2.path, APISVC_PATH);
    cr_assert_str_eq(s3.method, "PUT");
    cr_assert_str_eq(s3.path, APISVC_PATH);
    struct buf bundle;
    buf_init(&bundle, SERVINGCERT_PEM_MAX);
    ca_bundle_of(s3.body, &bundle);
    cr_assert_str_eq(buf_cstr(&bundle), buf_cstr(&written.ca_crt));
    buf_free(&bundle);
    servingcert_pems_free(&written);
    servingcert_free(sc);
    flags_free(&f);
}

Test(servingcert_start, reuses_a_valid_secret_and_a_current_ca_bundle_without_writing)
{
    struct servingcert_pems p, none;
    servingcert_pems_init(&p);
    servingcert_pems_init(&none);
    struct servingcert_names n = names();
    cr_assert_eq(
        servingcert_generate(SERVINGCERT_RENEW_ALL, &n, &none, (int64_t)time(NULL), &p, NULL),
        TA_OK);
    struct buf secret, api;
    buf_init(&secret, SERVINGCERT_BODY_MAX);
    buf_init(&api, SERVINGCERT_BODY_MAX);
    cr_assert_eq(servingcert_secret_encode(SLICE_LIT(SECRET_EMPTY), "", "", &p, &secret, NULL),
                 TA_OK);
    bool changed = false;
    cr_assert_eq(servingcert_apiservice_encode(SLICE_LIT(APISVC("")), buf_slice(&p.ca_crt),
                                               "tempo-adapter", "tempo-adapter", &changed, &api,
                                               NULL),
                 TA_OK);
    tsrv_push(&srv, tsrv_ans(200, buf_cstr(&secret)));
    tsrv_push(&srv, tsrv_ans(200, buf_cstr(&api))); /* already carries this CA */
    struct flags f;
    parse_flags(&f, NULL);
    struct servingcert *sc = NULL;
    struct ta_err err = { 0 };
    cr_assert_eq(servingcert_start(&f, &sc, &err), TA_OK, "%s", err.msg);
    cr_assert_eq(tsrv_nseen(&srv), 2);
    cr_assert_str_eq(seen(0).method, "GET");
    cr_assert_str_eq(seen(1).method, "GET");
    servingcert_free(sc);
    flags_free(&f);
    buf_free(&secret);
    buf_free(&api);
    servingcert_pems_free(&p);
    servingcert_pems_free(&none);
}

Test(servingcert_start, on_conflict_reads_again_and_uses_the_other_replicas_certificate)
{
    struct servingcert_pems theirs, none;
    servingcert_pems_init(&theirs);
    servingcert_pems_init(&none);
    struct servingcert_names n = names();
    cr_assert_eq(
        servingcert_generate(SERVINGCERT_RENEW_ALL, &n, &none, (int64_t)time(NULL), &theirs, NULL),
        TA_OK);
    struct buf secret;
    buf_init(&secret, SERVINGCERT_BODY_MAX);
    cr_assert_eq(servingcert_secret_encode(SLICE_LIT(SECRET_EMPTY), "", "", &theirs, &secret, NULL),
                 TA_OK);
    tsrv_push(&srv, tsrv_ans(200, SECRET_EMPTY));
    tsrv_push(&srv, tsrv_ans(409, CONFLICT));
    tsrv_push(&srv, tsrv_ans(200, buf_cstr(&secret)));
    tsrv_push(&srv, tsrv_ans(200, APISVC("")));
    tsrv_push(&srv, tsrv_ans(200, "{}"));
    struct flags f;
    parse_flags(&f, NULL);
    struct servingcert *sc = NULL;
    struct ta_err err = { 0 };
    cr_assert_eq(servingcert_start(&f, &sc, &err), TA_OK, "%s", err.msg);
    cr_assert_eq(tsrv_nseen(&srv), 5);
    cr_assert_str_eq(seen(1).method, "PUT");
    cr_assert_str_eq(seen(2).method, "GET");
    cr_assert_str_eq(seen(2).path, SECRET_PATH);
    cr_assert_str_eq(seen(4).method, "PUT");
    cr_assert_str_eq(seen(4).path, APISVC_PATH);
    struct buf bundle;
    buf_init(&bundle, SERVINGCERT_PEM_MAX);
    ca_bundle_of(seen(4).body, &bundle);
    cr_assert_str_eq(buf_cstr(&bundle), buf_cstr(&theirs.ca_crt)); /* theirs, not ours */
    buf_free(&bundle);
    servingcert_free(sc);
    flags_free(&f);
    buf_free(&secret);
    servingcert_pems_free(&theirs);
    servingcert_pems_free(&none);
}

Test(servingcert_start, gives_up_after_five_conflicting_writes)
{
    for (int i = 0; i < SERVINGCERT_CONFLICTS_MAX; i++) {
        tsrv_push(&srv, tsrv_ans(200, SECRET_EMPTY));
        tsrv_push(&srv, tsrv_ans(409, CONFLICT));
    }
    struct flags f;
    parse_flags(&f, NULL);
    struct servingcert *sc = NULL;
    struct ta_err err = { 0 };
    cr_assert_eq(servingcert_start(&f, &sc, &err), TA_UPSTREAM);
    cr_assert_null(sc);
    cr_assert_str_eq(err.msg, "Secret tempo-adapter/tempo-adapter-serving-cert: 5 conflicting "
                              "writes in a row (409); giving up this round");
    cr_assert_eq(tsrv_nseen(&srv), 2 * SERVINGCERT_CONFLICTS_MAX);
    flags_free(&f);
}

Test(servingcert_start, creates_a_missing_secret_and_serves_without_the_apiservice)
{
    tsrv_push(&srv, tsrv_ans(404, "{\"kind\":\"Status\",\"code\":404}"));
    tsrv_push(&srv, tsrv_ans(201, "{}"));
    tsrv_push(&srv, tsrv_ans(404, "{\"kind\":\"Status\",\"code\":404}"));
    struct flags f;
    parse_flags(&f, NULL);
    struct servingcert *sc = NULL;
    struct ta_err err = { 0 };
    cr_assert_eq(servingcert_start(&f, &sc, &err), TA_OK, "%s", err.msg);
    cr_assert_eq(tsrv_nseen(&srv), 3);
    struct tsrv_seen s1 = seen(1);
    cr_assert_str_eq(s1.method, "POST");
    cr_assert_str_eq(s1.path, SECRETS_PATH);
    json_error_t e;
    json_t *j = json_loads(s1.body, 0, &e);
    cr_assert_str_eq(jstr(j, "metadata.name"), "tempo-adapter-serving-cert");
    cr_assert_str_eq(jstr(j, "metadata.namespace"), "tempo-adapter");
    cr_assert_null(jstr(j, "metadata.resourceVersion"));
    json_decref(j);
    cr_assert_str_eq(seen(2).path, APISVC_PATH);
    servingcert_free(sc);
    flags_free(&f);
}

Test(servingcert_start, fails_clearly_when_the_secret_is_missing_and_create_is_forbidden)
{
    tsrv_push(&srv, tsrv_ans(404, "{\"kind\":\"Status\",\"code\":404}"));
    tsrv_push(&srv, tsrv_ans(403, "{\"kind\":\"Status\",\"code\":403,\"message\":\"secrets is "
                                  "forbidden\"}"));
    struct flags f;
    parse_flags(&f, NULL);
    struct servingcert *sc = NULL;
    struct ta_err err = { 0 };
    cr_assert_eq(servingcert_start(&f, &sc, &err), TA_UPSTREAM);
    cr_assert_null(sc);
    cr_assert_str_eq(err.msg,
                     "Secret tempo-adapter/tempo-adapter-serving-cert does not exist and the "
                     "adapter may not create it (apply manifests/: they ship it empty): creating "
                     "Secret: kube-apiserver answered 403: secrets is forbidden");
    flags_free(&f);
}

Test(servingcert_start, fails_with_the_rbac_hint_when_reading_is_forbidden)
{
    tsrv_push(&srv, tsrv_ans(403, "{\"kind\":\"Status\",\"code\":403,\"message\":\"nope\"}"));
    struct flags f;
    parse_flags(&f, NULL);
    struct servingcert *sc = NULL;
    struct ta_err err = { 0 };
    cr_assert_eq(servingcert_start(&f, &sc, &err), TA_UPSTREAM);
    cr_assert_str_eq(err.msg, "reading Secret: kube-apiserver answered 403: nope (the adapter "
                              "needs get, update and patch on this Secret: see "
                              "manifests/rbac-serving-cert.yaml)");
    flags_free(&f);
}

Test(servingcert_start, leaves_the_apiservice_of_another_adapter_alone)
{
    struct servingcert_pems p, none;
    servingcert_pems_init(&p);
    servingcert_pems_init(&none);
    struct servingcert_names n = names();
    cr_assert_eq(
        servingcert_generate(SERVINGCERT_RENEW_ALL, &n, &none, (int64_t)time(NULL), &p, NULL),
        TA_OK);
    struct buf secret;
    buf_init(&secret, SERVINGCERT_BODY_MAX);
    cr_assert_eq(servingcert_secret_encode(SLICE_LIT(SECRET_EMPTY), "", "", &p, &secret, NULL),
                 TA_OK);
    tsrv_push(&srv, tsrv_ans(200, buf_cstr(&secret)));
    tsrv_push(&srv, tsrv_ans(200, "{\"kind\":\"APIService\",\"metadata\":{\"name\":\"v1beta1."
                                  "external.metrics.k8s.io\"},\"spec\":{\"service\":{\"name\":"
                                  "\"keda-operator-metrics-apiserver\",\"namespace\":\"keda\"}}}"));
    struct flags f;
    parse_flags(&f, NULL);
    struct servingcert *sc = NULL;
    struct ta_err err = { 0 };
    cr_assert_eq(servingcert_start(&f, &sc, &err), TA_OK, "%s", err.msg);
    cr_assert_eq(tsrv_nseen(&srv), 2); /* no PUT */
    servingcert_free(sc);
    flags_free(&f);
    buf_free(&secret);
    servingcert_pems_free(&p);
    servingcert_pems_free(&none);
}

Test(servingcert_start, rejects_bad_names_before_any_request)
{
    struct flags f;
    parse_flags(&f, "--serving-cert-secret=Bad_Name");
    struct servingcert *sc = NULL;
    struct ta_err err = { 0 };
    cr_assert_eq(servingcert_start(&f, &sc, &err), TA_INVALID);
    cr_assert_str_eq(err.msg, "--serving-cert-secret: \"Bad_Name\" is not a DNS subdomain");
    flags_free(&f);
    parse_flags(&f, "--service-name=a.b");
    cr_assert_eq(servingcert_start(&f, &sc, &err), TA_INVALID);
    cr_assert_str_eq(err.msg, "--service-name: \"a.b\" is not a DNS label");
    flags_free(&f);
    parse_flags(&f, "--apiservice-name=v1beta1.external.metrics.k8s.io/x");
    cr_assert_eq(servingcert_start(&f, &sc, &err), TA_INVALID);
    flags_free(&f);
    cr_assert_eq(tsrv_nseen(&srv), 0);
}

Test(servingcert_start, outside_a_cluster_without_kubeconfig_says_so)
{
    char *argv[] = { "tempo-adapter", "--manage-serving-cert" };
    struct flags f;
    cr_assert_eq(flags_parse(2, argv, &f, NULL), TA_OK);
    unsetenv("KUBERNETES_SERVICE_HOST");
    setenv(KUBE_CLIENT_SA_DIR_ENV, dir, 1); /* no namespace file there: tempo-adapter */
    struct servingcert *sc = NULL;
    struct ta_err err = { 0 };
    cr_assert_eq(servingcert_start(&f, &sc, &err), TA_NOT_FOUND);
    cr_assert_str_eq(err.msg,
                     "--manage-serving-cert: unable to load in-cluster configuration, "
                     "KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT must be defined");
    unsetenv(KUBE_CLIENT_SA_DIR_ENV);
    flags_free(&f);
}

Test(servingcert_start, takes_the_namespace_from_the_service_account_directory)
{
    char nsfile[128];
    snprintf(nsfile, sizeof(nsfile), "%s/namespace", dir);
    tpki_write(nsfile, "monitoring\n");
    setenv(KUBE_CLIENT_SA_DIR_ENV, dir, 1);
    tsrv_push(&srv, tsrv_ans(403, "{\"kind\":\"Status\",\"code\":403,\"message\":\"no\"}"));
    char *argv[] = { "tempo-adapter", "--manage-serving-cert", "--kubeconfig", kubeconfig_path };
    struct flags f;
    cr_assert_eq(flags_parse(4, argv, &f, NULL), TA_OK);
    struct servingcert *sc = NULL;
    cr_assert_eq(servingcert_start(&f, &sc, NULL), TA_UPSTREAM);
    cr_assert_str_eq(seen(0).path,
                     "/api/v1/namespaces/monitoring/secrets/tempo-adapter-serving-cert");
    unsetenv(KUBE_CLIENT_SA_DIR_ENV);
    flags_free(&f);
}

/* ---- certificate files ----------------------------------------------------------------------- */

Test(servingcert_start, watch_files_installs_a_matching_pair_and_rejects_a_mismatch)
{
    struct pair ca = make_ca(NOW - DAY, (int64_t)time(NULL) + 3650 * DAY);
    struct pair a = make_leaf(&ca, (int64_t)time(NULL) - DAY, (int64_t)time(NULL) + 300 * DAY);
    struct pair b = make_leaf(&ca, (int64_t)time(NULL) - DAY, (int64_t)time(NULL) + 300 * DAY);
    char crt[128], key[128], arg1[160], arg2[160];
    snprintf(crt, sizeof(crt), "%s/tls.crt", dir);
    snprintf(key, sizeof(key), "%s/tls.key", dir);
    snprintf(arg1, sizeof(arg1), "--tls-cert-file=%s", crt);
    snprintf(arg2, sizeof(arg2), "--tls-private-key-file=%s", key);
    tpki_write(crt, buf_cstr(&a.crt));
    tpki_write(key, buf_cstr(&a.key));
    char *argv[] = { "tempo-adapter", arg1, arg2 };
    struct flags f;
    cr_assert_eq(flags_parse(3, argv, &f, NULL), TA_OK);
    struct servingcert *sc = NULL;
    struct ta_err err = { 0 };
    cr_assert_eq(servingcert_watch_files(&f, &sc, &err), TA_OK, "%s", err.msg);
    servingcert_free(sc);
    tpki_write(key, buf_cstr(&b.key));
    sc = NULL;
    cr_assert_eq(servingcert_watch_files(&f, &sc, &err), TA_INVALID);
    cr_assert_null(sc);
    char want[256];
    snprintf(want, sizeof(want),
             "--tls-cert-file %s: the private key does not match the certificate", crt);
    cr_assert_str_eq(err.msg, want);
    flags_free(&f);
    cr_assert_eq(flags_parse(3, argv, &f, NULL), TA_OK);
    free(f.tls_private_key_file); /* flags_parse refuses one without the other; main might not */
    f.tls_private_key_file = NULL;
    cr_assert_eq(servingcert_watch_files(&f, &sc, &err), TA_INVALID);
    cr_assert_str_eq(err.msg, "--tls-cert-file and --tls-private-key-file must be given together");
    flags_free(&f);
    pair_free(&a);
    pair_free(&b);
    pair_free(&ca);
}
