#!/usr/bin/env python3
"""embed.py -- libsoulgw from Python: ctypes and the standard library, no C compiler.

It does what examples/embed.c does, from another language.  It loads the installed shared
library, builds a configuration in code, adds a route of its own, GET /hello/{name}, whose
handler is a Python function, and starts the gateway on a free port.  Then it asks the route a
few questions with urllib, prints each answer and stops.  The Python route goes through the
same pipeline as the standard ones (authentication, tenant, scopes, metrics, access log), so a
request without a credential is refused with 401 and a token without the route's scope with
403 before the Python function is ever called.

    python3 examples/embed.py [LIBRARY]

LIBRARY (else $SOULGW_LIB, else "libsoulgw.so.0" found by the dynamic loader, as a C program
would find it) is the shared library to load.  Exit status 0 when every answer was the one
expected, 1 otherwise.  The gateway's own log lines (JSON) go to stderr.
"""

import ctypes
import json
import os
import secrets
import sys
import traceback
import urllib.error
import urllib.request

# ----------------------------------------------------------------------------------------------
# The C interface: what include/soulgw.h declares, for the functions used here.
#
# Every function gets its restype and argtypes.  Without them ctypes assumes an int result,
# which cuts a 64-bit pointer in half, and converts arguments by guesswork.  Handles (soulgw *,
# soulgw_config *, soulgw_req *) are opaque, so c_void_p stands for all of them.

VP, STR, INT, UINT, SIZE = ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int, ctypes.c_uint, \
    ctypes.c_size_t

# A route handler, int (*)(soulgw_req *req, void *userdata).
HANDLER = ctypes.CFUNCTYPE(INT, VP, VP)


class RouteOpts(ctypes.Structure):
    """struct soulgw_route_opts, field for field."""
    _fields_ = [
        ("name", STR),
        ("kind", STR),
        ("description", STR),
        ("scopes", ctypes.POINTER(STR)),  # NULL-terminated array of strings
        ("flags", UINT),
    ]


PROTOTYPES = {
    # name: (restype, argtypes)
    "soulgw_version": (STR, []),
    "soulgw_commit": (STR, []),
    "soulgw_strerror": (STR, [INT]),
    "soulgw_api_error_code": (STR, [INT]),
    "soulgw_config_new": (VP, []),
    "soulgw_config_free": (None, [VP]),
    "soulgw_config_set": (INT, [VP, STR, STR]),
    "soulgw_config_load_string": (INT, [VP, STR, STR]),
    "soulgw_config_errmsg": (STR, [VP]),
    "soulgw_new": (VP, [VP]),
    "soulgw_free": (None, [VP]),
    "soulgw_errmsg": (STR, [VP]),
    "soulgw_route_add": (INT, [VP, STR, STR, HANDLER, VP, ctypes.POINTER(RouteOpts)]),
    "soulgw_start": (INT, [VP, UINT]),
    "soulgw_port": (INT, [VP]),
    "soulgw_stop": (INT, [VP, INT]),
    "soulgw_req_param": (STR, [VP, STR]),
    "soulgw_req_tenant": (STR, [VP]),
    "soulgw_req_principal": (STR, [VP]),
    "soulgw_reply": (INT, [VP, INT, STR, SIZE]),
    # variadic: the fixed arguments only; the ones matching the format follow in the call
    "soulgw_reply_error": (INT, [VP, INT, STR]),
}

SOULGW_START_THREADS = 0


def load_library(path):
    """Opens the shared library and declares the prototypes used here.

    ctypes.CDLL, not PyDLL: a CDLL call releases the GIL while C runs.  That matters: the
    gateway calls the Python handler from its own threads, and the handler needs the GIL
    (ctypes takes it for the callback), so soulgw_stop(), which waits for requests in flight,
    must not sit on the GIL meanwhile.
    """
    lib = ctypes.CDLL(path)
    for name, (restype, argtypes) in PROTOTYPES.items():
        fn = getattr(lib, name)
        fn.restype, fn.argtypes = restype, argtypes
    return lib


