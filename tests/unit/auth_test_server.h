/* auth_test_server.h — a scripted HTTPS stub of kube-apiserver for the auth unit tests.
 *
 * One server thread (OpenSSL) on 127.0.0.1:<ephemeral> answers each connection's single
 * request from a queue of scripted answers (then a default one), records every request
 * (method, path, Authorization, body, client-certificate CN) and closes the connection. In
 * process, so valgrind and ASan see only our code (the Python fake is for integration tests).
 * The recorded list and the script are guarded by a mutex; tests read them after the call. */
#ifndef TA_TESTS_AUTH_TEST_SERVER_H
#define TA_TESTS_AUTH_TEST_SERVER_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "server/kubeconfig.h"
#include "tests/unit/auth_test_pki.h"

#define TSRV_MAX_SCRIPT 32
#define TSRV_MAX_SEEN   64
#define TSRV_BODY_MAX   (8u << 20)

struct tsrv_answer {
    int status;
    const char *body; /* borrowed: string literal or test-owned */
    size_t body_len;  /* 0: strlen(body) */
    int delay_ms;     /* before answering */
    bool hang_up;     /* close without answering */
};

struct tsrv_seen {
    char method[16];
    char path[512];
    char auth[1024];
    char cn[128]; /* client certificate CN, "" when none */
    char *body;
};

struct tsrv {
    int fd;
    int port;
    SSL_CTX *ctx;
    pthread_t thread;
    atomic_bool stop;
    struct tpki_cert ca, server, client_ca;
    char *ca_pem;
    pthread_mutex_t mu;
    struct tsrv_answer script[TSRV_MAX_SCRIPT]; /* guarded by mu */
    size_t nscript, next;                       /* guarded by mu */
    struct tsrv_answer dflt;                    /* guarded by mu */
    const char *route_path[TSRV_MAX_SCRIPT];    /* guarded by mu: path prefix -> answer */
    struct tsrv_answer route[TSRV_MAX_SCRIPT];  /* guarded by mu */
    size_t nroutes;                             /* guarded by mu */
    struct tsrv_seen seen[TSRV_MAX_SEEN];       /* guarded by mu */
    size_t nseen;                               /* guarded by mu */
};

static TPKI_UNUSED struct tsrv_answer tsrv_ans(int status, const char *body)
{
    return (struct tsrv_answer){ .status = status, .body = body };
}

static TPKI_UNUSED void tsrv_push(struct tsrv *s, struct tsrv_answer a)
{
    pthread_mutex_lock(&s->mu);
    if (s->nscript < TSRV_MAX_SCRIPT)
        s->script[s->nscript++] = a;
    pthread_mutex_unlock(&s->mu);
}

/* Answers requests whose path starts with prefix (before the script); replaces an earlier
 * route of the same prefix. */
static TPKI_UNUSED void tsrv_route(struct tsrv *s, const char *prefix, struct tsrv_answer a)
{
    pthread_mutex_lock(&s->mu);
    size_t i = 0;
    while (i < s->nroutes && strcmp(s->route_path[i], prefix) != 0)
        i++;
    if (i < TSRV_MAX_SCRIPT) {
        s->route_path[i] = prefix;
        s->route[i] = a;
        if (i == s->nroutes)
            s->nroutes++;
    }
    pthread_mutex_unlock(&s->mu);
}

/* How many requests had a path starting with prefix. */
static TPKI_UNUSED size_t tsrv_count(struct tsrv *s, const char *prefix)
{
    size_t n = 0;
    pthread_mutex_lock(&s->mu);
    for (size_t i = 0; i < s->nseen; i++)
        n += strncmp(s->seen[i].path, prefix, strlen(prefix)) == 0;
    pthread_mutex_unlock(&s->mu);
    return n;
}

static TPKI_UNUSED void tsrv_default(struct tsrv *s, struct tsrv_answer a)
{
    pthread_mutex_lock(&s->mu);
    s->dflt = a;
    pthread_mutex_unlock(&s->mu);
}

static TPKI_UNUSED size_t tsrv_nseen(struct tsrv *s)
{
    pthread_mutex_lock(&s->mu);
    size_t n = s->nseen;
    pthread_mutex_unlock(&s->mu);
    return n;
}

