/* test_netaddr.c — host:port parsing into socket addresses and back: IPv4, bracketed IPv6,
 * localhost, the "::" any-address flag, every refused form with its message, and the
 * netaddr_format round trip. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/un.h>

#include "server/netaddr.h"

static const struct sockaddr_in *v4_of(const struct netaddr *a)
{
    cr_assert_eq(a->ss.ss_family, AF_INET);
    cr_assert_eq(a->len, sizeof(struct sockaddr_in));
    return (const struct sockaddr_in *)&a->ss;
}

static const struct sockaddr_in6 *v6_of(const struct netaddr *a)
{
    cr_assert_eq(a->ss.ss_family, AF_INET6);
    cr_assert_eq(a->len, sizeof(struct sockaddr_in6));
    return (const struct sockaddr_in6 *)&a->ss;
}

/* The text of the address a holds, by inet_ntop (independent of netaddr_format). */
static void ip_text(const struct netaddr *a, char out[INET6_ADDRSTRLEN])
{
    const void *src = a->ss.ss_family == AF_INET
                          ? (const void *)&((const struct sockaddr_in *)&a->ss)->sin_addr
                          : (const void *)&((const struct sockaddr_in6 *)&a->ss)->sin6_addr;
    cr_assert_not_null(inet_ntop(a->ss.ss_family, src, out, INET6_ADDRSTRLEN));
}

static void expect_refused(const char *text, const char *msg)
{
    struct netaddr a;
    struct ta_err err = { 0 };
    cr_assert_eq(netaddr_parse(text, &a, &err), TA_INVALID, "%s was accepted", text);
    cr_assert_eq(err.rc, TA_INVALID);
    cr_assert_str_eq(err.msg, msg, "for %s", text);
}

/* ---- netaddr_parse: accepted forms --------------------------------------------------------- */

Test(netaddr, parses_ipv4_host_and_port)
{
    struct netaddr a;
    struct ta_err err = { 0 };
    cr_assert_eq(netaddr_parse("192.0.2.7:8080", &a, &err), TA_OK, "%s", err.msg);
    const struct sockaddr_in *v4 = v4_of(&a);
    cr_assert_eq(ntohs(v4->sin_port), 8080);
    cr_assert_eq(ntohl(v4->sin_addr.s_addr), 0xC0000207u); /* 192.0.2.7 */
    cr_assert_not(a.any_v6);
}

Test(netaddr, parses_ipv4_any_address_and_the_port_limits)
{
    struct netaddr a;
    cr_assert_eq(netaddr_parse("0.0.0.0:0", &a, NULL), TA_OK);
    cr_assert_eq(v4_of(&a)->sin_addr.s_addr, htonl(INADDR_ANY));
    cr_assert_eq(ntohs(v4_of(&a)->sin_port), 0);
    cr_assert_not(a.any_v6, "only \"::\" listens on both families");
    cr_assert_eq(netaddr_parse("10.0.0.1:65535", &a, NULL), TA_OK);
    cr_assert_eq(ntohs(v4_of(&a)->sin_port), 65535);
}

Test(netaddr, localhost_means_ipv4_loopback)
{
    struct netaddr a;
    cr_assert_eq(netaddr_parse("localhost:4318", &a, NULL), TA_OK);
    cr_assert_eq(v4_of(&a)->sin_addr.s_addr, htonl(INADDR_LOOPBACK));
    cr_assert_eq(ntohs(v4_of(&a)->sin_port), 4318);
}

Test(netaddr, parses_bracketed_ipv6)
{
    struct netaddr a;
    struct ta_err err = { 0 };
    cr_assert_eq(netaddr_parse("[::1]:443", &a, &err), TA_OK, "%s", err.msg);
    const struct sockaddr_in6 *v6 = v6_of(&a);
    cr_assert(IN6_IS_ADDR_LOOPBACK(&v6->sin6_addr));
    cr_assert_eq(ntohs(v6->sin6_port), 443);
    cr_assert_not(a.any_v6);

    cr_assert_eq(netaddr_parse("[2001:db8::a:1]:9", &a, &err), TA_OK, "%s", err.msg);
    char ip[INET6_ADDRSTRLEN];
    ip_text(&a, ip);
    cr_assert_str_eq(ip, "2001:db8::a:1");
    cr_assert_eq(ntohs(v6_of(&a)->sin6_port), 9);
}

