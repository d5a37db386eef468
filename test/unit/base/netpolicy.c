/*
 * netpolicy.c -- unit tests of lib/netpolicy.c: the address classes refused by default, the
 * [tools] allowed_hosts pattern syntax, handler URLs as libcurl reads them, the publish-time
 * and connect-time checks; and, through lib/upstream.c against a loopback listener in this
 * process, that the connect-time check holds for a name resolving to loopback and for a
 * kept-alive connection opened by an unchecked call.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/netpolicy.h"
#include "base/sg.h"
#include "tap.h"
#include "clients/upstream.h"

static sg_netpolicy *policy(const char *const *pats, size_t n) {
  sg_netpolicy *p = NULL;
  char why[300];
  if (sg_netpolicy_new(pats, n, &p, why, sizeof why) != 0) tap_diag("policy: %s", why);
  return p;
}

static const char *class_of(const char *text) {
  unsigned char a[16];
  if (inet_pton(AF_INET, text, a) == 1) return sg_net_ip_class(AF_INET, a);
  if (inet_pton(AF_INET6, text, a) == 1) return sg_net_ip_class(AF_INET6, a);
  return "unparsed";
}

static void harden_netpolicy_classes(void) {
  static const char *const refused[] = {
      "0.0.0.0",        "0.1.2.3",        "10.0.0.1",        "10.255.255.255", "100.64.0.1",
      "100.127.255.255", "127.0.0.1",     "127.255.0.9",     "169.254.169.254", "172.16.0.1",
      "172.31.255.255", "192.168.1.1",    "224.0.0.1",       "239.255.255.250", "240.0.0.1",
      "255.255.255.255", "::",            "::1",             "fe80::1",         "febf::1",
      "fec0::1",        "fc00::1",        "fd12:3456::1",    "ff02::1",         "::ffff:127.0.0.1",
      "::ffff:10.1.2.3", "::ffff:169.254.169.254", "::127.0.0.1", "64:ff9b::7f00:1",
      "64:ff9b::a9fe:a9fe", "2002:7f00:1::", "2002:c0a8:101::1",
  };
  for (size_t i = 0; i < SG_ARRAY_LEN(refused); i++)
    ok(class_of(refused[i]) != NULL, "%s is refused by default (%s)", refused[i],
       class_of(refused[i]) ? class_of(refused[i]) : "allowed");
  static const char *const allowed[] = {
      "1.1.1.1",        "8.8.8.8",        "9.255.255.255",   "11.0.0.0",        "100.63.255.255",
      "100.128.0.0",    "126.255.255.255", "128.0.0.1",      "169.253.0.1",     "172.15.255.255",
      "172.32.0.0",     "192.167.1.1",    "192.169.0.1",     "223.255.255.255", "93.184.216.34",
      "2001:db8::1",    "2606:4700::1111", "::ffff:8.8.8.8", "64:ff9b::808:808", "2002:808:808::",
      "fe7f::1",        "fbff::1",
  };
  for (size_t i = 0; i < SG_ARRAY_LEN(allowed); i++)
    ok(class_of(allowed[i]) == NULL, "%s is allowed by default", allowed[i]);
  is_str(class_of("127.0.0.1"), "a loopback address", "names: loopback");
  is_str(class_of("10.0.0.1"), "a private address (RFC 1918)", "RFC 1918");
  is_str(class_of("169.254.169.254"), "a link-local address", "link-local");
  is_str(class_of("::ffff:192.168.0.1"), "a private address (RFC 1918)",
         "a mapped address as IPv4");
  is_str(sg_net_ip_class(AF_UNIX, (const unsigned char *)"xxxxxxxxxxxxxxxx"), "not an IP address",
         "another family");
}

static void harden_netpolicy_patterns(void) {
  static const char *const good[] = {"*",           "tools.corp",      "TOOLS.Corp.",
                                     "*.corp",      "tools.corp:8080", "*.svc.cluster.local:443",
                                     "10.1.2.3",    "10.0.0.0/8",      "10.1.2.3:8080",
                                     "[::1]",       "[fd00::/8]:443",  "::1",
                                     "fd00::/8",    "0.0.0.0/0",       "under_score.local",
                                     "1password.example"};
  for (size_t i = 0; i < SG_ARRAY_LEN(good); i++) {
    sg_netpolicy *p = NULL;
    char why[300] = "";
    ok(sg_netpolicy_new(&good[i], 1, &p, why, sizeof why) == 0, "pattern \"%s\" is accepted %s",
       good[i], why);
    sg_netpolicy_release(p);
  }
  static const struct {
    const char *pat, *why;
  } bad[] = {
      {"http://tools.corp", "is not a host pattern"},
      {"tools.corp:0", "the port must be a number from 1 to 65535"},
      {"tools.corp:65536", "the port must be"},
      {"tools.corp:http", "the port must be"},
      {"tools.*.corp", "is not a host pattern"},
      {"*corp", "is not a host pattern"},
      {"", "is not a host pattern"},
      {"10.0.0.0/33", "is not a host pattern"},
      {"[::1", "is not a host pattern"},
      {"[::1]x", "is not a host pattern"},
      {"fd00::/129", "is not a host pattern"},
      {"127.1", "write an IPv4 address as four decimal numbers (127.0.0.1)"},
      {"tools..corp", "is not a host pattern"},
      {"to ols", "is not a host pattern"},
      {"user@tools.corp", "is not a host pattern"},
  };
  for (size_t i = 0; i < SG_ARRAY_LEN(bad); i++) {
    sg_netpolicy *p = NULL;
    char why[300] = "";
    is_int(sg_netpolicy_new(&bad[i].pat, 1, &p, why, sizeof why), SOULGW_EINVAL,
           "pattern \"%s\" is refused", bad[i].pat);
    has_str(why, bad[i].why, "  saying why");
    ok(p == NULL, "  and no policy is made");
  }
  sg_netpolicy *p = NULL;
  ok(sg_netpolicy_new(NULL, 0, &p, NULL, 0) == 0 && p, "no patterns: the default policy");
  ok(sg_netpolicy_ref(p) == p, "a reference");
  sg_netpolicy_release(p);
  sg_netpolicy_release(p);
  sg_netpolicy_release(NULL);
  ok(1, "release(NULL) does nothing");
}

static void harden_netpolicy_urls(void) {
  sg_url_target t;
  char why[300];
  static const struct {
    const char *url, *host;
    int port, family;
  } good[] = {
      {"http://tools.example.com/run", "tools.example.com", 80, 0},
      {"https://Tools.Example.COM./run?x=1#f", "tools.example.com", 443, 0},
      {"http://tools.example.com:8080", "tools.example.com", 8080, 0},
      {"http://127.0.0.1:9/x", "127.0.0.1", 9, AF_INET},
      {"http://127.1/x", "127.0.0.1", 80, AF_INET},
      {"http://2130706433/x", "127.0.0.1", 80, AF_INET},
      {"http://0x7f000001/x", "127.0.0.1", 80, AF_INET},
      {"http://017700000001/x", "127.0.0.1", 80, AF_INET},
      {"http://0/x", "0.0.0.0", 80, AF_INET},
      {"http://[::1]:8080/x", "::1", 8080, AF_INET6},
      {"http://[0:0:0:0:0:ffff:7f00:1]/", "::ffff:127.0.0.1", 80, AF_INET6},
      {"http://example.com/a@b", "example.com", 80, 0},
  };
  for (size_t i = 0; i < SG_ARRAY_LEN(good); i++) {
    int rc = sg_url_target_parse(good[i].url, &t, why, sizeof why);
    if (!ok(rc == 0, "%s parses", good[i].url)) {
      tap_diag("  %s", why);
      continue;
    }
    is_str(t.host, good[i].host, "  its host");
    is_int(t.port, good[i].port, "  its port");
    is_int(t.family, good[i].family, "  family");
  }
  static const struct {
    const char *url, *why;
  } bad[] = {
      {"ftp://example.com/", "not an http:// or https:// URL"},
      {"http://user:pw@example.com/", "user information"},
      {"http://user@example.com/", "user information"},
      {"http://@example.com/", "user information"},
      {"http://example.com\\@127.0.0.1/", "user information"},
      {"http:///x", "malformed"},
      {"http://:80/x", "malformed"},
      {"http://exa mple.com/", "malformed"},
      {"http://exa%6dple.com/", "malformed"},
      {"http://ex..ample.com/", "malformed"},
      {"http://[fe80::1%25eth0]/", "malformed"},
      {"http://[::1/", "malformed"},
      {"http://[::1]x/", "malformed"},
      {"http://[1.2.3.4]/", "malformed"},
      {"http://exämple.com/", "malformed"},
      {"http://example.com:/", "port"},
      {"http://example.com:0/", "port"},
      {"http://example.com:99999/", "port"},
      {"http://example.com:80:80/", "port"},
  };
  for (size_t i = 0; i < SG_ARRAY_LEN(bad); i++) {
    why[0] = '\0';
    is_int(sg_url_target_parse(bad[i].url, &t, why, sizeof why), SOULGW_EINVAL, "%s is refused",
           bad[i].url);
    has_str(why, bad[i].why, "  saying why");
  }
}

static void harden_netpolicy_publish(void) {
  char why[300];
  sg_netpolicy *def = policy(NULL, 0);
  static const char *const refused[] = {
      "http://127.0.0.1/",       "http://127.1/",         "http://localhost:8080/",
      "http://LOCALHOST./",      "http://a.b.localhost/", "http://10.0.0.1/",
      "http://[::1]/",           "http://[::ffff:a9fe:a9fe]/", "http://169.254.169.254/",
      "http://0/",               "https://[fd00::1]:443/"};
  for (size_t i = 0; i < SG_ARRAY_LEN(refused); i++) {
    why[0] = '\0';
    is_int(sg_netpolicy_check_url(def, refused[i], why, sizeof why), 1,
           "default policy: %s refused (%s)", refused[i], why);
  }
  sg_netpolicy_check_url(def, "http://169.254.169.254/latest", why, sizeof why);
  is_str(why, "host 169.254.169.254 is a link-local address", "the reason names the host");
  sg_netpolicy_check_url(def, "http://localhost/", why, sizeof why);
  is_str(why, "host localhost is a loopback name", "and for localhost");
  static const char *const allowed[] = {"http://tools.example.com/", "http://8.8.8.8/",
                                        "http://[2606:4700::1111]/", "http://notlocalhost/",
                                        "http://localhost.example.com/"};
  for (size_t i = 0; i < SG_ARRAY_LEN(allowed); i++)
    is_int(sg_netpolicy_check_url(def, allowed[i], why, sizeof why), 0, "default: %s allowed",
           allowed[i]);
  is_int(sg_netpolicy_check_url(def, "http://u:p@tools.example.com/", why, sizeof why),
         SOULGW_EINVAL, "user information: malformed, whatever the host");

  const char *pats[] = {"127.0.0.1:8080", "10.0.0.0/8", "tools.corp", "*.svc.local:443",
                        "[fd00::/8]", "localhost:9000"};
  sg_netpolicy *p = policy(pats, SG_ARRAY_LEN(pats));
  is_int(sg_netpolicy_check_url(p, "http://127.0.0.1:8080/x", why, sizeof why), 0,
         "127.0.0.1:8080 allowed by its pattern");
  is_int(sg_netpolicy_check_url(p, "http://127.0.0.1:8081/x", why, sizeof why), 1,
         "not another port");
  is_int(sg_netpolicy_check_url(p, "http://127.1:8080/x", why, sizeof why), 0,
         "127.1 is 127.0.0.1");
  is_int(sg_netpolicy_check_url(p, "http://10.200.3.4/x", why, sizeof why), 0, "10/8 allowed");
  is_int(sg_netpolicy_check_url(p, "http://[::ffff:10.1.1.1]/x", why, sizeof why), 0,
         "and its IPv4-mapped form");
  is_int(sg_netpolicy_check_url(p, "http://192.168.0.1/x", why, sizeof why), 1,
         "192.168/16 still refused");
  is_int(sg_netpolicy_check_url(p, "http://[fd00::5]/x", why, sizeof why), 0, "fd00::/8 allowed");
  is_int(sg_netpolicy_check_url(p, "http://localhost:9000/x", why, sizeof why), 0,
         "localhost:9000 allowed by name");
  is_int(sg_netpolicy_check_url(p, "http://localhost:9001/x", why, sizeof why), 1,
         "not on another port");
  is_int(sg_netpolicy_check_url(p, "http://localhost:8080/x", why, sizeof why), 0,
         "localhost on a port 127.0.0.1 is allowed on");
  ok(sg_netpolicy_trusts_url(p, "http://TOOLS.corp/x"), "tools.corp is trusted by name");
  ok(sg_netpolicy_trusts_url(p, "https://a.b.svc.local/x"), "*.svc.local:443 for https");
  ok(!sg_netpolicy_trusts_url(p, "http://a.svc.local/x"), "not on port 80");
  ok(!sg_netpolicy_trusts_url(p, "https://svc.local/x"), "*.svc.local is not svc.local itself");
  ok(!sg_netpolicy_trusts_url(p, "http://xtools.corp/x"), "nor a longer name");
  ok(!sg_netpolicy_trusts_url(p, "http://10.0.0.1/x"), "an IP literal is never trusted by name");
  ok(!sg_netpolicy_trusts_url(def, "http://tools.corp/x"), "the default trusts no name");
  const char *star[] = {"*"};
  sg_netpolicy *any = policy(star, 1);
  is_int(sg_netpolicy_check_url(any, "http://127.0.0.1/", why, sizeof why), 0, "\"*\": all");
  is_int(sg_netpolicy_check_url(any, "http://u@127.0.0.1/", why, sizeof why), SOULGW_EINVAL,
         "but never user information");
  sg_netpolicy_release(any);
  sg_netpolicy_release(p);
  sg_netpolicy_release(def);
}

static struct sockaddr_storage sa(const char *ip, int port) {
  struct sockaddr_storage ss;
  memset(&ss, 0, sizeof ss);
  struct sockaddr_in *in = (struct sockaddr_in *)&ss;
  struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
  if (inet_pton(AF_INET, ip, &in->sin_addr) == 1) {
    in->sin_family = AF_INET;
    in->sin_port = htons((uint16_t)port);
  } else if (inet_pton(AF_INET6, ip, &in6->sin6_addr) == 1) {
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons((uint16_t)port);
  }
  return ss;
}

static int check(const sg_netpolicy *p, const char *ip, int port, int trusted, char *why) {
  struct sockaddr_storage ss = sa(ip, port);
  return sg_netpolicy_check_addr(p, (struct sockaddr *)&ss, trusted, why, 300);
}

static void harden_netpolicy_connect(void) {
  char why[300];
  sg_netpolicy *def = policy(NULL, 0);
  is_int(check(def, "127.0.0.1", 80, 0, why), 1, "connect: 127.0.0.1 refused");
  is_str(why, "127.0.0.1 is a loopback address", "  saying why");
  is_int(check(def, "::ffff:169.254.169.254", 80, 0, why), 1, "the metadata address, mapped");
  is_int(check(def, "fe80::1", 80, 0, why), 1, "IPv6 link-local");
  is_int(check(def, "93.184.216.34", 443, 0, why), 0, "a public address");
  is_int(check(def, "127.0.0.1", 80, 1, why), 0, "a name the policy trusts: any address");
  struct sockaddr un = {.sa_family = AF_UNIX};
  is_int(sg_netpolicy_check_addr(def, &un, 1, why, sizeof why), 1, "not IP: refused, always");
  const char *pats[] = {"127.0.0.1:8080", "192.168.0.0/16", "[::1]:9000"};
  sg_netpolicy *p = policy(pats, SG_ARRAY_LEN(pats));
  is_int(check(p, "127.0.0.1", 8080, 0, why), 0, "127.0.0.1:8080 allowed");
  is_int(check(p, "127.0.0.1", 8081, 0, why), 1, "127.0.0.1:8081 not");
  is_int(check(p, "::ffff:127.0.0.1", 8080, 0, why), 0, "its mapped form on 8080 allowed");
  is_int(check(p, "192.168.44.5", 1, 0, why), 0, "192.168/16 on any port");
  is_int(check(p, "::1", 9000, 0, why), 0, "[::1]:9000");
  is_int(check(p, "::1", 9001, 0, why), 1, "not [::1]:9001");
  is_int(check(p, "10.0.0.1", 80, 0, why), 1, "10.0.0.1 still refused");
  sg_netpolicy_release(p);
  sg_netpolicy_release(def);
}

/* The keys in a configuration: a bad pattern is an error naming the key, the defaults hold. */
static void harden_netpolicy_config(void) {
  soulgw_config *cfg = soulgw_config_new();
  is_int(soulgw_config_load_string(cfg, "[tools]\nallowed_hosts = [\"ok.example\", \"http://x\"]\n",
                                   "t.toml"),
         SOULGW_ECONFIG, "a URL among allowed_hosts is a configuration error");
  has_str(soulgw_config_errmsg(cfg), "tools.allowed_hosts: \"http://x\" is not a host pattern",
          "  naming the key and the pattern");
  soulgw_config_free(cfg);
  cfg = soulgw_config_new();
  is_int(soulgw_config_load_string(cfg, "[tools]\nmax_bytes_out = 0\n", "t.toml"), SOULGW_ECONFIG,
         "max_bytes_out 0 is refused");
  soulgw_config_free(cfg);
  cfg = soulgw_config_new();
  long long v = 0;
  is_int(soulgw_config_load_string(
             cfg, "[tools]\nallowed_hosts = [\"10.0.0.0/8\", \"*.corp:443\"]\n", "t.toml"),
         0, "valid patterns load");
  is_int(soulgw_config_get_int(cfg, "tools.max_bytes_out", &v), 0, "max_bytes_out can be read");
  is_int(v, 1048576, "and is 1 MiB by default");
  soulgw_config_free(cfg);
}

