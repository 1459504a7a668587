/* tempo_helpers.c — the scripted HTTP/1.1 test server of tempo_helpers.h.
 *
 * An accept thread starts one thread per connection; each connection thread reads requests
 * (headers only: the clients under test send GETs), logs them under mu, picks the answer and
 * writes it. th_stop shuts every socket down and joins every thread, so nothing leaks. */
#include "tests/unit/tempo_helpers.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <zlib.h>

#define TH_MAX_REQ  512
#define TH_MAX_CONN 128
#define TH_PATH_MAX 16384
#define TH_HDR_MAX  4096

struct th_server {
    int fd;
    int port;
    pthread_t accept_th;
    bool running;
    atomic_bool stop;
    th_handler handler;
    void *arg;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct th_resp queue[64];
    int qn, qi;
    struct th_resp dflt;
    char *paths[TH_MAX_REQ];
    char *headers[TH_MAX_REQ];
    int nreq;
    int inflight, max_inflight;
    bool hold;
    int conns[TH_MAX_CONN];
    pthread_t conn_th[TH_MAX_CONN];
    int nconns;
    char url[64];
};

static struct th_server TH = { .fd = -1,
                               .mu = PTHREAD_MUTEX_INITIALIZER,
                               .cv = PTHREAD_COND_INITIALIZER };

static void send_all(int fd, const void *p, size_t n)
{
    const char *c = p;
    while (n > 0) {
        ssize_t w = send(fd, c, n, MSG_NOSIGNAL);
        if (w <= 0)
            return;
        c += w;
        n -= (size_t)w;
    }
}

static char *gzip_bytes(const char *p, size_t n, size_t *out_len)
{
    z_stream z;
    memset(&z, 0, sizeof(z));
    deflateInit2(&z, 6, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY);
    size_t cap = deflateBound(&z, n) + 64;
    char *out = malloc(cap);
    z.next_in = (Bytef *)p;
    z.avail_in = (uInt)n;
    z.next_out = (Bytef *)out;
    z.avail_out = (uInt)cap;
    deflate(&z, Z_FINISH);
    *out_len = cap - z.avail_out;
    deflateEnd(&z);
    return out;
}

static char *dup_n(const char *p, size_t n)
{
    char *c = malloc(n + 1);
    memcpy(c, p, n);
    c[n] = '\0';
    return c;
}

static void answer(int fd, struct th_resp *rp)
{
    char *body;
    size_t blen;
    if (rp->owned_body) {
        body = rp->owned_body;
        blen = rp->body_len;
        rp->owned_body = NULL;
    } else if (rp->body) {
        blen = strlen(rp->body);
        body = dup_n(rp->body, blen);
    } else {
        blen = rp->huge_len;
        body = malloc(blen + 1);
        memset(body, 'x', blen);
    }
    if (rp->gzip) {
        size_t zl;
        char *z = gzip_bytes(body, blen, &zl);
        free(body);
        body = z;
        blen = zl;
    }
    char head[1024];
    int n = snprintf(head, sizeof(head),
                     "HTTP/1.1 %d X\r\nContent-Type: %s\r\nContent-Length: %zu\r\n%s%s%s\r\n",
                     rp->status ? rp->status : 200, rp->ctype ? rp->ctype : "application/json",
                     rp->mode == TH_TRUNCATE ? blen + 1000 : blen,
                     rp->gzip ? "Content-Encoding: gzip\r\n" : "", rp->extra ? rp->extra : "",
                     rp->extra ? "\r\n" : "");
    send_all(fd, head, (size_t)n);
    send_all(fd, body, blen);
    free(body);
}