Test(netaddr, unspecified_ipv6_marks_any_v6)
{
    struct netaddr a;
    cr_assert_eq(netaddr_parse("[::]:6443", &a, NULL), TA_OK);
    cr_assert(IN6_IS_ADDR_UNSPECIFIED(&v6_of(&a)->sin6_addr));
    cr_assert(a.any_v6);
    cr_assert_eq(netaddr_parse("[0:0:0:0:0:0:0:0]:1", &a, NULL), TA_OK);
    cr_assert(a.any_v6, "any spelling of the unspecified address");
}

Test(netaddr, ipv4_mapped_ipv6_is_not_any_v6)
{
    struct netaddr a;
    cr_assert_eq(netaddr_parse("[::ffff:0.0.0.0]:1", &a, NULL), TA_OK);
    cr_assert_not(a.any_v6);
}

/* ---- netaddr_parse: refused forms ---------------------------------------------------------- */

Test(netaddr, refuses_ports_out_of_range_or_not_numbers)
{
    expect_refused("127.0.0.1:70000",
                   "port of '127.0.0.1:70000': 70000 is out of range [0, 65535]");
    expect_refused("127.0.0.1:65536",
                   "port of '127.0.0.1:65536': 65536 is out of range [0, 65535]");
    expect_refused("127.0.0.1:-1", "port of '127.0.0.1:-1': -1 is out of range [0, 65535]");
    expect_refused("127.0.0.1:x", "port of '127.0.0.1:x': not an integer: 'x'");
    expect_refused("[::1]:8o", "port of '[::1]:8o': not an integer: '8o'");
    expect_refused("127.0.0.1: 80", "port of '127.0.0.1: 80': not an integer: ' 80'");
    expect_refused("127.0.0.1:99999999999999999999999",
                   "port of '127.0.0.1:99999999999999999999999': 99999999999999999999999 is out "
                   "of range [0, 65535]");
}

Test(netaddr, refuses_a_missing_or_empty_port)
{
    expect_refused("127.0.0.1", "'127.0.0.1' is not host:port");
    expect_refused("localhost", "'localhost' is not host:port");
    expect_refused("", "'' is not host:port");
    expect_refused("127.0.0.1:", "port of '127.0.0.1:': not an integer: ''");
    expect_refused("[::1]", "'[::1]' is not [host]:port");
    expect_refused("[::1]:", "port of '[::1]:': not an integer: ''");
    expect_refused("[::1]80", "'[::1]80' is not [host]:port");
    expect_refused("[::1", "'[::1' is not [host]:port");
}

Test(netaddr, refuses_a_missing_host)
{
    expect_refused(":80", "':80' has no usable host");
    expect_refused("[]:80", "'[]:80' has no usable host");
}

Test(netaddr, refuses_hostnames)
{
    expect_refused("example.com:80", "'example.com' is not a numeric IPv4 or IPv6 address");
    expect_refused("tempo-adapter:6443", "'tempo-adapter' is not a numeric IPv4 or IPv6 address");
    expect_refused("256.0.0.1:80", "'256.0.0.1' is not a numeric IPv4 or IPv6 address");
    expect_refused("1.2.3:80", "'1.2.3' is not a numeric IPv4 or IPv6 address");
}

Test(netaddr, refuses_ipv6_without_brackets)
{
    /* "::1:80" is itself an IPv6 address: reading it as [::1]:80 would be a guess */
    expect_refused("::1:80", "'::1:80' is not host:port (write an IPv6 address as [addr]:port)");
    expect_refused("2001:db8::1:443",
                   "'2001:db8::1:443' is not host:port (write an IPv6 address as [addr]:port)");
}

Test(netaddr, refuses_an_over_long_host)
{
    char text[300];
    memset(text, '1', 200);
    memcpy(text + 200, ":80", 4);
    struct netaddr a;
    struct ta_err err = { 0 };
    cr_assert_eq(netaddr_parse(text, &a, &err), TA_INVALID);
    cr_assert(strstr(err.msg, "has no usable host"), "%s", err.msg);
    cr_assert_lt(strlen(err.msg), 100, "the input is quoted truncated: %s", err.msg);
}

Test(netaddr, null_err_is_allowed_on_failure)
{
    struct netaddr a;
    cr_assert_eq(netaddr_parse("nope", &a, NULL), TA_INVALID);
    cr_assert_eq(netaddr_from_host_port("nope", 1, &a, NULL), TA_INVALID);
}

/* ---- netaddr_from_host_port ---------------------------------------------------------------- */

