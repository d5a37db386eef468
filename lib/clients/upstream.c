/*
 * upstream.c -- outbound HTTP (see upstream.h): the upstream thread, driving libcurl (this is
 * the only file that calls it) and, for plain http:// calls to an IP address, the gateway's own
 * keep-alive HTTP/1.1 client (h1.c), both on one epoll set.
 *
 * The plain way is taken when nothing in a call needs libcurl: no TLS, no name to resolve, no
 * proxy, no network policy to check (see plain_ok).  It is the model provider in the same
 * host or cluster, the gateway's busiest outbound path, and it costs a fraction of a libcurl
 * transfer (see h1.h).  Both ways share the job, its queue, its timers and its completion; a
 * plain call's timeouts are kept here (check_idle), libcurl keeps its own whole-call timeout.
 *
 * Lanes: the timers, the calls under way and the plain way's connections are a lane's.  The
 * upstream thread has one; each loop of the HTTP server binds one of its own (sg_up_lane_new)
 * on its epoll set, and a plain call made on that loop's thread goes onto the lane's local list
 * (no lock, no wake-up), is sent at the loop's next turn and completes on that thread: a
 * proxied request is read, relayed and answered by one thread, as in nginx's workers.  Calls
 * that need libcurl, and calls made on other threads, go to the upstream thread.  cancel_all
 * reaches the lanes through their loops' wake-up and waits for each, as for the thread.
 *
 * One thread owns a curl multi handle.  sg_upstream_call() copies a call into a job and puts it
 * on a queue under a mutex, then wakes the thread through an eventfd if it sleeps (an awake
 * thread looks at the queue before it sleeps again).  The thread moves queued jobs onto the
 * multi handle (or onto a timer list when they carry a delay) and waits in epoll_wait() on the
 * sockets libcurl asks it to watch (CURLMOPT_SOCKETFUNCTION), libcurl's own timer
 * (CURLMOPT_TIMERFUNCTION), the eventfd and its timers; curl_multi_socket_action()
 * then advances only the transfers whose sockets are ready, so the cost of an event does not
 * grow with the number of transfers in flight, and finished transfers are completed through
 * their callbacks.
 *
 * The multi handle keeps a cache of open connections shared by all its transfers, so a call to
 * a host that was called before reuses the kept-alive connection instead of connecting again;
 * easy handles are pooled as well, and a kept-alive connection's socket stays in the epoll set
 * between its transfers (see on_socket).  Transfers use HTTP/1.1, CURLOPT_NOSIGNAL (the library
 * never touches signals), no redirects and only the http and https protocols.
 *
 * A call with a network policy (an HTTP tool's) opens its sockets through on_open(), which
 * checks each address the host resolved to before connecting and refuses the ones the policy
 * does not allow, so that DNS cannot point an allowed-looking name at a refused address; and
 * on_prereq() checks the address of a kept-alive connection before a request is sent on it, so
 * that a connection opened for another call (a configured provider's) is not reused to reach
 * it.  Such calls use no proxy: a proxy would connect on the gateway's behalf where no check
 * sees it.
 */
#define CURL_DISABLE_TYPECHECK /* the calls below go through the table of loaded symbols */
#include <arpa/inet.h>
#include <curl/curl.h>
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/crypto.h"
#include "base/recycle.h"
#include "clients/h1.h"
#include "clients/upstream.h"

#define DEFAULT_MAX_RESPONSE (64u << 20)
#define POOL_MAX 256         /* idle easy handles kept for reuse */
#define MAX_CONNECTS 1024    /* kept-alive connections in the cache */
#define POLL_MAX_MS 1000
#define EVENTS_MAX 64

typedef struct sg_up_lane lane;

typedef struct job {
  struct sg_upstream *u;
  lane *l;                        /* where it runs (set when it is queued) */
  struct job *next;               /* queue or timer list */
  struct job *prev_act, *next_act; /* the list of transfers on the multi handle */
  CURL *easy;
  struct curl_slist *headers;
  sg_up_done_fn done;
  sg_up_chunk_fn chunk;
  void *ud;
  const char *method, *url, *label;
  const char *body;
  size_t body_len, max_response;
  long timeout_ms, idle_timeout_ms;
  uint64_t start_at; /* monotonic ns */
  uint64_t t0;
  uint64_t last_io; /* when the last byte came (idle timeout) */
  long status;
  int aborted, too_large, oom;
  int timed;            /* counted in nidle: the thread checks its deadlines */
  int plain;            /* goes through h1.c, not libcurl (see plain_ok) */
  sg_h1_call call;      /* the plain way's */
  sg_netpolicy *policy; /* a reference, or NULL: connect anywhere */
  int trusted_name;     /* the policy trusts the URL's host by name */
  int refused;          /* the policy refused an address; why says which */
  char why[192];
  sg_buf resp;
  char errbuf[CURL_ERROR_SIZE];
  /* method, url, label, body and (the plain way) the request head follow in the same
   * allocation */
} job;

/* Where calls run: their timers, the calls under way and the plain way's connections.  The
 * upstream thread has one (u->own, with libcurl's transfers as well); each loop of the HTTP
 * server may bind one of its own (sg_up_lane_new), driven by that loop's thread on its epoll
 * set, where the plain calls its requests make run from start to completion. */
struct sg_up_lane {
  sg_upstream *u;
  job *timers;   /* by start_at */
  job *active;   /* calls under way, both ways */
  sg_h1 *h1;     /* the plain way's connections */
  size_t nidle;  /* active calls with a deadline the lane checks (job.timed) */
  uint64_t due;  /* no deadline of theirs falls before this (0: look at once) */
  /* a loop's lane */
  job *local, **local_tail; /* calls made on its thread, started at its next turn */
  void (*wake)(void *);     /* makes the loop take a turn */
  void *wake_arg;
  unsigned cancel_seen;     /* under u->lock: the last cancel_asked it carried out */
  unsigned gen_seen;        /* the same, the lane's own copy */
  lane *next_lane;          /* u->lanes, under u->lock */
};

struct sg_upstream {
  sg_log *log;
  CURLM *multi; /* the thread's: made's value once the thread saw it (NULL: none yet) */
  int ep, efd; /* epoll set, wakeup eventfd */
  pthread_t thread;
  int thread_started, start_failed; /* under lock: started on the first call */
  int curl_failed;                  /* under lock: libcurl could not be loaded */
  CURLM *made;                      /* under lock: the multi handle, made by ensure_curl */
  atomic_int sleeping; /* the thread is (about to be) in epoll_wait: a new job must wake it */

  pthread_mutex_t lock; /* guards the fields up to the next comment */
  pthread_cond_t cond;
  job *queue, **queue_tail;
  atomic_int refusing;      /* cancel_all or free was called: no new calls */
  int stop;                 /* free was called: the thread ends */
  unsigned cancel_asked, cancel_done;
  atomic_uint cancel_gen;   /* cancel_asked, for the lanes to look at without the lock */
  lane *lanes;              /* the loops' lanes */

