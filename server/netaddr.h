/* netaddr.h — turns "host:port", "[v6]:port" or a host and a port into a socket address.
 *
 * main uses it for --bind-address/--secure-port and --otlp-bind-address. Only numeric
 * addresses and "localhost" are accepted (no DNS at startup). Pure: any thread. */
#ifndef TA_SERVER_NETADDR_H
#define TA_SERVER_NETADDR_H

#include <stdbool.h>
#include <sys/socket.h>

#include "apis/base/slice.h"
#include "apis/base/ta_err.h"

struct netaddr {
    struct sockaddr_storage ss;
    socklen_t len;
    bool any_v6; /* "::": listen on IPv6 and IPv4 */
};

enum ta_rc netaddr_from_host_port(const char *host, int port, struct netaddr *out,
                                  struct ta_err *err);
enum ta_rc netaddr_parse(const char *host_port, struct netaddr *out, struct ta_err *err);
/* "1.2.3.4:80" or "[::1]:80" into out[64]. */
void netaddr_format(const struct sockaddr *sa, char out[64]);

#endif