/* ------------------------------------------------------------------------------------------ */
/* Through the upstream module: a loopback listener that answers {} and counts connections. */

static struct {
  int fd, port;
  atomic_int connections;
} lis;

/* One connection, kept alive: answers each request until the peer closes. */
static void *serve_conn(void *arg) {
  int c = (int)(intptr_t)arg;
  char buf[8192];
  for (;;) {
    size_t len = 0;
    ssize_t n;
    while ((n = read(c, buf + len, sizeof buf - 1 - len)) > 0) {
      len += (size_t)n;
      buf[len] = '\0';
      char *end = strstr(buf, "\r\n\r\n");
      const char *cl = strcasestr(buf, "\nContent-Length:");
      if (end && (size_t)(end + 4 - buf) + (cl ? (size_t)atol(cl + 16) : 0) <= len) break;
    }
    if (n <= 0) break;
    static const char ans[] =
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}";
    if (send(c, ans, sizeof ans - 1, MSG_NOSIGNAL) <= 0) break;
  }
  close(c);
  return NULL;
}

static void *serve(void *arg) {
  (void)arg;
  for (;;) {
    int c = accept(lis.fd, NULL, NULL);
    if (c < 0) return NULL;
    atomic_fetch_add(&lis.connections, 1);
    pthread_t t;
    if (pthread_create(&t, NULL, serve_conn, (void *)(intptr_t)c) == 0) pthread_detach(t);
    else close(c);
  }
}

