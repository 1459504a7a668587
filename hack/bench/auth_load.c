/* auth_load.c — a closed-loop HTTPS load driver that keeps TLS connections alive and presents a
 * client certificate, for the front-proxy authentication benchmark (hack/bench/auth.sh).
 *
 * wrk cannot present a client certificate, so this drives the adapter the way kube-apiserver's
 * aggregator does: one persistent TLS connection per thread (the front-proxy certificate is sent
 * once, in the handshake), X-Remote-* headers on every request, the next request sent as soon as
 * the previous answer is read. Prints "requests/s", the count of non-2xx answers and errors.
 *
 * Build: gcc -std=c17 -D_GNU_SOURCE -O2 -pthread -o build/bench/auth_load \
 *            hack/bench/auth_load.c -lssl -lcrypto
 * Usage: auth_load -p PORT -u PATH [-c CERT -k KEY] [-t THREADS] [-d SECONDS]
 *                  [-H "Name: value"]...
 * Standalone tool: not linked into the adapter; plain libc and OpenSSL only. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#define MAX_HEADERS 32
#define MAX_THREADS 256
#define RESP_MAX    (1 << 20)

struct config {
    int port;
    const char *path;
    const char *cert, *key;
    int threads;
    int seconds;
    const char *headers[MAX_HEADERS];
    int nheaders;
};

static struct config cfg = { .port = 6443, .path = "/healthz", .threads = 8, .seconds = 10 };
static SSL_CTX *ctx;
static atomic_bool stop;
static atomic_long total_ok, total_bad, total_err;
static char request[8192];
static size_t request_len;

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static SSL *dial(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET,
                             .sin_port = htons((uint16_t)cfg.port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
        close(fd);
        return NULL;
    }
    SSL *ssl = SSL_new(ctx);
    SSL_set_fd(ssl, fd);
    if (SSL_connect(ssl) != 1) {
        SSL_free(ssl);
        close(fd);
        return NULL;
    }
    return ssl;
}

static void hang_up(SSL *ssl)
{
    if (!ssl)
        return;
    int fd = SSL_get_fd(ssl);
    SSL_free(ssl);
    close(fd);
}

/* Reads one response; returns the status code, 0 on a broken connection. */
static int read_response(SSL *ssl, char *buf, int *close_after)
{
    int len = 0, hdr_end = -1;
    long clen = -1;
    *close_after = 0;
    for (;;) {
        if (hdr_end < 0) {
            int n = SSL_read(ssl, buf + len, RESP_MAX - 1 - len);
            if (n <= 0)
                return 0;
            len += n;
            buf[len] = '\0';
            char *e = strstr(buf, "\r\n\r\n");
            if (!e) {
                if (len >= RESP_MAX - 1)
                    return 0;
                continue;
            }
            hdr_end = (int)(e - buf) + 4;
            for (char *p = strstr(buf, "\r\n"); p && p < e; p = strstr(p + 2, "\r\n")) {
                if (strncasecmp(p + 2, "content-length:", 15) == 0) {
                    clen = 0;
                    for (char *q = p + 17; *q == ' ' || (*q >= '0' && *q <= '9'); q++)
                        if (*q != ' ')
                            clen = clen * 10 + (*q - '0');
                } else if (strncasecmp(p + 2, "connection: close", 17) == 0) {
                    *close_after = 1;
                }
            }
            if (clen < 0 || hdr_end + clen >= RESP_MAX)
                return 0; /* chunked is not used by the adapter */
        }
        if (len >= hdr_end + clen)
            break;
        int n = SSL_read(ssl, buf + len, (int)(hdr_end + clen - len));
        if (n <= 0)
            return 0;
        len += n;
    }
    int status = 0;
    if (len > 12 && strncmp(buf, "HTTP/1.", 7) == 0)
        status = (buf[9] - '0') * 100 + (buf[10] - '0') * 10 + (buf[11] - '0');
    return status;
}

