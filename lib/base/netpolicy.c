/*
 * netpolicy.c -- the address classes refused by default, [tools] allowed_hosts patterns, and
 * the two checks made with them: a handler URL at publish, a resolved address at connect time
 * (see netpolicy.h).
 *
 * A policy is an immutable list of rules, shared by reference between the configuration
 * snapshot that built it and the outbound calls that still use it after a reload.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/netpolicy.h"

typedef enum { RULE_NAME, RULE_SUFFIX, RULE_NET } rule_kind;

typedef struct rule {
  rule_kind kind;
  int port;              /* 0: any */
  int family;            /* RULE_NET: AF_INET or AF_INET6 */
  int prefix;            /* RULE_NET: bits */
  unsigned char net[16]; /* RULE_NET */
  char *name;            /* RULE_NAME: "tools.corp"; RULE_SUFFIX: ".corp" */
} rule;

struct sg_netpolicy {
  atomic_int refs;
  int any; /* "*": everything allowed */
  size_t n;
  rule r[];
};

/* ------------------------------------------------------------------------------------------ */
/* Address classes */

static const char *v4_class(const unsigned char *a) {
  if (a[0] == 0) return "an unspecified address (0.0.0.0/8)";
  if (a[0] == 10) return "a private address (RFC 1918)";
  if (a[0] == 100 && (a[1] & 0xC0) == 64) return "a shared address (100.64.0.0/10, RFC 6598)";
  if (a[0] == 127) return "a loopback address";
  if (a[0] == 169 && a[1] == 254) return "a link-local address";
  if (a[0] == 172 && (a[1] & 0xF0) == 16) return "a private address (RFC 1918)";
  if (a[0] == 192 && a[1] == 168) return "a private address (RFC 1918)";
  if (a[0] >= 224 && a[0] < 240) return "a multicast address";
  if (a[0] >= 240) return "a reserved address (240.0.0.0/4)";
  return NULL;
}

/* The IPv4 address an IPv6 address carries and is judged by (mapped, compatible, NAT64,
 * 6to4), or NULL. */
static const unsigned char *v6_embedded_v4(const unsigned char *a) {
  static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  static const unsigned char nat64[12] = {0, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0};
  static const unsigned char zero[12] = {0};
  if (!memcmp(a, mapped, 12) || !memcmp(a, nat64, 12) || !memcmp(a, zero, 12)) return a + 12;
  if (a[0] == 0x20 && a[1] == 0x02) return a + 2;
  return NULL;
}

const char *sg_net_ip_class(int family, const unsigned char *a) {
  static const unsigned char zero[16] = {0};
  if (family == AF_INET) return v4_class(a);
  if (family != AF_INET6) return "not an IP address";
  if (!memcmp(a, zero, 16)) return "an unspecified address (::)";
  if (!memcmp(a, zero, 15) && a[15] == 1) return "a loopback address (::1)";
  const unsigned char *v4 = v6_embedded_v4(a);
  if (v4) return v4_class(v4);
  if (a[0] == 0xfe && (a[1] & 0xC0) == 0x80) return "a link-local address (fe80::/10)";
  if (a[0] == 0xfe && (a[1] & 0xC0) == 0xC0) return "a site-local address (fec0::/10)";
  if ((a[0] & 0xFE) == 0xFC) return "a unique local address (fc00::/7)";
  if (a[0] == 0xff) return "a multicast address (ff00::/8)";
  return NULL;
}

/* ------------------------------------------------------------------------------------------ */
/* Patterns */

static int prefix_match(const unsigned char *a, const unsigned char *net, int bits) {
  int full = bits / 8, rest = bits % 8;
  if (memcmp(a, net, (size_t)full) != 0) return 0;
  if (!rest) return 1;
  unsigned char m = (unsigned char)(0xFF << (8 - rest));
  return (a[full] & m) == (net[full] & m);
}

/* A port: 1 to 65535, digits only.  -1 when malformed. */
static int parse_port(const char *s, size_t n) {
  if (n == 0 || n > 5) return -1;
  int v = 0;
  for (size_t i = 0; i < n; i++) {
    if (s[i] < '0' || s[i] > '9') return -1;
    v = v * 10 + (s[i] - '0');
  }
  return v >= 1 && v <= 65535 ? v : -1;
}