def text(c_string):
    """A const char * the library returned, as str; NULL (None) stays None."""
    return None if c_string is None else c_string.decode()


def api_errors(lib):
    """The soulgw_api_error enum by code string ("AUTH.FORBIDDEN": 1, ...), read from the
    library itself rather than copied from the header: soulgw_api_error_code() names each
    value and answers NULL past the last one."""
    codes, value = {}, 0
    while (code := lib.soulgw_api_error_code(value)) is not None:
        codes[code.decode()] = value
        value += 1
    return codes


# ----------------------------------------------------------------------------------------------
# The configuration, in code.  A TOML text (soulgw.toml(5)) holds the settings; the secrets
# are handed over with soulgw_config_set(), so they never touch a file or the environment.
# Two bearer tokens of the tenant "demo": "reader" holds the route's scope, "guest" does not.

CONFIG = """
[server]
address = "127.0.0.1"
port = 0                # a free port; soulgw_port() says which
drain_timeout_s = 5

[storage]
path = ":memory:"       # nothing to keep between runs

[auth.tokens.reader]
tenant = "demo"
scopes = ["hello:read"]

[auth.tokens.guest]
tenant = "demo"
scopes = []
"""

MAX_NAME = 32


def make_hello(lib, errors):
    """The handler of GET /hello/{name}, as a Python function wrapped for C.

    By the time it runs the pipeline has authenticated the caller, resolved the tenant and
    checked the scope.  It answers with soulgw_reply() (a JSON text) or soulgw_reply_error()
    (the gateway's error shape, with the request id).  It runs on a gateway thread, several at
    once when requests come together: it must be thread-safe, as this one is (no shared state).
    """

    def hello(req, _userdata):
        try:
            name = text(lib.soulgw_req_param(req, b"name"))
            if len(name) > MAX_NAME:
                # The format is a constant; the text goes in as an argument, never as a format.
                return lib.soulgw_reply_error(req, errors["SCHEMA.VALIDATION_FAILED"], b"%s",
                                              f"name: at most {MAX_NAME} characters".encode())
            body = json.dumps({
                "greeting": f"hello, {name}",
                "principal": text(lib.soulgw_req_principal(req)),
                "tenant": text(lib.soulgw_req_tenant(req)),
                "from": "python",
            }, separators=(",", ":")).encode()
            return lib.soulgw_reply(req, 200, body, len(body))
        except Exception:  # an exception must not cross into C: report it, answer 500
            traceback.print_exc()
            return -1  # negative and unanswered: the gateway answers 500 UNKNOWN.INTERNAL

    return HANDLER(hello)


def start_gateway(lib, handler, tokens):
    """Configuration, gateway, route, start.  Returns the started gateway; raises
    RuntimeError with the library's own message (soulgw_strerror() names the code, the
    *_errmsg() functions hold the details)."""
    cfg = lib.soulgw_config_new()
    gw = None
    try:
        if not cfg:
            raise RuntimeError("out of memory")
        for name, token in tokens.items():
            key = f"auth.tokens.{name}.token"
            if (rc := lib.soulgw_config_set(cfg, key.encode(), token.encode())) != 0:
                raise RuntimeError(f"{key}: {lib.soulgw_strerror(rc).decode()}")
        if (rc := lib.soulgw_config_load_string(cfg, CONFIG.encode(), b"embed.py")) != 0:
            raise RuntimeError(f"{lib.soulgw_strerror(rc).decode()}: "
                               f"{lib.soulgw_config_errmsg(cfg).decode()}")
        gw = lib.soulgw_new(cfg)  # keeps what it needs: cfg may go at once
        if not gw:
            raise RuntimeError("soulgw_new: out of memory")

        scopes = (STR * 2)(b"hello:read", None)
        opts = RouteOpts(name=b"hello", kind=b"example", description=b"Greets {name} from Python",
                         scopes=scopes, flags=0)  # 0: a credential is required
        rc = lib.soulgw_route_add(gw, b"GET", b"/hello/{name}", handler, None,
                                  ctypes.byref(opts))  # everything is copied but the handler
        if rc != 0:
            raise RuntimeError(f"cannot add route: {lib.soulgw_strerror(rc).decode()}")
        if (rc := lib.soulgw_start(gw, SOULGW_START_THREADS)) != 0:
            raise RuntimeError(f"{lib.soulgw_strerror(rc).decode()}: "
                               f"{lib.soulgw_errmsg(gw).decode()}")
        started, gw = gw, None
        return started
    finally:
        lib.soulgw_free(gw)  # both accept NULL (None)
        lib.soulgw_config_free(cfg)