static void *worker(void *arg)
{
    (void)arg;
    char *buf = malloc(RESP_MAX);
    SSL *ssl = NULL;
    long ok = 0, bad = 0, err = 0;
    while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
        if (!ssl && !(ssl = dial())) {
            err++;
            usleep(10000);
            continue;
        }
        int close_after;
        if (SSL_write(ssl, request, (int)request_len) != (int)request_len) {
            err++;
            hang_up(ssl);
            ssl = NULL;
            continue;
        }
        int status = read_response(ssl, buf, &close_after);
        if (status == 0) {
            err++;
            hang_up(ssl);
            ssl = NULL;
            continue;
        }
        if (status >= 200 && status < 300)
            ok++;
        else
            bad++;
        if (close_after) {
            hang_up(ssl);
            ssl = NULL;
        }
    }
    hang_up(ssl);
    free(buf);
    atomic_fetch_add(&total_ok, ok);
    atomic_fetch_add(&total_bad, bad);
    atomic_fetch_add(&total_err, err);
    return NULL;
}

/* A positive decimal number, or -1 (strto* is reserved to apis/base/parse.c). */
static int num(const char *s)
{
    long v = 0;
    if (!*s)
        return -1;
    for (; *s; s++) {
        if (*s < '0' || *s > '9' || v > 1000000)
            return -1;
        v = v * 10 + (*s - '0');
    }
    return (int)v;
}

/* Appends text to the request; false when it does not fit. */
static bool add(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (request_len + la + lb + 1 > sizeof(request))
        return false;
    memcpy(request + request_len, a, la);
    memcpy(request + request_len + la, b, lb);
    request_len += la + lb;
    request[request_len] = '\0';
    return true;
}

static void usage(void)
{
    fprintf(stderr, "usage: auth_load -p PORT -u PATH [-c CERT -k KEY] [-t THREADS] "
                    "[-d SECONDS] [-H 'Name: value']...\n");
    exit(2);
}

int main(int argc, char **argv)
{
    int opt;
    while ((opt = getopt(argc, argv, "p:u:c:k:t:d:H:")) != -1) {
        switch (opt) {
        case 'p':
            cfg.port = num(optarg);
            break;
        case 'u':
            cfg.path = optarg;
            break;
        case 'c':
            cfg.cert = optarg;
            break;
        case 'k':
            cfg.key = optarg;
            break;
        case 't':
            cfg.threads = num(optarg);
            break;
        case 'd':
            cfg.seconds = num(optarg);
            break;
        case 'H':
            if (cfg.nheaders == MAX_HEADERS)
                usage();
            cfg.headers[cfg.nheaders++] = optarg;
            break;
        default:
            usage();
        }
    }
    if (cfg.threads < 1 || cfg.threads > MAX_THREADS || cfg.seconds < 1 || cfg.port < 1)
        usage();
    char port[16];
    snprintf(port, sizeof(port), "%d", cfg.port);
    bool fits =
        add("GET ", cfg.path) && add(" HTTP/1.1\r\nHost: 127.0.0.1:", port) && add("\r\n", "");
    for (int i = 0; i < cfg.nheaders && fits; i++)
        fits = add(cfg.headers[i], "\r\n");
    if (!fits || !add("\r\n", ""))
        usage();

    ctx = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
    if (cfg.cert && (SSL_CTX_use_certificate_chain_file(ctx, cfg.cert) != 1 ||
                     SSL_CTX_use_PrivateKey_file(ctx, cfg.key, SSL_FILETYPE_PEM) != 1)) {
        fprintf(stderr, "auth_load: cannot load %s / %s\n", cfg.cert, cfg.key);
        return 1;
    }
    pthread_t t[MAX_THREADS];
    double t0 = now_s();
    for (int i = 0; i < cfg.threads; i++)
        pthread_create(&t[i], NULL, worker, NULL);
    sleep((unsigned)cfg.seconds);
    atomic_store(&stop, true);
    for (int i = 0; i < cfg.threads; i++)
        pthread_join(t[i], NULL);
    double dt = now_s() - t0;
    long ok = atomic_load(&total_ok), bad = atomic_load(&total_bad), err = atomic_load(&total_err);
    printf("%.0f requests/s (%ld ok, %ld non-2xx, %ld errors in %.1f s, %d connections)\n",
           (double)(ok + bad) / dt, ok, bad, err, dt, cfg.threads);
    SSL_CTX_free(ctx);
    return bad || err ? 1 : 0;
}