/* An address or a network ("10.0.0.0/8"), of the given family, into r.  0 or -1. */
static int parse_net(const char *s, size_t n, int family, rule *r) {
  char buf[INET6_ADDRSTRLEN + 8];
  if (n >= sizeof buf) return -1;
  memcpy(buf, s, n);
  buf[n] = '\0';
  int max = family == AF_INET ? 32 : 128;
  char *slash = strchr(buf, '/');
  r->prefix = max;
  if (slash) {
    *slash = '\0';
    const char *d = slash + 1;
    size_t dl = strlen(d);
    if (dl == 0 || dl > 3 || strspn(d, "0123456789") != dl || atoi(d) > max) return -1;
    r->prefix = atoi(d);
  }
  if (inet_pton(family, buf, r->net) != 1) return -1;
  r->family = family;
  r->kind = RULE_NET;
  for (int b = r->prefix; b < max; b++) r->net[b / 8] &= (unsigned char)~(0x80 >> (b % 8));
  return 0;
}

static int name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_';
}

/* Says that pat is none of the forms a pattern takes; returns SOULGW_EINVAL. */
static int not_a_pattern(const char *pat, char *why, size_t whylen) {
  sg_seterr(why, whylen,
            "\"%.200s\" is not a host pattern (a host name, \"*.\" and a domain, an IP address "
            "or network, each with an optional \":port\"; or \"*\")",
            pat);
  return SOULGW_EINVAL;
}

/* A host name pattern ("tools.corp", "*.corp") into r, lower-cased; the trailing dot of a
 * fully qualified name dropped. */
static int parse_name(const char *s, size_t n, rule *r, const char *pat, char *why, size_t whylen) {
  int suffix = n > 2 && s[0] == '*' && s[1] == '.';
  if (suffix) s++, n--; /* keeps the dot: ".corp" */
  if (n && s[n - 1] == '.') n--;
  char *name = malloc(n + 1);
  if (!name) return SOULGW_ENOMEM;
  for (size_t i = 0; i < n; i++) name[i] = (char)tolower((unsigned char)s[i]);
  name[n] = '\0';
  int okay = n > (size_t)suffix && name[suffix] != '.' && !strstr(name, "..");
  for (size_t i = 0; okay && i < n; i++) okay = name_char(name[i]);
  struct in_addr in;
  if (!okay) {
    not_a_pattern(pat, why, whylen);
  } else if (!suffix && inet_aton(name, &in)) {
    sg_seterr(why, whylen, "\"%.200s\": write an IPv4 address as four decimal numbers (%s)",
              pat, inet_ntoa(in));
    okay = 0;
  }
  if (!okay) {
    free(name);
    return SOULGW_EINVAL;
  }
  r->kind = suffix ? RULE_SUFFIX : RULE_NAME;
  r->name = name;
  return 0;
}

static int parse_pattern(const char *pat, rule *r, char *why, size_t whylen) {
  const char *s = pat, *port = NULL;
  size_t n = strlen(s);
  int family = 0;
  memset(r, 0, sizeof *r);
  if (strstr(s, "://")) goto bad; /* a URL, not a host */
  if (s[0] == '[') { /* "[v6]" or "[v6/len]", then ":port" */
    const char *close = strchr(s, ']');
    if (!close || (close[1] && close[1] != ':')) goto bad;
    if (close[1] == ':') port = close + 2;
    s++;
    n = (size_t)(close - s);
    family = AF_INET6;
  } else {
    const char *colon = strchr(s, ':');
    if (colon && strchr(colon + 1, ':')) {
      family = AF_INET6; /* a bare IPv6 address or network: no port */
    } else if (colon) {
      port = colon + 1;
      n = (size_t)(colon - s);
    }
  }
  if (port && (r->port = parse_port(port, strlen(port))) < 0) {
    sg_seterr(why, whylen, "\"%.200s\": the port must be a number from 1 to 65535", pat);
    return SOULGW_EINVAL;
  }
  if (family == AF_INET6) {
    if (parse_net(s, n, AF_INET6, r) != 0) goto bad;
    return 0;
  }
  if (n && ((s[0] >= '0' && s[0] <= '9') || memchr(s, '/', n)) && parse_net(s, n, AF_INET, r) == 0)
    return 0;
  if (memchr(s, '/', n)) goto bad;
  return parse_name(s, n, r, pat, why, whylen);
bad:
  return not_a_pattern(pat, why, whylen);
}

