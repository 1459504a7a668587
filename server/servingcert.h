/* servingcert.h — --manage-serving-cert: a CA and a serving certificate kept in a Secret, the CA
 * written into the APIService's caBundle, renewal before expiry; and the reload of
 * --tls-cert-file/--tls-private-key-file when they change on disk (cert-manager renewals).
 *
 * main calls servingcert_start (managed mode) or servingcert_watch_files (certificate files)
 * instead of the self-signed path, before the API listener starts; both install the first
 * identity with tls_serving_install and then run one background thread that re-checks (and
 * re-installs on change) until servingcert_free. The kube-apiserver side goes through
 * server/kube_client.h (--kubeconfig or in-cluster), keys and certificates through
 * server/certgen.h. Replicas share the Secret with optimistic concurrency (resourceVersion):
 * on a 409 the Secret is read again and the other replica's certificate is used. Private keys
 * are never logged. The pure helpers below (names, decision, Secret and APIService bodies) have
 * no globals and no I/O: any thread. The manager object belongs to main; its thread is the only
 * other user until servingcert_free. */
#ifndef TA_SERVER_SERVINGCERT_H
#define TA_SERVER_SERVINGCERT_H

#include <stdbool.h>
#include <stdint.h>

#include "apis/base/buf.h"
#include "apis/base/slice.h"
#include "apis/base/ta_err.h"
#include "server/certgen.h"
#include "server/flags.h"

#define SERVINGCERT_CA_DAYS        3650 /* the CA: ten years, so the caBundle rarely changes */
#define SERVINGCERT_LEAF_DAYS      365  /* the serving certificate: one year */
#define SERVINGCERT_RENEW_BEFORE_S (30LL * 86400) /* renew what expires within 30 days */
#define SERVINGCERT_BACKDATE_S     3600 /* notBefore an hour back: clock skew between nodes */
#define SERVINGCERT_RECHECK_NS     (3600LL * 1000000000LL)     /* re-read the Secret every hour */
#define SERVINGCERT_RECHECK_ENV    "TA_SERVINGCERT_RECHECK_MS" /* tests only: shorter period */
#define SERVINGCERT_RETRY_MIN_NS   (10LL * 1000000000LL)       /* after a failure: 10 s, doubling */
#define SERVINGCERT_RETRY_MAX_NS   (300LL * 1000000000LL)      /* … up to 5 min */
#define SERVINGCERT_FILES_NS       (60LL * 1000000000LL) /* certificate files: checked every min */
#define SERVINGCERT_CONFLICTS_MAX  5 /* writes answered 409 in a row before a round gives up */
#define SERVINGCERT_PEM_MAX        CERTGEN_PEM_MAX /* one Secret key, decoded (a CA bundle fits) */
#define SERVINGCERT_LABEL_MAX      63              /* Service names and namespaces are DNS labels */
#define SERVINGCERT_OBJNAME_MAX    253 /* Secret and APIService names are DNS subdomains */
#define SERVINGCERT_NNAMES         4
#define SERVINGCERT_DNS_MAX        (2 * SERVINGCERT_LABEL_MAX + 32) /* svc.ns.svc.cluster.local */
#define SERVINGCERT_BODY_MAX       (4u << 20) /* Secret/APIService JSON built (Secrets ≤ 1 MiB) */

/* Keys of the managed Secret (type Opaque). ca.crt holds the signing CA first, then the
 * previous CA while it is still valid (so replicas still serving the old leaf stay trusted
 * during a CA rotation); ca.key is the signing CA's key. */
#define SERVINGCERT_KEY_CA_CRT  "ca.crt"
#define SERVINGCERT_KEY_CA_KEY  "ca.key"
#define SERVINGCERT_KEY_TLS_CRT "tls.crt"
#define SERVINGCERT_KEY_TLS_KEY "tls.key"

/* The DNS names the serving certificate must cover, in this order: <svc>.<ns>.svc (the name the
 * aggregator verifies), <svc>.<ns>, <svc>, <svc>.<ns>.svc.cluster.local. */
struct servingcert_names {
    char name[SERVINGCERT_NNAMES][SERVINGCERT_DNS_MAX + 1];
};

/* Fills *out. service must be a DNS-1035 label and ns a DNS-1123 label (lower-case letters,
 * digits and '-', at most 63 bytes); otherwise TA_INVALID naming the flag, e.g.
 * "--service-name: \"Foo\" is not a DNS label". */
enum ta_rc servingcert_names_make(const char *service, const char *ns,
                                  struct servingcert_names *out, struct ta_err *err);

/* The four PEM texts of the Secret; each empty when absent. Owned bufs (cap
 * SERVINGCERT_PEM_MAX); servingcert_pems_free wipes the keys. */
struct servingcert_pems {
    struct buf ca_crt;
    struct buf ca_key;
    struct buf tls_crt;
    struct buf tls_key;
};
void servingcert_pems_init(struct servingcert_pems *p);
void servingcert_pems_free(struct servingcert_pems *p);