typedef struct outcome {
  pthread_mutex_t lock;
  int done;
  sg_up_err err;
  long status;
  char msg[300];
} outcome;

static void on_done(void *ud, const sg_up_result *r) {
  outcome *o = ud;
  pthread_mutex_lock(&o->lock);
  o->err = r->err;
  o->status = r->status;
  snprintf(o->msg, sizeof o->msg, "%s", r->errmsg);
  o->done = 1;
  pthread_mutex_unlock(&o->lock);
}

static sg_up_err call(sg_upstream *u, const char *host, sg_netpolicy *p, char *msg) {
  outcome o = {PTHREAD_MUTEX_INITIALIZER, 0, 0, 0, ""};
  char url[128];
  snprintf(url, sizeof url, "http://%s:%d/x", host, lis.port);
  sg_up_req r = {.url = url, .body = "{}", .body_len = 2, .timeout_ms = 5000, .policy = p,
                 .done = on_done, .ud = &o};
  if (sg_upstream_call(u, &r) != 0) return SG_UP_OTHER;
  for (int i = 0; i < 1000; i++) {
    pthread_mutex_lock(&o.lock);
    int d = o.done;
    pthread_mutex_unlock(&o.lock);
    if (d) break;
    usleep(10 * 1000);
  }
  if (msg) snprintf(msg, 300, "%s", o.msg);
  return o.done ? o.err : SG_UP_TIMEOUT;
}