  /* the upstream thread's own */
  lane own;
  CURL *pool[POOL_MAX];
  size_t npool;
  uint64_t curl_due;    /* when libcurl wants curl_multi_socket_action(TIMEOUT); 0: never */
  int no_proxy_env;     /* no proxy variable was set at start */
  int no_plain;         /* every call goes through libcurl (sg_upstream_set_plain) */
  int no_prereq;        /* the loaded libcurl lacks CURLOPT_PREREQFUNCTION (before 7.80) */
  unsigned char *fds;   /* FD_* state by descriptor (see on_socket) */
  size_t nfds;
};

/* What the thread knows of a descriptor: the events it is in the epoll set for, whether it is
 * one of the connection sockets on_open() made (whose close on_close() sees), and whether it
 * is parked: libcurl stopped watching it (a kept-alive connection between two transfers) but
 * it stays in the epoll set. */
#define FD_IN 1u
#define FD_OUT 2u
#define FD_IN_SET 4u
#define FD_OURS 8u
#define FD_PARKED 16u

/* libcurl is loaded on the first outbound call rather than linked: with its TLS, Kerberos,
 * LDAP and SSH dependencies it is some thirty libraries and 3 MB of resident memory that a
 * gateway which never calls out (most of them: no HTTP tools, no upstream models) would pay for
 * at every start.  The table holds every libcurl function this file uses. */
static struct {
  void *so;
  CURLcode (*global_init)(long);
  CURL *(*easy_init)(void);
  CURLcode (*easy_setopt)(CURL *, CURLoption, ...);
  CURLcode (*easy_getinfo)(CURL *, CURLINFO, ...);
  void (*easy_cleanup)(CURL *);
  const char *(*easy_strerror)(CURLcode);
  CURLM *(*multi_init)(void);
  CURLMcode (*multi_setopt)(CURLM *, CURLMoption, ...);
  CURLMcode (*multi_add_handle)(CURLM *, CURL *);
  CURLMcode (*multi_remove_handle)(CURLM *, CURL *);
  CURLMcode (*multi_assign)(CURLM *, curl_socket_t, void *);
  CURLMcode (*multi_socket_action)(CURLM *, curl_socket_t, int, int *);
  CURLMsg *(*multi_info_read)(CURLM *, int *);
  CURLMcode (*multi_cleanup)(CURLM *);
  struct curl_slist *(*slist_append)(struct curl_slist *, const char *);
  void (*slist_free_all)(struct curl_slist *);
} C;

#undef curl_easy_setopt /* curl.h's pass-through macros, replaced by the table's */
#undef curl_easy_getinfo
#undef curl_multi_setopt
#define curl_easy_init C.easy_init
#define curl_easy_setopt C.easy_setopt
#define curl_easy_getinfo C.easy_getinfo
#define curl_easy_cleanup C.easy_cleanup
#define curl_easy_strerror C.easy_strerror
#define curl_multi_init C.multi_init
#define curl_multi_setopt C.multi_setopt
#define curl_multi_add_handle C.multi_add_handle
#define curl_multi_remove_handle C.multi_remove_handle
#define curl_multi_assign C.multi_assign
#define curl_multi_socket_action C.multi_socket_action
#define curl_multi_info_read C.multi_info_read
#define curl_multi_cleanup C.multi_cleanup
#define curl_slist_append C.slist_append
#define curl_slist_free_all C.slist_free_all

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static CURLcode global_rc = CURLE_FAILED_INIT;

static void global_init(void) {
  static const char *const names[] = {"libcurl.so.4", "libcurl-gnutls.so.4", "libcurl.so"};
  for (size_t i = 0; i < sizeof names / sizeof names[0] && !C.so; i++)
    C.so = dlopen(names[i], RTLD_NOW | RTLD_LOCAL);
  if (!C.so) return;
  /* POSIX: a function pointer read through a void * (dlsym's type) via memcpy */
#define LOAD(field, sym)                                                                   \
  do {                                                                                     \
    void *p_ = dlsym(C.so, sym);                                                           \
    if (!p_) return;                                                                       \
    memcpy(&C.field, &p_, sizeof p_);                                                      \
  } while (0)
  LOAD(global_init, "curl_global_init");
  LOAD(easy_init, "curl_easy_init");
  LOAD(easy_setopt, "curl_easy_setopt");
  LOAD(easy_getinfo, "curl_easy_getinfo");
  LOAD(easy_cleanup, "curl_easy_cleanup");
  LOAD(easy_strerror, "curl_easy_strerror");
  LOAD(multi_init, "curl_multi_init");
  LOAD(multi_setopt, "curl_multi_setopt");
  LOAD(multi_add_handle, "curl_multi_add_handle");
  LOAD(multi_remove_handle, "curl_multi_remove_handle");
  LOAD(multi_assign, "curl_multi_assign");
  LOAD(multi_socket_action, "curl_multi_socket_action");
  LOAD(multi_info_read, "curl_multi_info_read");
  LOAD(multi_cleanup, "curl_multi_cleanup");
  LOAD(slist_append, "curl_slist_append");
  LOAD(slist_free_all, "curl_slist_free_all");
#undef LOAD
  global_rc = C.global_init(CURL_GLOBAL_DEFAULT);
}

/* ------------------------------------------------------------------------------------------ */
/* Jobs */

static void job_free(job *j) {
  if (!j) return;
  /* Header values may hold keys: wipe them before the memory goes back to malloc. */
  for (struct curl_slist *h = j->headers; h; h = h->next) sg_wipe(h->data, strlen(h->data));
  if (j->headers) curl_slist_free_all(j->headers);
  if (j->plain) sg_wipe((char *)(uintptr_t)j->call.head, j->call.head_len);
  sg_buf_free(&j->resp);
  sg_netpolicy_release(j->policy);
  sg_recycle_free(j);
}

/* "host:port" of a URL, without user info, for log lines. */
static void url_host(const char *url, char *out, size_t len) {
  const char *p = strstr(url, "://");
  p = p ? p + 3 : url;
  size_t n = strcspn(p, "/?#");
  const char *at = memchr(p, '@', n);
  if (at) {
    n -= (size_t)(at + 1 - p);
    p = at + 1;
  }
  if (n >= len) n = len - 1;
  memcpy(out, p, n);
  out[n] = '\0';
}

static int is_http_url(const char *url) {
  return strncmp(url, "http://", 7) == 0 || strncmp(url, "https://", 8) == 0;
}

/* The plain way's callbacks (below). */
static int plain_head(sg_h1_call *c, const char **msg);
static int plain_body(sg_h1_call *c, const char *data, size_t len, const char **msg);
static void plain_done(sg_h1_call *c, sg_up_err err, const char *msg);

/* Whether a call can go the plain way (h1.c): plain http:// to a literal address, no policy to
 * check, no proxy to go through.  The length of its request head, or 0 when it cannot; t is
 * filled (pointing into r->url) when it can, and the head written into head when it fits in
 * head_max. */