int sg_netpolicy_new(const char *const *patterns, size_t n, sg_netpolicy **out, char *why,
                     size_t whylen) {
  *out = NULL;
  if (n > SG_NETPOLICY_MAX) {
    sg_seterr(why, whylen, "more than %d patterns", SG_NETPOLICY_MAX);
    return SOULGW_EINVAL;
  }
  sg_netpolicy *p = calloc(1, sizeof *p + n * sizeof p->r[0]);
  if (!p) return SOULGW_ENOMEM;
  atomic_init(&p->refs, 1);
  for (size_t i = 0; i < n; i++) {
    if (!strcmp(patterns[i], "*")) {
      p->any = 1;
      continue;
    }
    int rc = parse_pattern(patterns[i], &p->r[p->n], why, whylen);
    if (rc) {
      if (rc == SOULGW_ENOMEM) sg_seterr(why, whylen, "out of memory");
      sg_netpolicy_release(p);
      return rc;
    }
    p->n++;
  }
  *out = p;
  return 0;
}

sg_netpolicy *sg_netpolicy_ref(sg_netpolicy *p) {
  if (p) atomic_fetch_add_explicit(&p->refs, 1, memory_order_relaxed);
  return p;
}

void sg_netpolicy_release(sg_netpolicy *p) {
  if (!p || atomic_fetch_sub_explicit(&p->refs, 1, memory_order_acq_rel) != 1) return;
  for (size_t i = 0; i < p->n; i++) free(p->r[i].name);
  free(p);
}

/* 1 when an address pattern allows addr:port. */
static int addr_allowed(const sg_netpolicy *p, int family, const unsigned char *a, int port) {
  const unsigned char *v4 = family == AF_INET ? a : v6_embedded_v4(a);
  for (size_t i = 0; i < p->n; i++) {
    const rule *r = &p->r[i];
    if (r->kind != RULE_NET || (r->port && r->port != port)) continue;
    if (r->family == family && prefix_match(a, r->net, r->prefix)) return 1;
    if (r->family == AF_INET && v4 && prefix_match(v4, r->net, r->prefix)) return 1;
  }
  return 0;
}