static TPKI_UNUSED int tsrv_read_request(SSL *ssl, struct tsrv_seen *seen)
{
    char *buf = malloc(TSRV_BODY_MAX);
    size_t len = 0, hdr_end = 0, clen = 0;
    int ok = -1;
    while (len < TSRV_BODY_MAX - 1) {
        int n = SSL_read(ssl, buf + len, (int)(TSRV_BODY_MAX - 1 - len));
        if (n <= 0)
            goto out;
        len += (size_t)n;
        buf[len] = '\0';
        if (!hdr_end) {
            char *e = strstr(buf, "\r\n\r\n");
            if (!e)
                continue;
            hdr_end = (size_t)(e - buf) + 4;
            char *cl = strcasestr(buf, "\r\ncontent-length:");
            if (cl && cl < e) {
                for (char *p = cl + 17; *p == ' ' || (*p >= '0' && *p <= '9'); p++)
                    if (*p != ' ')
                        clen = clen * 10 + (size_t)(*p - '0');
            }
            char *sp1 = strchr(buf, ' ');
            char *sp2 = sp1 ? strchr(sp1 + 1, ' ') : NULL;
            if (sp1 && sp2) {
                snprintf(seen->method, sizeof(seen->method), "%.*s", (int)(sp1 - buf), buf);
                snprintf(seen->path, sizeof(seen->path), "%.*s", (int)(sp2 - sp1 - 1), sp1 + 1);
            }
            char *au = strcasestr(buf, "\r\nauthorization:");
            if (au && au < e) {
                char *v = au + 16;
                while (*v == ' ')
                    v++;
                char *eol = strstr(v, "\r\n");
                snprintf(seen->auth, sizeof(seen->auth), "%.*s", (int)(eol - v), v);
            }
        }
        if (hdr_end && len >= hdr_end + clen) {
            seen->body = strndup(buf + hdr_end, clen);
            ok = 0;
            goto out;
        }
    }
out:
    free(buf);
    return ok;
}

static TPKI_UNUSED void tsrv_serve_one(struct tsrv *s, int cfd)
{
    SSL *ssl = SSL_new(s->ctx);
    SSL_set_fd(ssl, cfd);
    struct tsrv_seen seen = { 0 };
    if (SSL_accept(ssl) != 1 || tsrv_read_request(ssl, &seen) != 0) {
        free(seen.body);
        goto out;
    }
    X509 *peer = SSL_get1_peer_certificate(ssl);
    if (peer) {
        X509_NAME_get_text_by_NID(X509_get_subject_name(peer), NID_commonName, seen.cn,
                                  sizeof(seen.cn));
        X509_free(peer);
    }
    pthread_mutex_lock(&s->mu);
    struct tsrv_answer a = s->dflt;
    bool routed = false;
    for (size_t i = 0; i < s->nroutes && !routed; i++) {
        if (strncmp(seen.path, s->route_path[i], strlen(s->route_path[i])) == 0) {
            a = s->route[i];
            routed = true;
        }
    }
    if (!routed && s->next < s->nscript)
        a = s->script[s->next++];
    if (s->nseen < TSRV_MAX_SEEN)
        s->seen[s->nseen++] = seen;
    else
        free(seen.body);
    pthread_mutex_unlock(&s->mu);
    for (int waited = 0; waited < a.delay_ms && !atomic_load(&s->stop); waited += 10)
        usleep(10000);
    if (a.hang_up)
        goto out;
    const char *body = a.body ? a.body : "";
    size_t blen = a.body_len ? a.body_len : strlen(body);
    char head[256];
    int hl = snprintf(head, sizeof(head),
                      "HTTP/1.1 %d X\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n"
                      "Connection: close\r\n\r\n",
                      a.status, blen);
    SSL_write(ssl, head, hl);
    size_t off = 0;
    while (off < blen) {
        int n = SSL_write(ssl, body + off, (int)(blen - off > 65536 ? 65536 : blen - off));
        if (n <= 0)
            break;
        off += (size_t)n;
    }
    SSL_shutdown(ssl);
out:
    SSL_free(ssl);
    close(cfd);
    ERR_clear_error();
}

