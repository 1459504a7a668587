/* netaddr.c — numeric host and port parsing into sockaddr_storage. Pure: any thread. */
#include "server/netaddr.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "apis/base/parse.h"

enum ta_rc netaddr_from_host_port(const char *host, int port, struct netaddr *out,
                                  struct ta_err *err)
{
    memset(out, 0, sizeof(*out));
    if (port < 0 || port > 65535)
        return ta_err_set(err, TA_INVALID, "port %d is out of range", port);
    if (strcmp(host, "localhost") == 0)
        host = "127.0.0.1";
    struct sockaddr_in *v4 = (struct sockaddr_in *)&out->ss;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&out->ss;
    if (inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons((uint16_t)port);
        out->len = sizeof(*v4);
        return TA_OK;
    }
    if (inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons((uint16_t)port);
        out->len = sizeof(*v6);
        out->any_v6 = IN6_IS_ADDR_UNSPECIFIED(&v6->sin6_addr);
        return TA_OK;
    }
    return ta_err_set(err, TA_INVALID, "'%.64s' is not a numeric IPv4 or IPv6 address", host);
}

enum ta_rc netaddr_parse(const char *host_port, struct netaddr *out, struct ta_err *err)
{
    char host[128];
    struct slice s = slice_from_cstr(host_port);
    struct slice h, p;
    if (s.len && s.ptr[0] == '[') {
        long close = slice_index(s, ']');
        if (close < 0 || (size_t)close + 1 >= s.len || s.ptr[close + 1] != ':')
            return ta_err_set(err, TA_INVALID, "'%.64s' is not [host]:port", host_port);
        h = slice_make(s.ptr + 1, (size_t)close - 1);
        p = slice_skip(s, (size_t)close + 2);
    } else {
        long colon = -1;
        size_t ncolons = 0;
        for (size_t i = 0; i < s.len; i++)
            if (s.ptr[i] == ':') {
                colon = (long)i;
                ncolons++;
            }
        if (colon < 0)
            return ta_err_set(err, TA_INVALID, "'%.64s' is not host:port", host_port);
        if (ncolons > 1) /* "::1:80" is itself an IPv6 address: do not guess */
            return ta_err_set(err, TA_INVALID,
                              "'%.64s' is not host:port (write an IPv6 address as [addr]:port)",
                              host_port);
        h = slice_head(s, (size_t)colon);
        p = slice_skip(s, (size_t)colon + 1);
    }
    if (h.len == 0 || h.len >= sizeof(host))
        return ta_err_set(err, TA_INVALID, "'%.64s' has no usable host", host_port);
    memcpy(host, h.ptr, h.len);
    host[h.len] = '\0';
    int64_t port;
    enum ta_rc rc = parse_i64(p, 0, 65535, &port, err);
    if (rc != TA_OK)
        return ta_err_prefix(err, "port of '%.64s'", host_port);
    return netaddr_from_host_port(host, (int)port, out, err);
}

void netaddr_format(const struct sockaddr *sa, char out[64])
{
    char ip[INET6_ADDRSTRLEN] = "?";
    if (!sa) {
        snprintf(out, 64, "?");
    } else if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *v4 = (const struct sockaddr_in *)sa;
        inet_ntop(AF_INET, &v4->sin_addr, ip, sizeof(ip));
        snprintf(out, 64, "%s:%u", ip, ntohs(v4->sin_port));
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *v6 = (const struct sockaddr_in6 *)sa;
        inet_ntop(AF_INET6, &v6->sin6_addr, ip, sizeof(ip));
        snprintf(out, 64, "[%s]:%u", ip, ntohs(v6->sin6_port));
    } else {
        snprintf(out, 64, "?");
    }
}