Test(netaddr, from_host_port_builds_both_families)
{
    struct netaddr a;
    struct ta_err err = { 0 };
    cr_assert_eq(netaddr_from_host_port("0.0.0.0", 6443, &a, &err), TA_OK, "%s", err.msg);
    cr_assert_eq(v4_of(&a)->sin_addr.s_addr, htonl(INADDR_ANY));
    cr_assert_eq(ntohs(v4_of(&a)->sin_port), 6443);
    cr_assert_not(a.any_v6);

    cr_assert_eq(netaddr_from_host_port("::", 6443, &a, &err), TA_OK, "%s", err.msg);
    cr_assert(IN6_IS_ADDR_UNSPECIFIED(&v6_of(&a)->sin6_addr));
    cr_assert_eq(ntohs(v6_of(&a)->sin6_port), 6443);
    cr_assert(a.any_v6);

    cr_assert_eq(netaddr_from_host_port("::1", 1, &a, &err), TA_OK, "%s", err.msg);
    cr_assert(IN6_IS_ADDR_LOOPBACK(&v6_of(&a)->sin6_addr));
    cr_assert_not(a.any_v6);

    cr_assert_eq(netaddr_from_host_port("localhost", 0, &a, &err), TA_OK, "%s", err.msg);
    cr_assert_eq(v4_of(&a)->sin_addr.s_addr, htonl(INADDR_LOOPBACK));
}

Test(netaddr, from_host_port_refuses_bad_ports_and_names)
{
    struct netaddr a;
    struct ta_err err = { 0 };
    cr_assert_eq(netaddr_from_host_port("127.0.0.1", 70000, &a, &err), TA_INVALID);
    cr_assert_str_eq(err.msg, "port 70000 is out of range");
    cr_assert_eq(netaddr_from_host_port("127.0.0.1", 65536, &a, &err), TA_INVALID);
    cr_assert_str_eq(err.msg, "port 65536 is out of range");
    cr_assert_eq(netaddr_from_host_port("127.0.0.1", -1, &a, &err), TA_INVALID);
    cr_assert_str_eq(err.msg, "port -1 is out of range");
    cr_assert_eq(netaddr_from_host_port("[::1]", 80, &a, &err), TA_INVALID);
    cr_assert_str_eq(err.msg, "'[::1]' is not a numeric IPv4 or IPv6 address");
    cr_assert_eq(netaddr_from_host_port("kubernetes.default.svc", 443, &a, &err), TA_INVALID);
    cr_assert_str_eq(err.msg, "'kubernetes.default.svc' is not a numeric IPv4 or IPv6 address");
    cr_assert_eq(netaddr_from_host_port("", 443, &a, &err), TA_INVALID);
    cr_assert_str_eq(err.msg, "'' is not a numeric IPv4 or IPv6 address");
}

/* ---- netaddr_format ------------------------------------------------------------------------ */

static void round_trip(const char *text, const char *formatted)
{
    struct netaddr a, b;
    struct ta_err err = { 0 };
    cr_assert_eq(netaddr_parse(text, &a, &err), TA_OK, "%s: %s", text, err.msg);
    char out[64];
    netaddr_format((const struct sockaddr *)&a.ss, out);
    cr_assert_str_eq(out, formatted, "for %s", text);
    cr_assert_eq(netaddr_parse(out, &b, &err), TA_OK, "%s: %s", out, err.msg);
    cr_assert_eq(a.len, b.len);
    cr_assert_eq(memcmp(&a.ss, &b.ss, a.len), 0, "%s parses back to the same address", out);
    cr_assert_eq(a.any_v6, b.any_v6);
}

Test(netaddr, format_round_trips)
{
    round_trip("1.2.3.4:80", "1.2.3.4:80");
    round_trip("0.0.0.0:0", "0.0.0.0:0");
    round_trip("255.255.255.255:65535", "255.255.255.255:65535");
    round_trip("[::1]:443", "[::1]:443");
    round_trip("[::]:6443", "[::]:6443");
    round_trip("localhost:4318", "127.0.0.1:4318");
    round_trip("[2001:0DB8:0:0:0:0:0:1]:8443", "[2001:db8::1]:8443");
    round_trip("[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535",
               "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535");
}

Test(netaddr, format_of_null_or_other_families_is_a_question_mark)
{
    char out[64];
    memset(out, 'x', sizeof(out));
    netaddr_format(NULL, out);
    cr_assert_str_eq(out, "?");
    struct sockaddr_un un = { .sun_family = AF_UNIX };
    memset(out, 'x', sizeof(out));
    netaddr_format((const struct sockaddr *)&un, out);
    cr_assert_str_eq(out, "?");
}
