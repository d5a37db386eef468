/*
 * netpolicy.h -- where an HTTP tool may connect: the addresses refused by default and the
 * [tools] allowed_hosts exceptions (see man/soulgw.toml.5).
 *
 * A tenant that holds config:manage chooses the URL an HTTP tool calls, so without a policy it
 * could make the gateway read its own loopback services, the cloud metadata address or anything
 * on the private network, and use error messages to scan ports.  By default the gateway refuses
 * to connect to
 *
 *   IPv4  0.0.0.0/8 (unspecified), 10/8, 172.16/12, 192.168/16 (RFC 1918), 100.64/10 (shared,
 *         RFC 6598), 127/8 (loopback), 169.254/16 (link-local), 224/4 (multicast), 240/4
 *         (reserved, broadcast included)
 *   IPv6  :: and ::1, fe80::/10 (link-local), fec0::/10 (site-local), fc00::/7 (unique local),
 *         ff00::/8 (multicast), and the IPv4 address inside ::ffff:0:0/96 (mapped), ::/96
 *         (compatible), 64:ff9b::/96 (NAT64) and 2002::/16 (6to4), judged as IPv4
 *
 * and allows every other address.  Patterns in allowed_hosts make exceptions:
 *
 *   "*"                      everything (the policy is off)
 *   "tools.corp"             that host name, any port        } name patterns: a URL naming a
 *   "*.corp"                 any name ending in ".corp"       } matching host may connect to
 *   "tools.corp:8080"        that name, that port only        } whatever the name resolves to
 *   "10.1.2.3", "10.0.0.0/8", "10.1.2.3:8080"               } address patterns: any URL may
 *   "[::1]", "[fd00::/8]:443", "::1", "fd00::/8"            } connect to a matching address
 *
 * The policy is applied twice.  At publish, a handler URL is checked for what can be told
 * without DNS: its syntax (no user information), an IP literal (in every form getaddrinfo
 * reads, "127.1" and "2130706433" included) and the names localhost and *.localhost (judged as
 * 127.0.0.1, which is what libcurl resolves them to).  At connect time, every address a name
 * resolved to is checked again, so that a name that pointed elsewhere at publish (DNS
 * rebinding) cannot reach a refused address.
 *
 * Everything here is plain computation on strings and socket addresses, with no I/O.
 */
#ifndef SG_NETPOLICY_H
#define SG_NETPOLICY_H

#include <sys/socket.h>

#include "base/sg.h"

typedef struct sg_netpolicy sg_netpolicy;

/* Most patterns in one policy. */
#define SG_NETPOLICY_MAX 256

/* Builds a policy from n patterns (none: the default policy).  Returns 0 and *out (one
 * reference), SOULGW_EINVAL with why naming the first bad pattern, or SOULGW_ENOMEM. */
int sg_netpolicy_new(const char *const *patterns, size_t n, sg_netpolicy **out, char *why,
                     size_t whylen);
/* Takes one more reference; returns p.  NULL gives NULL. */
sg_netpolicy *sg_netpolicy_ref(sg_netpolicy *p);
/* Drops a reference; the last one frees the policy.  NULL does nothing. */
void sg_netpolicy_release(sg_netpolicy *p);

/* Why an address is refused by default ("loopback", "private (RFC 1918)", ...), or NULL when it
 * is an ordinary address.  family is AF_INET (addr: 4 bytes, network order) or AF_INET6 (16
 * bytes); anything else is "not an IP address". */
const char *sg_net_ip_class(int family, const unsigned char *addr);

/* The host and port of an http:// or https:// URL, as libcurl will read them. */
typedef struct sg_url_target {
  char host[256];          /* lower case, without brackets or a trailing dot */
  int port;                /* the explicit port, or 80 / 443 */
  int family;              /* AF_INET or AF_INET6 for an IP literal, else 0 (a name) */
  unsigned char addr[16];  /* the literal's address */
} sg_url_target;

/* Splits url.  Returns 0, or SOULGW_EINVAL with why: not http(s), user information
 * ("user:password@"), an empty, over-long or malformed host (only ASCII letters, digits, '-',
 * '.' and '_' in names; IPv6 in brackets, without a zone), a bad port. */
int sg_url_target_parse(const char *url, sg_url_target *t, char *why, size_t whylen);

/* Publish-time check of a handler URL.  Returns 0 when allowed, SOULGW_EINVAL with why when the
 * URL is malformed (as sg_url_target_parse), or 1 with why when its host is refused
 * ("host 10.0.0.7 is a private address (RFC 1918)"). */
int sg_netpolicy_check_url(const sg_netpolicy *p, const char *url, char *why, size_t whylen);

/* The publish-time check of every http(s) handler of manifests (an array of normalized
 * ToolManifestEntry).  Returns 0, or SOULGW_EINVAL with err naming the manifest, its tool and
 * the host ("manifests[2] (tool net.fetch): handler host 10.0.0.7 is a private address (RFC
 * 1918), which [tools] allowed_hosts does not allow"). */
int sg_netpolicy_check_manifests(const sg_netpolicy *p, const soulgw_json *manifests, char *err,
                                 size_t errlen);

/* 1 when a name pattern matches the URL's host and port: a call to it may connect to the
 * addresses the name resolves to even when they are refused by default.  0 otherwise, and for
 * IP literals and malformed URLs. */
int sg_netpolicy_trusts_url(const sg_netpolicy *p, const char *url);

/* Connect-time check of one resolved address (AF_INET or AF_INET6, port included), for a call
 * whose URL the policy trusts by name or not.  Returns 0 when the call may connect, else 1
 * with why ("127.0.0.1 is loopback"). */
int sg_netpolicy_check_addr(const sg_netpolicy *p, const struct sockaddr *sa, int trusted_name,
                            char *why, size_t whylen);

#endif