static size_t plain_ok(const sg_upstream *u, const sg_up_req *r, sg_h1_target *t, char *head,
                       size_t head_max) {
  if (u->no_plain || r->policy || !u->no_proxy_env || sg_h1_parse_url(r->url, t) != 0) return 0;
  return sg_h1_head(head, head_max, r->method ? r->method : "POST", t, r->headers,
                    r->body ? r->body_len : 0);
}

#define HEAD_STACK 1024 /* a request head of at most this is written once, on the stack */

/* A job for r; the plain way when hl (from plain_ok, with t and head) is not 0. */
static job *job_new(const sg_up_req *r, size_t hl, const sg_h1_target *t, const char *head_in) {
  const char *method = r->method ? r->method : "POST";
  const char *label = r->label ? r->label : "upstream";
  size_t ml = strlen(method) + 1, ul = strlen(r->url) + 1, ll = strlen(label) + 1;
  size_t bl = r->body ? r->body_len : 0;
  job *j = sg_recycle_alloc(sizeof *j + ml + ul + ll + bl + 1 + hl); /* see recycle.h */
  if (!j) return NULL;
  memset(j, 0, sizeof *j);
  char *p = (char *)(j + 1);
  j->method = memcpy(p, method, ml);
  j->url = memcpy(p += ml, r->url, ul);
  j->label = memcpy(p += ul, label, ll);
  p += ll;
  if (bl) memcpy(p, r->body, bl);
  p[bl] = '\0';
  j->body = p;
  j->body_len = bl;
  j->done = r->done;
  j->chunk = r->chunk;
  j->ud = r->ud;
  j->timeout_ms = r->timeout_ms > 0 ? r->timeout_ms : 0;
  j->idle_timeout_ms = r->idle_timeout_ms > 0 ? r->idle_timeout_ms : 0;
  j->max_response = r->max_response ? r->max_response : DEFAULT_MAX_RESPONSE;
  j->start_at = r->delay_ms > 0 ? sg_now_ns() + (uint64_t)r->delay_ms * 1000000u : 0; /* 0: now */
  sg_buf_init(&j->resp, 0);
  if (hl) {
    /* the target points into the job's own copy of the URL */
    char *head = p + bl + 1;
    j->call.target = *t;
    j->call.target.authority = j->url + (t->authority - r->url);
    if (t->path) j->call.target.path = j->url + (t->path - r->url);
    if (hl <= HEAD_STACK) memcpy(head, head_in, hl);
    else sg_h1_head(head, hl, method, &j->call.target, r->headers, bl);
    j->call.head_len = hl;
    j->call.head = head;
    j->call.body = j->body;
    j->call.body_len = bl;
    j->call.no_body = strcmp(method, "HEAD") == 0;
    j->call.on_head = plain_head;
    j->call.on_body = plain_body;
    j->call.on_done = plain_done;
    j->plain = 1;
    return j;
  }
  /* libcurl would otherwise send "Expect: 100-continue" for larger bodies and wait for the
   * upstream's go-ahead, a round trip (or a second) lost on every such call. */
  struct curl_slist *h = curl_slist_append(NULL, "Expect:");
  /* The User-Agent goes in as one of the headers, unless the caller sent its own: set as
   * CURLOPT_USERAGENT, libcurl formats it twice per transfer through its printf, which costs
   * about a hundred instructions a byte. */
  int own_agent = 0;
  for (size_t i = 0; r->headers && r->headers[i]; i++)
    own_agent |= strncasecmp(r->headers[i], "User-Agent:", 11) == 0;
  if (h && !own_agent) {
    struct curl_slist *n = curl_slist_append(h, "User-Agent: soulgw/" SOULGW_VERSION);
    if (!n) curl_slist_free_all(h);
    h = n;
  }
  for (size_t i = 0; h && r->headers && r->headers[i]; i++) {
    struct curl_slist *n = curl_slist_append(h, r->headers[i]);
    if (!n) {
      curl_slist_free_all(h);
      h = NULL;
    }
    h = n;
  }
  if (!h) {
    sg_recycle_free(j);
    return NULL;
  }
  j->headers = h;
  if (r->policy) {
    j->policy = sg_netpolicy_ref(r->policy);
    j->trusted_name = sg_netpolicy_trusts_url(r->policy, r->url);
  }
  return j;
}

/* ------------------------------------------------------------------------------------------ */
/* The public side: queueing */

static int ensure_started(sg_upstream *u);
static int ensure_curl(sg_upstream *u);

/* The lane of the loop running on this thread, if it has one. */
static __thread lane *tl_lane;

static void wake(sg_upstream *u) {
  uint64_t one = 1;
  while (write(u->efd, &one, sizeof one) < 0 && errno == EINTR) {
  }
}

int sg_upstream_call(sg_upstream *u, const sg_up_req *r) {
  if (!u || !r || !r->url || !r->done || !is_http_url(r->url)) return SOULGW_EINVAL;
  sg_h1_target t;
  char head[HEAD_STACK];
  size_t hl = plain_ok(u, r, &t, head, sizeof head);
  int plain = hl > 0;
  job *j = NULL;
  /* a plain call made on a loop's thread runs on that loop's lane, with no lock and no wake-up */
  lane *l = plain && tl_lane && tl_lane->u == u ? tl_lane : NULL;
  if (!plain) {
    pthread_mutex_lock(&u->lock);
    int started = u->refusing                      ? SOULGW_ESTATE
                  : ensure_started(u)              ? SOULGW_EHTTP
                  : ensure_curl(u) != 0            ? SOULGW_EHTTP
                                                   : 0;
    pthread_mutex_unlock(&u->lock); /* libcurl is loaded before job_new(): it calls into it */
    if (started != 0) return started;
  }
  /* a plain job needs nothing of libcurl: it is made first, and queued in one lock */
  j = job_new(r, hl, &t, head);
  if (plain) sg_wipe(head, hl < sizeof head ? hl : sizeof head); /* it may hold a key */
  if (!j) return SOULGW_ENOMEM;
  j->u = u;
  if (l) {
    if (u->refusing) {
      job_free(j);
      return SOULGW_ESTATE;
    }
    j->l = l;
    *l->local_tail = j;
    l->local_tail = &j->next;
    return 0;
  }
  pthread_mutex_lock(&u->lock);
  int refused = u->refusing ? SOULGW_ESTATE : plain && ensure_started(u) ? SOULGW_EHTTP : 0;
  if (refused) {
    pthread_mutex_unlock(&u->lock);
    job_free(j);
    return refused;
  }
  int was_empty = u->queue == NULL;
  j->l = &u->own;
  *u->queue_tail = j;
  u->queue_tail = &j->next;
  pthread_mutex_unlock(&u->lock);
  /* One wakeup per batch, and none while the thread is awake: it takes the whole queue when it
   * wakes, and looks at the queue again before it sleeps (see run()). */
  if (was_empty && atomic_load(&u->sleeping)) wake(u);
  return 0;
}