# ----------------------------------------------------------------------------------------------
# A client with urllib.  No proxy: an http_proxy in the environment must not catch 127.0.0.1.

OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def get(port, path, token=None):
    """GET http://127.0.0.1:port/path; returns (status, body text)."""
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with OPENER.open(request, timeout=30) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as answer:  # 4xx and 5xx: the answer is in the exception
        return answer.code, answer.read().decode()


def check(port, tokens):
    """Asks the route as different callers; prints each answer.  True when all were right."""
    cases = [
        # as whom, path, expected status, expected error code (None: a greeting)
        ("reader", "/hello/world", 200, None),
        (None, "/hello/world", 401, "AUTH.UNAUTHENTICATED"),
        ("guest", "/hello/world", 403, "AUTH.FORBIDDEN"),
        ("reader", "/hello/" + "x" * (MAX_NAME + 1), 422, "SCHEMA.VALIDATION_FAILED"),
        ("reader", "/goodbye/world", 404, "ROUTE.NOT_FOUND"),
    ]
    ok = True
    for who, path, want_status, want_code in cases:
        status, answer = get(port, path, tokens.get(who))
        print(f"GET {path} as {who or 'nobody'} -> {status} {answer}")
        body = json.loads(answer)
        if want_code is None:
            right = status == want_status and body.get("greeting") == "hello, world" \
                and body.get("principal") == who and body.get("tenant") == "demo"
        else:
            right = status == want_status and body.get("code") == want_code \
                and bool(body.get("correlation_id"))
        if not right:
            print(f"  expected {want_status} {want_code or 'a greeting'}", file=sys.stderr)
            ok = False
    return ok


def main():
    path = (sys.argv[1:] or [os.environ.get("SOULGW_LIB") or "libsoulgw.so.0"])[0]
    try:
        lib = load_library(path)
    except (OSError, AttributeError) as e:  # not found, or not libsoulgw
        sys.exit(f"embed.py: cannot load {path}: {e}")
    print(f"libsoulgw {lib.soulgw_version().decode()} ({lib.soulgw_commit().decode()}) "
          f"from {path}")

    # Fresh secrets for this run; the gateway compares them in constant time.
    tokens = {"reader": secrets.token_urlsafe(24), "guest": secrets.token_urlsafe(24)}
    # The C side keeps a pointer to this callback object: it must outlive the gateway.  A
    # local that lives until soulgw_free() below does; a temporary would be collected and the
    # next request would jump into freed memory.
    handler = make_hello(lib, api_errors(lib))
    try:
        gw = start_gateway(lib, handler, tokens)
    except RuntimeError as e:
        sys.exit(f"embed.py: {e}")
    try:
        port = lib.soulgw_port(gw)
        print(f"listening on port {port}")
        ok = check(port, tokens)
    finally:
        if lib.soulgw_stop(gw, 5000) != 0:  # drains: requests in flight finish first
            print(f"embed.py: stop: {lib.soulgw_errmsg(gw).decode()}", file=sys.stderr)
        lib.soulgw_free(gw)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