/* 1 when a name pattern allows host:port (host lower case, no trailing dot). */
static int name_allowed(const sg_netpolicy *p, const char *host, int port) {
  size_t hl = strlen(host);
  for (size_t i = 0; i < p->n; i++) {
    const rule *r = &p->r[i];
    if (r->kind == RULE_NET || (r->port && r->port != port)) continue;
    if (r->kind == RULE_NAME && !strcmp(host, r->name)) return 1;
    size_t sl = r->kind == RULE_SUFFIX ? strlen(r->name) : 0;
    if (sl && hl > sl && !strcmp(host + hl - sl, r->name)) return 1;
  }
  return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* URLs */

int sg_url_target_parse(const char *url, sg_url_target *t, char *why, size_t whylen) {
  memset(t, 0, sizeof *t);
  const char *p;
  if (!strncmp(url, "http://", 7)) {
    p = url + 7;
    t->port = 80;
  } else if (!strncmp(url, "https://", 8)) {
    p = url + 8;
    t->port = 443;
  } else {
    sg_seterr(why, whylen, "not an http:// or https:// URL");
    return SOULGW_EINVAL;
  }
  size_t alen = strcspn(p, "/?#");
  const char *host = p, *port = NULL, *end = p + alen;
  size_t hl;
  if (memchr(p, '@', alen)) {
    sg_seterr(why, whylen,
              "the URL carries user information (\"user:password@\"); credentials do not "
              "belong in a handler URL");
    return SOULGW_EINVAL;
  }
  if (alen && p[0] == '[') {
    const char *close = memchr(p, ']', alen);
    if (!close || (close + 1 < end && close[1] != ':')) goto bad_host;
    host = p + 1;
    hl = (size_t)(close - host);
    if (close + 1 < end) port = close + 2;
    if (hl >= sizeof t->host || memchr(host, '%', hl)) goto bad_host;
    memcpy(t->host, host, hl);
    t->host[hl] = '\0';
    if (inet_pton(AF_INET6, t->host, t->addr) != 1) goto bad_host;
    t->family = AF_INET6;
  } else {
    const char *colon = memchr(p, ':', alen);
    hl = colon ? (size_t)(colon - p) : alen;
    if (colon) port = colon + 1;
    if (hl && p[hl - 1] == '.') hl--; /* "localhost." is "localhost" */
    if (hl == 0 || hl >= sizeof t->host) goto bad_host;
    for (size_t i = 0; i < hl; i++) {
      char c = (char)tolower((unsigned char)p[i]);
      if (!name_char(c) || (c == '.' && (i == 0 || t->host[i - 1] == '.'))) goto bad_host;
      t->host[i] = c;
    }
    t->host[hl] = '\0';
    struct in_addr in; /* every form getaddrinfo and libcurl read: "127.1", "0x7f000001" ... */
    if (inet_aton(t->host, &in)) {
      memcpy(t->addr, &in, 4);
      t->family = AF_INET;
      inet_ntop(AF_INET, &in, t->host, sizeof t->host);
    }
  }
  if (port && (t->port = parse_port(port, (size_t)(end - port))) < 0) {
    sg_seterr(why, whylen, "the URL's port must be a number from 1 to 65535");
    return SOULGW_EINVAL;
  }
  if (t->family == AF_INET6) inet_ntop(AF_INET6, t->addr, t->host, sizeof t->host);
  return 0;
bad_host:
  sg_seterr(why, whylen,
            "the URL's host is malformed (a name of ASCII letters, digits, '-', '.' and '_', an "
            "IPv4 address, or an IPv6 address in brackets without a zone)");
  return SOULGW_EINVAL;
}

static int is_localhost(const char *host) {
  size_t n = strlen(host);
  return !strcmp(host, "localhost") || (n > 10 && !strcmp(host + n - 10, ".localhost"));
}

int sg_netpolicy_check_url(const sg_netpolicy *p, const char *url, char *why, size_t whylen) {
  sg_url_target t;
  int rc = sg_url_target_parse(url, &t, why, whylen);
  if (rc || p->any) return rc;
  if (!t.family) {
    if (name_allowed(p, t.host, t.port) || !is_localhost(t.host)) return 0;
    static const unsigned char lo[4] = {127, 0, 0, 1}; /* what libcurl resolves it to */
    if (addr_allowed(p, AF_INET, lo, t.port)) return 0;
    sg_seterr(why, whylen, "host %s is a loopback name", t.host);
    return 1;
  }
  const char *cls = sg_net_ip_class(t.family, t.addr);
  if (!cls || addr_allowed(p, t.family, t.addr, t.port)) return 0;
  sg_seterr(why, whylen, "host %s is %s", t.host, cls);
  return 1;
}

int sg_netpolicy_check_manifests(const sg_netpolicy *p, const soulgw_json *manifests, char *err,
                                 size_t errlen) {
  size_t i = 0;
  for (const soulgw_json *m = soulgw_json_first(manifests); m; m = soulgw_json_next(m), i++) {
    const char *h = soulgw_json_string(soulgw_json_get(m, "handler"));
    if (!h || (strncmp(h, "http://", 7) != 0 && strncmp(h, "https://", 8) != 0)) continue;
    char why[300];
    int rc = sg_netpolicy_check_url(p, h, why, sizeof why);
    if (!rc) continue;
    sg_seterr(err, errlen, "manifests[%zu] (tool %.128s): handler: %s%s", i,
              soulgw_json_string(soulgw_json_get(m, "id")), why,
              rc == 1 ? ", which [tools] allowed_hosts does not allow" : "");
    return SOULGW_EINVAL;
  }
  return 0;
}

int sg_netpolicy_trusts_url(const sg_netpolicy *p, const char *url) {
  sg_url_target t;
  if (sg_url_target_parse(url, &t, NULL, 0) != 0 || t.family) return 0;
  return p->any || name_allowed(p, t.host, t.port);
}

int sg_netpolicy_check_addr(const sg_netpolicy *p, const struct sockaddr *sa, int trusted_name,
                            char *why, size_t whylen) {
  unsigned char a[16];
  int family = sa ? sa->sa_family : AF_UNSPEC, port;
  if (family == AF_INET) {
    const struct sockaddr_in *in = (const struct sockaddr_in *)(const void *)sa;
    memcpy(a, &in->sin_addr, 4);
    port = ntohs(in->sin_port);
  } else if (family == AF_INET6) {
    const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)(const void *)sa;
    memcpy(a, &in6->sin6_addr, 16);
    port = ntohs(in6->sin6_port);
  } else {
    sg_seterr(why, whylen, "not an IP address (family %d)", family);
    return 1;
  }
  if (p->any || trusted_name) return 0;
  const char *cls = sg_net_ip_class(family, a);
  if (!cls || addr_allowed(p, family, a, port)) return 0;
  char text[INET6_ADDRSTRLEN];
  inet_ntop(family, a, text, sizeof text);
  sg_seterr(why, whylen, "%s is %s", text, cls);
  return 1;
}