int sg_upstream_post_json(sg_upstream *u, const char *url, const char *const *extra_headers,
                          const char *json, size_t len, long timeout_ms, const char *label,
                          sg_up_done_fn done, void *ud) {
  const char *hdrs[18] = {"Content-Type: application/json", "Accept: application/json"};
  size_t n = 2;
  for (size_t i = 0; extra_headers && extra_headers[i]; i++) {
    if (n == SG_ARRAY_LEN(hdrs) - 1) return SOULGW_EINVAL;
    hdrs[n++] = extra_headers[i];
  }
  hdrs[n] = NULL;
  sg_up_req r = {.method = "POST", .url = url, .headers = hdrs, .body = json, .body_len = len,
                 .timeout_ms = timeout_ms, .label = label, .done = done, .ud = ud};
  return sg_upstream_call(u, &r);
}

/* ------------------------------------------------------------------------------------------ */
/* The upstream thread */

static size_t on_write(char *data, size_t size, size_t nmemb, void *ud) {
  job *j = ud;
  size_t len = size * nmemb;
  if (j->idle_timeout_ms) j->last_io = sg_now_ns();
  if (!j->status) curl_easy_getinfo(j->easy, CURLINFO_RESPONSE_CODE, &j->status);
  if (j->chunk && j->status >= 200 && j->status < 300) {
    if (j->chunk(j->ud, j->status, data, len) != 0) {
      j->aborted = 1;
      return 0; /* anything but len makes libcurl end the transfer with CURLE_WRITE_ERROR */
    }
    return len;
  }
  if (len > j->max_response - j->resp.len) {
    j->too_large = 1;
    return 0;
  }
  if (sg_buf_append(&j->resp, data, len) != 0) {
    j->oom = 1;
    return 0;
  }
  return len;
}

/* The state of descriptor fd (grown on demand), or NULL when out of memory. */
static unsigned char *fd_state(sg_upstream *u, curl_socket_t fd) {
  if (fd < 0) return NULL;
  if ((size_t)fd >= u->nfds) {
    size_t n = u->nfds ? u->nfds : 256;
    while (n <= (size_t)fd) n *= 2;
    unsigned char *p = realloc(u->fds, n);
    if (!p) return NULL;
    memset(p + u->nfds, 0, n - u->nfds);
    u->fds = p;
    u->nfds = n;
  }
  return &u->fds[fd];
}

/* Opens the socket for one address libcurl is about to connect to, unless the call's policy
 * refuses that address: libcurl then tries the host's next address, or fails the transfer
 * with CURLE_COULDNT_CONNECT. */
static curl_socket_t on_open(void *ud, curlsocktype purpose, struct curl_sockaddr *a) {
  job *j = ud;
  (void)purpose;
  if (j && j->policy) {
    struct sockaddr_storage ss; /* libcurl's address is addrlen long, beyond struct sockaddr */
    memset(&ss, 0, sizeof ss);
    memcpy(&ss, &a->addr, a->addrlen < sizeof ss ? a->addrlen : sizeof ss);
    if (sg_netpolicy_check_addr(j->policy, (struct sockaddr *)&ss, j->trusted_name, j->why,
                                sizeof j->why)) {
      j->refused = 1;
      return CURL_SOCKET_BAD;
    }
  }
  curl_socket_t fd = socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
  unsigned char *st = j && fd >= 0 ? fd_state(j->u, fd) : NULL;
  if (st) *st = FD_OURS;
  return fd;
}

/* libcurl closes a socket on_open() made: it leaves the epoll set (parked or not) and its
 * state is forgotten, so that a new socket given the same number starts afresh. */
static int on_close(void *ud, curl_socket_t fd) {
  sg_upstream *u = ud;
  unsigned char *st = fd_state(u, fd);
  if (st) {
    if (*st & FD_IN_SET) epoll_ctl(u->ep, EPOLL_CTL_DEL, fd, NULL);
    *st = 0;
  }
  return close(fd);
}

/* Called once a connection is ready for the request, new or kept alive: checks the address of
 * a reused connection, which on_open() never saw for this call. */
static int on_prereq(void *ud, char *ip, char *local_ip, int port, int local_port) {
  job *j = ud;
  (void)local_ip;
  (void)local_port;
  if (!j || !j->policy) return CURL_PREREQFUNC_OK;
  struct sockaddr_storage ss;
  memset(&ss, 0, sizeof ss);
  struct sockaddr_in *in = (struct sockaddr_in *)&ss;
  struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
  char addr[64];
  sg_strlcpy(addr, ip ? ip : "", sizeof addr);
  addr[strcspn(addr, "%")] = '\0'; /* an IPv6 zone */
  if (inet_pton(AF_INET, addr, &in->sin_addr) == 1) {
    in->sin_family = AF_INET;
    in->sin_port = htons((uint16_t)port);
  } else if (inet_pton(AF_INET6, addr, &in6->sin6_addr) == 1) {
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons((uint16_t)port);
  }
  if (sg_netpolicy_check_addr(j->policy, (struct sockaddr *)&ss, j->trusted_name, j->why,
                              sizeof j->why)) {
    j->refused = 1;
    return CURL_PREREQFUNC_ABORT;
  }
  return CURL_PREREQFUNC_OK;
}

/* An easy handle with the options every call shares.  Pooled handles keep them: only the
 * options of one call are set again (curl_easy_reset and a full set-up cost a tenth of a call). */
static CURL *easy_get(sg_upstream *u) {
  if (u->npool) return u->pool[--u->npool];
  CURL *e = curl_easy_init();
  if (!e) return NULL;
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
  curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, on_open);
  curl_easy_setopt(e, CURLOPT_CLOSESOCKETFUNCTION, on_close);
  curl_easy_setopt(e, CURLOPT_CLOSESOCKETDATA, u);
  if (!u->no_prereq && curl_easy_setopt(e, CURLOPT_PREREQFUNCTION, on_prereq) != CURLE_OK)
    u->no_prereq = 1;
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_write);
  curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
  return e;
}

static void easy_put(sg_upstream *u, CURL *e) {
  if (!e) return;
  /* nothing of the finished job may stay reachable from the handle */
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, NULL);
  curl_easy_setopt(e, CURLOPT_ERRORBUFFER, NULL);
  curl_easy_setopt(e, CURLOPT_POSTFIELDS, NULL);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, NULL);
  curl_easy_setopt(e, CURLOPT_OPENSOCKETDATA, NULL);
  if (!u->no_prereq) curl_easy_setopt(e, CURLOPT_PREREQDATA, NULL);
  if (u->npool < POOL_MAX) u->pool[u->npool++] = e;
  else curl_easy_cleanup(e);
}