static void harden_netpolicy_upstream(void) {
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t alen = sizeof a;
  lis.fd = socket(AF_INET, SOCK_STREAM, 0);
  if (!ok(lis.fd >= 0 && bind(lis.fd, (struct sockaddr *)&a, sizeof a) == 0 &&
              listen(lis.fd, 16) == 0,
          "a loopback listener"))
    return;
  getsockname(lis.fd, (struct sockaddr *)&a, &alen);
  lis.port = ntohs(a.sin_port);
  pthread_t t;
  pthread_create(&t, NULL, serve, NULL);
  pthread_detach(t);
  sg_log *lg = sg_log_new();
  sg_log_configure(lg, SOULGW_LOG_ERROR, 1);
  sg_upstream *u = sg_upstream_new(lg);
  sg_netpolicy *def = policy(NULL, 0);
  char msg[300];

  is_int(call(u, "localhost", def, msg), SG_UP_REFUSED,
         "a name resolving to loopback is refused at connect time");
  has_str(msg, "refused by the outbound policy", "  the error says so");
  has_str(msg, "is a loopback address", "  and why");
  is_int(atomic_load(&lis.connections), 0, "  no connection was made");

  char pat[64];
  snprintf(pat, sizeof pat, "127.0.0.1:%d", lis.port);
  const char *pats[] = {pat};
  sg_netpolicy *ip = policy(pats, 1);
  is_int(call(u, "localhost", ip, NULL), SG_UP_OK, "allowed once its address is allowed");
  snprintf(pat, sizeof pat, "localhost:%d", lis.port);
  sg_netpolicy *name = policy(pats, 1);
  is_int(call(u, "127.0.0.1", name, NULL), SG_UP_REFUSED,
         "a name pattern does not allow the address by itself");

  /* a connection opened by an unchecked call (a provider's) is not reused by a checked one */
  is_int(call(u, "127.0.0.1", NULL, NULL), SG_UP_OK, "an unchecked call to 127.0.0.1");
  int conns = atomic_load(&lis.connections);
  is_int(call(u, "127.0.0.1", def, msg), SG_UP_REFUSED,
         "a checked call to the same host is refused, kept-alive connection or not");
  has_str(msg, "is a loopback address", "  (the address of the reused connection)");
  is_int(call(u, "127.0.0.1", NULL, NULL), SG_UP_OK, "unchecked calls go on");
  ok(atomic_load(&lis.connections) <= conns + 1, "reusing the kept connection (%d opened)",
     atomic_load(&lis.connections));
  sg_upstream_free(u);
  sg_log_free(lg);
  sg_netpolicy_release(name);
  sg_netpolicy_release(ip);
  sg_netpolicy_release(def);
  shutdown(lis.fd, SHUT_RDWR);
  close(lis.fd);
}

static const tap_test tests[] = {
    TEST(harden_netpolicy_classes), TEST(harden_netpolicy_patterns),
    TEST(harden_netpolicy_urls),    TEST(harden_netpolicy_publish),
    TEST(harden_netpolicy_connect), TEST(harden_netpolicy_config),
    TEST(harden_netpolicy_upstream),
};

int main(void) {
  tap_run(tests, TAP_COUNT(tests));
  return tap_done();
}
