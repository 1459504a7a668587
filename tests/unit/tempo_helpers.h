/* tempo_helpers.h — a scripted HTTP/1.1 server on 127.0.0.1 for the Tempo client and source
 * unit tests (test_tempo_client.c, test_tempo_source.c).
 *
 * One server per test process (criterion forks a process per test). Each request is logged
 * (path with query, raw header block) and answered by, in order: the next scripted response,
 * the handler (if any), or the default response. The server can hold answers (th_hold) to line
 * requests up, delay them, close the connection without answering, announce more bytes than
 * it sends, or gzip the body. Keeps the tests free of Python children (valgrind traces
 * children). Internally locked: any thread. */
#ifndef TA_TESTS_TEMPO_HELPERS_H
#define TA_TESTS_TEMPO_HELPERS_H

#include <stdbool.h>
#include <stddef.h>

enum th_mode {
    TH_NORMAL,
    TH_CLOSE,    /* close (RST) without answering */
    TH_TRUNCATE, /* announce 1000 bytes more than sent, then close */
};

struct th_resp {
    int status;
    const char *ctype; /* default application/json */
    const char *body;  /* NUL-terminated; NULL: huge_len bytes of 'x' */
    char *owned_body;  /* alternatively a malloc'd body of body_len bytes, freed by the server */
    size_t body_len;
    size_t huge_len;
    int delay_ms;
    enum th_mode mode;
    bool gzip;
    const char *extra; /* one more header line without CRLF */
};

/* Computes the answer to one request; path includes the query string. */
typedef void (*th_handler)(void *arg, const char *path, const char *headers, struct th_resp *out);

/* Starts the server on port (0 = any free port); the handler may be NULL. */
void th_start(int port, th_handler handler, void *arg);
void th_stop(void);
int th_port(void);
/* "http://127.0.0.1:<port>" (static storage). */
const char *th_url(void);
void th_script(struct th_resp r);
void th_set_default(struct th_resp r);
void th_hold(bool hold);
int th_nreq(void);
/* Copies of request i's path (with query) and raw header block; "" past the log. */
void th_request(int i, char *path, size_t path_cap, char *headers, size_t headers_cap);
bool th_has_header(int i, const char *line);
int th_max_inflight(void);
/* Waits (bounded, 10 s) until at least n requests arrived. */
void th_wait_requests(int n);
/* Percent-decodes the value of parameter name in a path's query ('+' is a space) into out;
 * false when absent. */
bool th_query_param(const char *path, const char *name, char *out, size_t cap);
/* A port that was free a moment ago. */
int th_free_port(void);

#endif