static void active_link(lane *l, job *j) {
  j->next_act = l->active;
  if (l->active) l->active->prev_act = j;
  l->active = j;
  j->timed = j->idle_timeout_ms || (j->plain && j->timeout_ms);
  if (j->timed) {
    l->nidle++;
    int idle_first = j->idle_timeout_ms &&
                     (!j->plain || !j->timeout_ms || j->idle_timeout_ms < j->timeout_ms);
    long ms = idle_first ? j->idle_timeout_ms : j->timeout_ms;
    uint64_t at = j->t0 + (uint64_t)ms * 1000000u;
    if (at < l->due) l->due = at;
  }
}

static void active_unlink(lane *l, job *j) {
  if (j->timed) l->nidle--;
  j->timed = 0;
  if (j->prev_act) j->prev_act->next_act = j->next_act;
  else l->active = j->next_act;
  if (j->next_act) j->next_act->prev_act = j->prev_act;
  j->prev_act = j->next_act = NULL;
}

static void complete(job *j, sg_up_err err, const char *msg) {
  sg_upstream *u = j->u;
  sg_up_result res;
  memset(&res, 0, sizeof res);
  res.err = err;
  res.status = j->status;
  res.body = j->resp.ptr ? j->resp.ptr : "";
  res.body_len = j->resp.len;
  res.buf = &j->resp;
  res.errmsg = err == SG_UP_OK ? "" : msg;
  res.duration_ns = j->t0 ? sg_now_ns() - j->t0 : 0;
  if (j->plain) {
    if (j->call.content_type[0]) res.content_type = j->call.content_type;
    res.retry_after = j->call.retry_after;
  } else if (j->easy) {
    char *ct = NULL;
    if (curl_easy_getinfo(j->easy, CURLINFO_CONTENT_TYPE, &ct) == CURLE_OK) res.content_type = ct;
    curl_off_t ra = 0;
    if (curl_easy_getinfo(j->easy, CURLINFO_RETRY_AFTER, &ra) == CURLE_OK && ra > 0)
      res.retry_after = ra < 86400 ? (long)ra : 86400;
  }
  if (err != SG_UP_OK && err != SG_UP_CANCELLED && err != SG_UP_ABORTED) {
    char host[256];
    url_host(j->url, host, sizeof host);
    sg_log(u->log, SOULGW_LOG_WARN, "upstream call failed", SG_S("upstream", j->label),
           SG_S("host", host), SG_S("method", j->method), SG_S("error", msg),
           SG_F("duration_ms", (double)res.duration_ns / 1e6));
  }
  j->done(j->ud, &res);
  if (j->easy) easy_put(u, j->easy);
  job_free(j);
}

/* ------------------------------------------------------------------------------------------ */
/* The plain way: h1.c calls these on the upstream thread */

static job *job_of(sg_h1_call *c) { return (job *)(void *)((char *)c - offsetof(job, call)); }

static int plain_head(sg_h1_call *c, const char **msg) {
  job *j = job_of(c);
  j->status = c->status;
  if (j->idle_timeout_ms) j->last_io = sg_now_ns();
  /* an answer that says up front it is too large is refused before its body is read */
  if (!(j->chunk && c->status >= 200 && c->status < 300) && c->content_length >= 0 &&
      (unsigned long long)c->content_length > j->max_response) {
    *msg = "the answer is over the size limit";
    return SG_UP_TOO_LARGE;
  }
  return 0;
}

static int plain_body(sg_h1_call *c, const char *data, size_t len, const char **msg) {
  job *j = job_of(c);
  if (j->idle_timeout_ms) j->last_io = sg_now_ns();
  if (j->chunk && j->status >= 200 && j->status < 300) {
    if (j->chunk(j->ud, j->status, data, len) != 0) {
      *msg = "the chunk callback stopped the transfer";
      return SG_UP_ABORTED;
    }
    return 0;
  }
  if (len > j->max_response - j->resp.len) {
    *msg = "the answer is over the size limit";
    return SG_UP_TOO_LARGE;
  }
  if (sg_buf_append(&j->resp, data, len) != 0) {
    *msg = "out of memory";
    return SG_UP_OTHER;
  }
  return 0;
}

static void plain_done(sg_h1_call *c, sg_up_err err, const char *msg) {
  job *j = job_of(c);
  active_unlink(j->l, j);
  complete(j, err, msg);
}

/* Ends a plain call early (its timeout, or the module stopping). */
static void plain_abort(lane *l, job *j, sg_up_err err, const char *msg) {
  if (j->call.conn) {
    sg_h1_abort(l->h1, &j->call, err, msg);
  } else {
    active_unlink(l, j);
    complete(j, err, msg);
  }
}

static sg_up_err classify(job *j, CURLcode rc) {
  if (rc == CURLE_OK) return SG_UP_OK;
  if (j->aborted) return SG_UP_ABORTED;
  if (j->too_large || rc == CURLE_FILESIZE_EXCEEDED) return SG_UP_TOO_LARGE;
  if (j->refused) return SG_UP_REFUSED;
  switch (rc) {
  case CURLE_COULDNT_RESOLVE_HOST:
  case CURLE_COULDNT_RESOLVE_PROXY:
  case CURLE_COULDNT_CONNECT:
  case CURLE_GOT_NOTHING:
  case CURLE_SEND_ERROR:
  case CURLE_RECV_ERROR:
    return j->status ? SG_UP_OTHER : SG_UP_CONNECT;
  case CURLE_OPERATION_TIMEDOUT:
    return SG_UP_TIMEOUT;
  default:
    return SG_UP_OTHER;
  }
}

static void start(lane *l, job *j) {
  sg_upstream *u = l->u;
  if (j->plain) {
    j->t0 = j->last_io = sg_now_ns();
    active_link(l, j);
    if (!l->h1 || sg_h1_start(l->h1, &j->call) != 0) {
      active_unlink(l, j);
      complete(j, SG_UP_OTHER, "out of memory");
    }
    return;
  }
  CURL *e = easy_get(u);
  if (!e) {
    complete(j, SG_UP_OTHER, "out of memory");
    return;
  }
  j->easy = e;
  curl_easy_setopt(e, CURLOPT_PRIVATE, j);
  curl_easy_setopt(e, CURLOPT_URL, j->url);
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, j->headers);
  curl_easy_setopt(e, CURLOPT_ERRORBUFFER, j->errbuf);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, j);
  curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, j->timeout_ms);
  curl_easy_setopt(e, CURLOPT_OPENSOCKETDATA, j);
  if (!u->no_prereq) curl_easy_setopt(e, CURLOPT_PREREQDATA, j);
  /* an answer that says up front it is too large is refused before its body is read */
  curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)(j->chunk ? 0 : j->max_response));
  /* libcurl reads the proxy variables for every transfer; when none was set at start, saying
   * so spares those lookups (the environment of a running gateway does not change). */
  curl_easy_setopt(e, CURLOPT_PROXY, j->policy || u->no_proxy_env ? "" : (const char *)NULL);
  /* without the reuse check, a checked call never takes a connection opened for another one */
  long fresh = j->policy && u->no_prereq ? 1L : 0L;
  curl_easy_setopt(e, CURLOPT_FRESH_CONNECT, fresh);
  curl_easy_setopt(e, CURLOPT_FORBID_REUSE, fresh);
  if (strcmp(j->method, "GET") == 0 && !j->body_len) {
    curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
    curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, NULL);
  } else {
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, j->body);
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)j->body_len);
    curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, strcmp(j->method, "POST") ? j->method : NULL);
  }
  j->t0 = j->last_io = sg_now_ns();
  if (curl_multi_add_handle(u->multi, e) != CURLM_OK) {
    complete(j, SG_UP_OTHER, "cannot add the transfer");
    return;
  }
  active_link(l, j);
}