static void *conn_main(void *arg)
{
    int fd = (int)(intptr_t)arg;
    size_t cap = TH_PATH_MAX + TH_HDR_MAX;
    char *req = malloc(cap);
    size_t have = 0;
    for (;;) {
        char *end = NULL;
        while (!(end = memmem(req, have, "\r\n\r\n", 4))) {
            if (have == cap)
                goto done;
            ssize_t r = recv(fd, req + have, cap - have, 0);
            if (r <= 0)
                goto done;
            have += (size_t)r;
        }
        size_t hlen = (size_t)(end - req) + 4;
        char *sp1 = memchr(req, ' ', hlen);
        char *sp2 = sp1 ? memchr(sp1 + 1, ' ', hlen - (size_t)(sp1 + 1 - req)) : NULL;
        char *path = sp1 && sp2 ? dup_n(sp1 + 1, (size_t)(sp2 - sp1 - 1)) : dup_n("", 0);
        char *hdrs = dup_n(req, hlen);
        struct th_resp rp;
        bool from_handler = false;
        pthread_mutex_lock(&TH.mu);
        if (TH.nreq < TH_MAX_REQ) {
            TH.paths[TH.nreq] = dup_n(path, strlen(path));
            TH.headers[TH.nreq] = dup_n(hdrs, hlen < TH_HDR_MAX ? hlen : TH_HDR_MAX);
        }
        TH.nreq++;
        if (TH.qi < TH.qn) {
            rp = TH.queue[TH.qi++];
        } else if (TH.handler) {
            from_handler = true;
        } else {
            rp = TH.dflt;
        }
        TH.inflight++;
        if (TH.inflight > TH.max_inflight)
            TH.max_inflight = TH.inflight;
        pthread_cond_broadcast(&TH.cv);
        while (TH.hold && !atomic_load(&TH.stop))
            pthread_cond_wait(&TH.cv, &TH.mu);
        th_handler h = TH.handler;
        void *harg = TH.arg;
        pthread_mutex_unlock(&TH.mu);
        if (from_handler) {
            memset(&rp, 0, sizeof(rp));
            rp.status = 200;
            h(harg, path, hdrs, &rp);
        }
        free(path);
        free(hdrs);
        memmove(req, req + hlen, have - hlen);
        have -= hlen;
        if (rp.delay_ms)
            usleep((useconds_t)rp.delay_ms * 1000);
        bool close_after = rp.mode != TH_NORMAL;
        if (rp.mode == TH_CLOSE) {
            struct linger lg = { 1, 0 };
            setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
            free(rp.owned_body);
        } else {
            answer(fd, &rp);
        }
        pthread_mutex_lock(&TH.mu);
        TH.inflight--;
        pthread_mutex_unlock(&TH.mu);
        if (close_after)
            goto done;
    }
done:
    free(req);
    shutdown(fd, SHUT_RDWR);
    return NULL;
}

static void *accept_main(void *arg)
{
    (void)arg;
    while (!atomic_load(&TH.stop)) {
        int c = accept(TH.fd, NULL, NULL);
        if (c < 0)
            break;
        pthread_mutex_lock(&TH.mu);
        if (TH.nconns == TH_MAX_CONN || atomic_load(&TH.stop)) {
            pthread_mutex_unlock(&TH.mu);
            close(c);
            continue;
        }
        TH.conns[TH.nconns] = c;
        if (pthread_create(&TH.conn_th[TH.nconns], NULL, conn_main, (void *)(intptr_t)c) == 0)
            TH.nconns++;
        else
            close(c);
        pthread_mutex_unlock(&TH.mu);
    }
    return NULL;
}