static TPKI_UNUSED void *tsrv_main(void *arg)
{
    struct tsrv *s = arg;
    while (!atomic_load(&s->stop)) {
        struct pollfd p = { s->fd, POLLIN, 0 };
        if (poll(&p, 1, 50) <= 0)
            continue;
        int cfd = accept(s->fd, NULL, NULL);
        if (cfd >= 0)
            tsrv_serve_one(s, cfd);
    }
    return NULL;
}

static TPKI_UNUSED int tsrv_verify_any(int ok, X509_STORE_CTX *ctx)
{
    (void)ok;
    (void)ctx;
    return 1; /* record the CN; the tests decide */
}

/* Starts the stub: a cluster CA, a serving certificate for 127.0.0.1, a client CA. */
static TPKI_UNUSED void tsrv_start(struct tsrv *s)
{
    memset(s, 0, sizeof(*s));
    signal(SIGPIPE, SIG_IGN); /* writes to a client that timed out */
    pthread_mutex_init(&s->mu, NULL);
    s->ca = tpki_ca("test-cluster-ca");
    struct tpki_spec spec = { .cn = "kube-apiserver",
                              .issuer = &s->ca,
                              .eku = "serverAuth",
                              .not_before_s = -3600,
                              .not_after_s = 86400,
                              .san = "IP:127.0.0.1,DNS:localhost" };
    s->server = tpki_make(&spec);
    s->client_ca = tpki_ca("test-client-ca");
    s->ca_pem = tpki_pem(&s->ca);
    s->dflt = (struct tsrv_answer){ .status = 404, .body = "{\"kind\":\"Status\",\"code\":404}" };
    s->ctx = SSL_CTX_new(TLS_server_method());
    SSL_CTX_use_certificate(s->ctx, s->server.x);
    SSL_CTX_use_PrivateKey(s->ctx, s->server.key);
    X509_STORE_add_cert(SSL_CTX_get_cert_store(s->ctx), s->client_ca.x);
    SSL_CTX_set_verify(s->ctx, SSL_VERIFY_PEER, tsrv_verify_any);
    /* Needed for session resumption (libcurl resumes) when client certificates are asked. */
    SSL_CTX_set_session_id_context(s->ctx, (const unsigned char *)"tsrv", 4);
    s->fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t al = sizeof(a);
    if (bind(s->fd, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(s->fd, 64) != 0 ||
        getsockname(s->fd, (struct sockaddr *)&a, &al) != 0)
        abort();
    s->port = ntohs(a.sin_port);
    atomic_init(&s->stop, false);
    pthread_create(&s->thread, NULL, tsrv_main, s);
}

static TPKI_UNUSED void tsrv_stop(struct tsrv *s)
{
    atomic_store(&s->stop, true);
    pthread_join(s->thread, NULL);
    close(s->fd);
    SSL_CTX_free(s->ctx);
    for (size_t i = 0; i < s->nseen; i++)
        free(s->seen[i].body);
    tpki_free(&s->ca);
    tpki_free(&s->server);
    tpki_free(&s->client_ca);
    free(s->ca_pem);
    pthread_mutex_destroy(&s->mu);
}

/* A kubeconfig for the stub with a static token (NULL: none). Free with kubeconfig_free. */
static TPKI_UNUSED struct kubeconfig *tsrv_kubeconfig(struct tsrv *s, const char *token)
{
    struct kubeconfig *k = calloc(1, sizeof(*k));
    char url[64];
    snprintf(url, sizeof(url), "https://127.0.0.1:%d", s->port);
    k->server = strdup(url);
    k->ca_pem_len = strlen(s->ca_pem);
    k->ca_pem = (uint8_t *)strdup(s->ca_pem);
    k->token = token ? strdup(token) : NULL;
    k->source = strdup("test");
    return k;
}

/* A port on 127.0.0.1 where nothing listens (bound, then closed). */
static TPKI_UNUSED int tsrv_dead_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t al = sizeof(a);
    if (bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &al) != 0)
        abort();
    close(fd);
    return ntohs(a.sin_port);
}

#endif