enum servingcert_verdict {
    SERVINGCERT_VALID,      /* CA and serving certificate usable for 30 days or more */
    SERVINGCERT_RENEW_LEAF, /* the CA is fine; the serving certificate must be made again */
    SERVINGCERT_RENEW_ALL,  /* no usable CA: make a new CA and serving certificate */
};

/* Decides what the Secret's content is good for at now_s (unix seconds). The CA is usable when
 * ca.crt's first certificate is a CA, valid at now_s and beyond now_s + 30 days, and ca.key is
 * its key. The serving certificate is usable when it verifies against that CA at now_s for
 * serverAuth, does not expire within 30 days, covers every name in names, and tls.key is its
 * key. Anything else is reported in why (rc TA_INVALID, a reason such as "tls.crt expires
 * within 30 days (2026-01-31T00:00:00Z)"); why is untouched for SERVINGCERT_VALID. */
enum servingcert_verdict servingcert_check(const struct servingcert_pems *p,
                                           const struct servingcert_names *names, int64_t now_s,
                                           struct ta_err *why);

/* Makes what verdict asks for into out (initialised by the caller, emptied first): for
 * SERVINGCERT_RENEW_ALL a new CA (10 years; ca.crt = the new CA, then old's first certificate
 * when it is a CA still valid at now_s) and a leaf; for SERVINGCERT_RENEW_LEAF a new leaf signed
 * by old's CA (old's ca.crt and ca.key copied). The leaf: ECDSA P-256, CN names->name[0], the
 * four names as SANs, serverAuth, valid from now_s - 1 h for a year but never past the CA. */
enum ta_rc servingcert_generate(enum servingcert_verdict verdict,
                                const struct servingcert_names *names,
                                const struct servingcert_pems *old, int64_t now_s,
                                struct servingcert_pems *out, struct ta_err *err);

/* Reads the four keys of a Secret as kube-apiserver returns it (JSON, base64 data) into out
 * (initialised by the caller, emptied first); a missing "data" or key leaves that PEM empty.
 * TA_INVALID for a body that is not a JSON object of kind Secret, a value that is not base64,
 * or a value with a NUL byte; TA_TOO_LARGE for a value over SERVINGCERT_PEM_MAX. */
enum ta_rc servingcert_secret_decode(struct slice body, struct servingcert_pems *out,
                                     struct ta_err *err);

/* The body that writes p into the Secret. current is the Secret as read: every field is kept
 * (metadata.resourceVersion gives the update its optimistic concurrency; labels, annotations,
 * type and other data keys stay), the four keys are replaced and stringData dropped. With
 * current empty a new Opaque Secret ns/name is built (for a create). Appends to out. */
enum ta_rc servingcert_secret_encode(struct slice current, const char *ns, const char *name,
                                     const struct servingcert_pems *p, struct buf *out,
                                     struct ta_err *err);

/* Given the APIService as read (JSON) and the CA bundle it must carry: *changed = false when
 * spec.caBundle already decodes to exactly ca_pem and insecureSkipTLSVerify is not true (out
 * untouched); else *changed = true and out gets the update body (every other field kept,
 * spec.caBundle set, insecureSkipTLSVerify removed since validation rejects it next to a
 * caBundle). TA_INVALID when spec.service is not service in ns (another adapter owns the
 * APIService: its caBundle is left alone), or the body is not an APIService. */
enum ta_rc servingcert_apiservice_encode(struct slice current, struct slice ca_pem,
                                         const char *service, const char *ns, bool *changed,
                                         struct buf *out, struct ta_err *err);

struct servingcert; /* opaque: the running manager */

/* Managed mode. Resolves the namespace (--service-namespace, else the pod's namespace from the
 * service-account directory, else "tempo-adapter"), connects to kube-apiserver (--kubeconfig or
 * in-cluster), reads the Secret --serving-cert-secret, renews what servingcert_check rejects and
 * writes it back (on 409: reads again, at most SERVINGCERT_CONFLICTS_MAX writes in all; on 404:
 * tries to create it), installs the serving certificate with tls_serving_install, then updates the
 * APIService --apiservice-name's caBundle when it differs (a failure there is logged and retried
 * by the thread: the APIService may not exist yet). Blocks until the first certificate is
 * installed, within kube_client's bounded retries; then starts the re-check thread (every hour;
 * 10 s … 5 min after a failure). On error nothing is left running. */
enum ta_rc servingcert_start(const struct flags *f, struct servingcert **out, struct ta_err *err);

/* Certificate-file mode (--tls-cert-file/--tls-private-key-file): installs the pair, then
 * re-reads both files every SERVINGCERT_FILES_NS and installs them again when they changed and
 * still match (a renewal by cert-manager or any other tool is picked up without a restart; a
 * broken pair is logged and the current identity kept). */
enum ta_rc servingcert_watch_files(const struct flags *f, struct servingcert **out,
                                   struct ta_err *err);

/* Stops the thread (at once, also during a kube-apiserver call) and frees everything. The last
 * installed identity stays in use (tls_serving_shutdown frees it). NULL is fine. */
void servingcert_free(struct servingcert *sc);

#endif