/* Starts j now or puts it on the timer list. */
static void schedule(lane *l, job *j, uint64_t now) {
  if (j->start_at <= now) {
    start(l, j);
    return;
  }
  job **pp = &l->timers;
  while (*pp && (*pp)->start_at <= j->start_at) pp = &(*pp)->next;
  j->next = *pp;
  *pp = j;
}

static void finish_transfers(sg_upstream *u) {
  CURLMsg *m;
  int left;
  while (u->multi && (m = curl_multi_info_read(u->multi, &left))) {
    if (m->msg != CURLMSG_DONE) continue;
    CURL *e = m->easy_handle;
    CURLcode rc = m->data.result;
    char *priv = NULL;
    curl_easy_getinfo(e, CURLINFO_PRIVATE, &priv);
    job *j = (job *)(void *)priv;
    curl_multi_remove_handle(u->multi, e);
    active_unlink(&u->own, j);
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &j->status);
    sg_up_err err = classify(j, rc);
    char refused[240];
    snprintf(refused, sizeof refused, "connection refused by the outbound policy: %s", j->why);
    const char *msg = err == SG_UP_TOO_LARGE ? "the answer is over the size limit"
                      : err == SG_UP_REFUSED  ? refused
                      : j->oom                ? "out of memory"
                      : j->errbuf[0]          ? j->errbuf
                                              : curl_easy_strerror(rc);
    complete(j, err, msg);
  }
}

/* Ends the transfers that have been idle too long, and the plain calls past their timeout
 * (libcurl keeps its own); returns the milliseconds until the next deadline (POLL_MAX_MS when
 * none).  The calls are walked only once the earliest deadline the last walk saw (or a new
 * call's, see active_link) has come: deadlines only move later as data arrives, so that is
 * early enough, and a thread busy with many calls does not walk them all at every wake-up.
 * The list may change under a completion (a retry starts a call), so after one the walk starts
 * over. */
static int check_idle(lane *l, uint64_t now) {
  uint64_t next = (uint64_t)POLL_MAX_MS * 1000000u;
  if (l->due > now) {
    uint64_t left = l->due - now;
    return (int)(((left < next ? left : next) + 999999) / 1000000);
  }
again:
  for (job *j = l->active; l->nidle && j; j = j->next_act) {
    if (!j->timed) continue;
    if (j->plain && j->timeout_ms) {
      uint64_t limit = (uint64_t)j->timeout_ms * 1000000u, spent = now - j->t0;
      if (spent >= limit) {
        plain_abort(l, j, SG_UP_TIMEOUT, "no complete answer within the timeout");
        goto again;
      }
      if (limit - spent < next) next = limit - spent;
    }
    if (!j->idle_timeout_ms) continue;
    uint64_t limit = (uint64_t)j->idle_timeout_ms * 1000000u, idle = now - j->last_io;
    if (idle >= limit) {
      if (j->plain) {
        plain_abort(l, j, SG_UP_TIMEOUT, "no data within the idle timeout");
      } else {
        active_unlink(l, j);
        curl_multi_remove_handle(l->u->multi, j->easy);
        complete(j, SG_UP_TIMEOUT, "no data within the idle timeout");
      }
      goto again;
    } else if (limit - idle < next) {
      next = limit - idle;
    }
  }
  l->due = now + next;
  return (int)((next + 999999) / 1000000);
}

/* Completes every job the lane holds, and those in q, with SG_UP_CANCELLED. */
static void cancel_everything(lane *l, job *q) {
  while (q) {
    job *n = q->next;
    complete(q, SG_UP_CANCELLED, "the gateway is shutting down");
    q = n;
  }
  while (l->timers) {
    job *j = l->timers;
    l->timers = j->next;
    complete(j, SG_UP_CANCELLED, "the gateway is shutting down");
  }
  while (l->active) {
    job *j = l->active;
    if (j->plain) {
      plain_abort(l, j, SG_UP_CANCELLED, "the gateway is shutting down");
      continue;
    }
    active_unlink(l, j);
    curl_multi_remove_handle(l->u->multi, j->easy);
    complete(j, SG_UP_CANCELLED, "the gateway is shutting down");
  }
}

/* Puts fd in the epoll set for events, or changes them; the state is updated. */
static void fd_watch(sg_upstream *u, curl_socket_t fd, unsigned char *st, unsigned want) {
  struct epoll_event ev;
  memset(&ev, 0, sizeof ev);
  ev.data.fd = fd;
  ev.events = (want & FD_IN ? EPOLLIN : 0u) | (want & FD_OUT ? EPOLLOUT : 0u);
  int op = *st & FD_IN_SET ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
  if (epoll_ctl(u->ep, op, fd, &ev) != 0) {
    /* a descriptor closed and reused behind libcurl's back, or one it forgot to remove */
    op = op == EPOLL_CTL_MOD ? EPOLL_CTL_ADD : EPOLL_CTL_MOD;
    epoll_ctl(u->ep, op, fd, &ev);
  }
  *st = (unsigned char)((*st & FD_OURS) | FD_IN_SET | want);
}

/* Takes fd out of the epoll set. */
static void fd_unwatch(sg_upstream *u, curl_socket_t fd, unsigned char *st) {
  epoll_ctl(u->ep, EPOLL_CTL_DEL, fd, NULL);
  *st &= FD_OURS;
}

/* libcurl tells which sockets to watch for what.  libcurl says REMOVE for a kept-alive
 * connection at the end of every transfer and IN again at the start of the next: a connection
 * socket of ours is parked in the epoll set instead of being taken out, and the next transfer
 * on it costs no epoll_ctl when it watches for the same events.  An event on a parked socket
 * (the upstream closed it, or sent something unasked) takes it out then (see run()); its close
 * goes through on_close(), so a parked state never outlives the socket. */