void th_start(int port, th_handler handler, void *arg)
{
    pthread_mutex_lock(&TH.mu);
    TH.handler = handler;
    TH.arg = arg;
    TH.qn = TH.qi = 0;
    TH.nconns = 0;
    TH.hold = false;
    TH.dflt = (struct th_resp){ .status = 200, .body = "{\"ok\":true}" };
    atomic_store(&TH.stop, false);
    pthread_mutex_unlock(&TH.mu);
    TH.fd = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(TH.fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(TH.fd, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(TH.fd, 128) != 0) {
        perror("tempo_helpers: bind");
        abort();
    }
    socklen_t al = sizeof(a);
    getsockname(TH.fd, (struct sockaddr *)&a, &al);
    TH.port = ntohs(a.sin_port);
    snprintf(TH.url, sizeof(TH.url), "http://127.0.0.1:%d", TH.port);
    pthread_create(&TH.accept_th, NULL, accept_main, NULL);
    TH.running = true;
}

void th_stop(void)
{
    if (!TH.running)
        return;
    atomic_store(&TH.stop, true);
    pthread_mutex_lock(&TH.mu);
    TH.hold = false;
    pthread_cond_broadcast(&TH.cv);
    pthread_mutex_unlock(&TH.mu);
    shutdown(TH.fd, SHUT_RDWR);
    pthread_join(TH.accept_th, NULL);
    close(TH.fd);
    TH.fd = -1;
    pthread_mutex_lock(&TH.mu);
    int n = TH.nconns;
    pthread_mutex_unlock(&TH.mu);
    for (int i = 0; i < n; i++)
        shutdown(TH.conns[i], SHUT_RDWR);
    for (int i = 0; i < n; i++) {
        pthread_join(TH.conn_th[i], NULL);
        close(TH.conns[i]);
    }
    pthread_mutex_lock(&TH.mu);
    for (int i = 0; i < TH.nreq && i < TH_MAX_REQ; i++) {
        free(TH.paths[i]);
        free(TH.headers[i]);
        TH.paths[i] = TH.headers[i] = NULL;
    }
    TH.nreq = 0;
    TH.nconns = 0;
    TH.max_inflight = 0;
    TH.running = false;
    pthread_mutex_unlock(&TH.mu);
}

int th_port(void)
{
    return TH.port;
}

const char *th_url(void)
{
    return TH.url;
}

void th_script(struct th_resp r)
{
    pthread_mutex_lock(&TH.mu);
    if (TH.qn < 64)
        TH.queue[TH.qn++] = r;
    pthread_mutex_unlock(&TH.mu);
}

void th_set_default(struct th_resp r)
{
    pthread_mutex_lock(&TH.mu);
    TH.dflt = r;
    pthread_mutex_unlock(&TH.mu);
}

void th_hold(bool hold)
{
    pthread_mutex_lock(&TH.mu);
    TH.hold = hold;
    pthread_cond_broadcast(&TH.cv);
    pthread_mutex_unlock(&TH.mu);
}

int th_nreq(void)
{
    pthread_mutex_lock(&TH.mu);
    int n = TH.nreq;
    pthread_mutex_unlock(&TH.mu);
    return n;
}

void th_request(int i, char *path, size_t path_cap, char *headers, size_t headers_cap)
{
    pthread_mutex_lock(&TH.mu);
    bool ok = i >= 0 && i < TH.nreq && i < TH_MAX_REQ;
    if (path)
        snprintf(path, path_cap, "%s", ok ? TH.paths[i] : "");
    if (headers)
        snprintf(headers, headers_cap, "%s", ok ? TH.headers[i] : "");
    pthread_mutex_unlock(&TH.mu);
}

bool th_has_header(int i, const char *line)
{
    pthread_mutex_lock(&TH.mu);
    bool ok = i >= 0 && i < TH.nreq && i < TH_MAX_REQ && strcasestr(TH.headers[i], line);
    pthread_mutex_unlock(&TH.mu);
    return ok;
}

int th_max_inflight(void)
{
    pthread_mutex_lock(&TH.mu);
    int n = TH.max_inflight;
    pthread_mutex_unlock(&TH.mu);
    return n;
}

void th_wait_requests(int n)
{
    for (int i = 0; i < 2000 && th_nreq() < n; i++)
        usleep(5000);
}

static int hexv(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

bool th_query_param(const char *path, const char *name, char *out, size_t cap)
{
    const char *q = strchr(path, '?');
    size_t nl = strlen(name);
    while (q) {
        q++;
        if (strncmp(q, name, nl) == 0 && q[nl] == '=') {
            const char *v = q + nl + 1;
            size_t o = 0;
            while (*v && *v != '&' && o + 1 < cap) {
                if (*v == '+') {
                    out[o++] = ' ';
                    v++;
                } else if (*v == '%' && hexv(v[1]) >= 0 && hexv(v[2]) >= 0) {
                    out[o++] = (char)(hexv(v[1]) * 16 + hexv(v[2]));
                    v += 3;
                } else {
                    out[o++] = *v++;
                }
            }
            out[o] = '\0';
            return true;
        }
        q = strchr(q, '&');
    }
    return false;
}

int th_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = 0 };
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(fd, (struct sockaddr *)&a, sizeof(a));
    socklen_t al = sizeof(a);
    getsockname(fd, (struct sockaddr *)&a, &al);
    close(fd);
    return ntohs(a.sin_port);
}