static int on_socket(CURL *e, curl_socket_t fd, int what, void *userp, void *socketp) {
  sg_upstream *u = userp;
  unsigned char spare = 0, *st = fd_state(u, fd);
  (void)e;
  if (!st) st = &spare; /* out of memory: unparked, as before */
  if (what == CURL_POLL_REMOVE) {
    if ((*st & (FD_OURS | FD_IN_SET)) == (FD_OURS | FD_IN_SET) && st != &spare)
      *st |= FD_PARKED;
    else
      fd_unwatch(u, fd, st);
    return 0;
  }
  unsigned want = (what & CURL_POLL_IN ? FD_IN : 0u) | (what & CURL_POLL_OUT ? FD_OUT : 0u);
  /* only a socket of ours is trusted to be still in the set: another one may have been closed
   * (and its number reused) without a REMOVE */
  int trusted = socketp || (*st & FD_OURS);
  if (!trusted || !(*st & FD_IN_SET) || (*st & (FD_IN | FD_OUT)) != want)
    fd_watch(u, fd, st, want);
  *st &= (unsigned char)~FD_PARKED;
  if (!socketp) curl_multi_assign(u->multi, fd, u);
  return 0;
}

/* libcurl's single timer: when it wants curl_multi_socket_action(CURL_SOCKET_TIMEOUT). */
static int on_timer(CURLM *m, long timeout_ms, void *userp) {
  sg_upstream *u = userp;
  (void)m;
  u->curl_due = timeout_ms < 0 ? 0 : sg_now_ns() + (uint64_t)timeout_ms * 1000000u;
  if (timeout_ms == 0) u->curl_due = 1; /* at once (and still "set") */
  return 0;
}

static void curl_timeout_if_due(sg_upstream *u) {
  int running;
  if (u->multi && u->curl_due && u->curl_due <= sg_now_ns()) {
    u->curl_due = 0;
    curl_multi_socket_action(u->multi, CURL_SOCKET_TIMEOUT, 0, &running);
  }
}

/* How long the thread may sleep: until the next of libcurl's timer, the first delayed job
 * and the first idle deadline, at most POLL_MAX_MS. */
static int wait_ms(sg_upstream *u) {
  uint64_t now = sg_now_ns();
  int ms = u->own.nidle ? check_idle(&u->own, now) : POLL_MAX_MS;
  uint64_t due[2] = {u->curl_due, u->own.timers ? u->own.timers->start_at : 0};
  for (int i = 0; i < 2; i++) {
    if (!due[i]) continue;
    uint64_t d = due[i] > now ? (due[i] - now + 999999) / 1000000 : 0;
    if (d < (uint64_t)ms) ms = (int)d;
  }
  return ms;
}

static void *run(void *arg) {
  sg_upstream *u = arg;
  struct epoll_event evs[EVENTS_MAX];
  for (;;) {
    pthread_mutex_lock(&u->lock);
    job *q = u->queue;
    u->multi = u->made;
    u->queue = NULL;
    u->queue_tail = &u->queue;
    int stop = u->stop;
    unsigned asked = u->cancel_asked;
    int cancel = asked != u->cancel_done;
    pthread_mutex_unlock(&u->lock);
    if (cancel || stop) {
      cancel_everything(&u->own, q);
      pthread_mutex_lock(&u->lock);
      u->cancel_done = asked;
      pthread_cond_broadcast(&u->cond);
      pthread_mutex_unlock(&u->lock);
      if (stop) break;
      q = NULL;
    }
    uint64_t now = sg_now_ns();
    while (q) {
      job *n = q->next;
      q->next = NULL;
      schedule(&u->own, q, now);
      q = n;
    }
    while (u->own.timers && u->own.timers->start_at <= now) {
      job *j = u->own.timers;
      u->own.timers = j->next;
      j->next = NULL;
      start(&u->own, j);
    }
    curl_timeout_if_due(u);
    finish_transfers(u);
    /* Callers wake the thread only when it sleeps: say so, then look at the queue once more
     * (a job queued before the flag was seen is taken now, one queued after it wakes us). */
    atomic_store(&u->sleeping, 1);
    pthread_mutex_lock(&u->lock);
    int pending = u->queue || u->stop || u->cancel_asked != u->cancel_done;
    pthread_mutex_unlock(&u->lock);
    int n = epoll_wait(u->ep, evs, EVENTS_MAX, pending ? 0 : wait_ms(u));
    atomic_store(&u->sleeping, 0);
    for (int i = 0; i < n; i++) {
      int fd = evs[i].data.fd, running;
      if (fd == u->efd) {
        uint64_t v;
        while (read(u->efd, &v, sizeof v) < 0 && errno == EINTR) {
        }
        continue;
      }
      if (sg_h1_event(u->own.h1, fd, evs[i].events)) continue;
      unsigned char *st = (size_t)fd < u->nfds ? &u->fds[fd] : NULL;
      if (st && (*st & FD_PARKED)) {
        fd_unwatch(u, fd, st); /* no transfer wants it; its next one adds it again */
        continue;
      }
      uint32_t e = evs[i].events;
      int flags = (e & EPOLLIN ? CURL_CSELECT_IN : 0) | (e & EPOLLOUT ? CURL_CSELECT_OUT : 0) |
                  (e & (EPOLLERR | EPOLLHUP) ? CURL_CSELECT_ERR : 0);
      curl_multi_socket_action(u->multi, fd, flags, &running);
    }
    curl_timeout_if_due(u);
    finish_transfers(u);
  }
  return NULL;
}

/* ------------------------------------------------------------------------------------------ */
/* Lifecycle */

sg_upstream *sg_upstream_new(sg_log *log) {
  sg_upstream *u = calloc(1, sizeof *u);
  if (!u) return NULL;
  u->ep = u->efd = -1;
  u->log = log;
  static const char *const proxy_vars[] = {"http_proxy", "https_proxy", "HTTPS_PROXY",
                                           "all_proxy", "ALL_PROXY"};
  u->no_proxy_env = 1;
  for (size_t i = 0; i < SG_ARRAY_LEN(proxy_vars); i++)
    if (getenv(proxy_vars[i]) && *getenv(proxy_vars[i])) u->no_proxy_env = 0;
  u->queue_tail = &u->queue;
  u->own.u = u;
  pthread_mutex_init(&u->lock, NULL);
  pthread_cond_init(&u->cond, NULL);
  return u;
}

/* Starts the upstream thread on the first call (lock held), so that a gateway that never
 * calls out pays nothing for it.  0, or -1 when it cannot start (remembered). */
static int ensure_started(sg_upstream *u) {
  if (u->thread_started) return 0;
  if (u->start_failed) return -1;
  struct epoll_event ev;
  u->ep = epoll_create1(EPOLL_CLOEXEC);
  u->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (u->ep < 0 || u->efd < 0 || !(u->own.h1 = sg_h1_new(u->ep))) goto fail;
  memset(&ev, 0, sizeof ev);
  ev.events = EPOLLIN;
  ev.data.fd = u->efd;
  if (epoll_ctl(u->ep, EPOLL_CTL_ADD, u->efd, &ev) != 0) goto fail;
  if (pthread_create(&u->thread, NULL, run, u) != 0) goto fail;
  u->thread_started = 1;
  return 0;
fail:
  sg_h1_free(u->own.h1);
  u->own.h1 = NULL;
  if (u->ep >= 0) close(u->ep);
  if (u->efd >= 0) close(u->efd);
  u->ep = u->efd = -1;
  u->start_failed = 1;
  if (u->log) sg_log0(u->log, SOULGW_LOG_ERROR, "cannot start outbound HTTP");
  return -1;
}

/* Loads libcurl and makes the multi handle on the first call that needs it (lock held; the
 * thread sees u->multi once it takes that call from the queue, under the same lock): libcurl's
 * TLS library alone is a few megabytes of resident memory once initialised, which a gateway
 * whose calls all go the plain way never pays.  0, or -1 when it cannot (remembered). */
static int ensure_curl(sg_upstream *u) {
  if (u->made) return 0;
  if (u->curl_failed) return -1;
  pthread_once(&global_once, global_init);
  CURLM *m = global_rc == CURLE_OK ? curl_multi_init() : NULL;
  if (!m) {
    u->curl_failed = 1;
    if (u->log) sg_log0(u->log, SOULGW_LOG_ERROR, "cannot start outbound HTTP (libcurl)");
    return -1;
  }
  curl_multi_setopt(m, CURLMOPT_MAXCONNECTS, (long)MAX_CONNECTS);
  curl_multi_setopt(m, CURLMOPT_SOCKETFUNCTION, on_socket);
  curl_multi_setopt(m, CURLMOPT_SOCKETDATA, u);
  curl_multi_setopt(m, CURLMOPT_TIMERFUNCTION, on_timer);
  curl_multi_setopt(m, CURLMOPT_TIMERDATA, u);
  u->made = m;
  return 0;
}

void sg_upstream_set_plain(sg_upstream *u, int on) { u->no_plain = !on; }

void sg_upstream_cancel_all(sg_upstream *u) {
  if (!u) return;
  pthread_mutex_lock(&u->lock);
  u->refusing = 1;
  unsigned want = ++u->cancel_asked;
  atomic_store(&u->cancel_gen, want);
  int started = u->thread_started;
  for (lane *l = u->lanes; l; l = l->next_lane) l->wake(l->wake_arg);
  pthread_mutex_unlock(&u->lock);
  int self = started && pthread_equal(pthread_self(), u->thread);
  if (started) wake(u);
  /* the calling thread's own lane, if any, cancels at its next turn (after this callback) */
  pthread_mutex_lock(&u->lock);
  for (;;) {
    int waiting = started && !self && (int)(u->cancel_done - want) < 0;
    for (lane *l = u->lanes; l && !waiting; l = l->next_lane)
      waiting = l != tl_lane && (int)(l->cancel_seen - want) < 0;
    if (!waiting) break;
    pthread_cond_wait(&u->cond, &u->lock);
  }
  pthread_mutex_unlock(&u->lock);
}

/* ------------------------------------------------------------------------------------------ */
/* The loops' lanes */

sg_up_lane *sg_up_lane_new(sg_upstream *u, int ep, void (*wakefn)(void *), void *arg) {
  lane *l = calloc(1, sizeof *l);
  if (!l || !(l->h1 = sg_h1_new(ep))) {
    free(l);
    return NULL;
  }
  l->u = u;
  l->local_tail = &l->local;
  l->wake = wakefn;
  l->wake_arg = arg;
  pthread_mutex_lock(&u->lock);
  l->cancel_seen = l->gen_seen = u->cancel_asked;
  l->next_lane = u->lanes;
  u->lanes = l;
  pthread_mutex_unlock(&u->lock);
  tl_lane = l;
  return l;
}

int sg_up_lane_event(sg_up_lane *l, int fd, uint32_t events) {
  return sg_h1_event(l->h1, fd, events);
}

/* Carries out a cancel_all the lane has not seen yet. */
static void lane_cancel(lane *l) {
  sg_upstream *u = l->u;
  unsigned gen = atomic_load(&u->cancel_gen);
  if (gen == l->gen_seen) return;
  job *q = l->local;
  l->local = NULL;
  l->local_tail = &l->local;
  cancel_everything(l, q);
  l->gen_seen = gen;
  pthread_mutex_lock(&u->lock);
  l->cancel_seen = gen;
  pthread_cond_broadcast(&u->cond);
  pthread_mutex_unlock(&u->lock);
}

int sg_up_lane_turn(sg_up_lane *l) {
  lane_cancel(l);
  if (!l->local && !l->timers && !l->nidle) return POLL_MAX_MS; /* most turns: no clock read */
  uint64_t now = sg_now_ns();
  job *q = l->local; /* calls made from here on wait for the next turn */
  l->local = NULL;
  l->local_tail = &l->local;
  while (q) {
    job *n = q->next;
    q->next = NULL;
    schedule(l, q, now);
    q = n;
  }
  while (l->timers && l->timers->start_at <= now) {
    job *j = l->timers;
    l->timers = j->next;
    j->next = NULL;
    start(l, j);
  }
  if (l->local) return 0;
  int ms = l->nidle ? check_idle(l, sg_now_ns()) : POLL_MAX_MS;
  if (l->timers) {
    uint64_t at = l->timers->start_at, t = sg_now_ns();
    uint64_t d = at > t ? (at - t + 999999) / 1000000 : 0;
    if (d < (uint64_t)ms) ms = (int)d;
  }
  return ms;
}

void sg_up_lane_free(sg_up_lane *l) {
  if (!l) return;
  sg_upstream *u = l->u;
  if (tl_lane == l) tl_lane = NULL; /* calls made by the callbacks below go to the thread */
  job *q = l->local;
  l->local = NULL;
  cancel_everything(l, q);
  sg_h1_free(l->h1);
  pthread_mutex_lock(&u->lock);
  lane **pp = &u->lanes;
  while (*pp && *pp != l) pp = &(*pp)->next_lane;
  if (*pp) *pp = l->next_lane;
  pthread_cond_broadcast(&u->cond); /* a cancel_all may be waiting for it */
  pthread_mutex_unlock(&u->lock);
  free(l);
}

void sg_upstream_free(sg_upstream *u) {
  if (!u) return;
  if (u->thread_started) {
    pthread_mutex_lock(&u->lock);
    u->refusing = 1;
    u->stop = 1;
    pthread_mutex_unlock(&u->lock);
    wake(u);
    pthread_join(u->thread, NULL);
  }
  for (size_t i = 0; i < u->npool; i++) curl_easy_cleanup(u->pool[i]);
  if (u->made) curl_multi_cleanup(u->made); /* closes the kept connections */
  sg_h1_free(u->own.h1);
  if (u->ep >= 0) close(u->ep);
  if (u->efd >= 0) close(u->efd);
  free(u->fds);
  pthread_cond_destroy(&u->cond);
  pthread_mutex_destroy(&u->lock);
  free(u);
}
