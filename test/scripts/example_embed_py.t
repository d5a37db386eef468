#!/bin/sh
# example_embed_py: examples/embed.py drives an installed copy of libsoulgw (make examples)
# from Python through ctypes: a route whose handler is a Python function answers, and the
# gateway's pipeline (credential, scope, error shape, access log) applies to it.
f=${SOULGW_TEST_FILTER:-}
if [ -n "$f" ]; then case example_embed_py in *"$f"*) ;; *) echo "1..0 # SKIP filtered"; exit 0 ;; esac; fi
n=0
t() { n=$((n + 1)); if eval "$2"; then echo "ok $n - example_embed_py: $1"; else echo "not ok $n - example_embed_py: $1"; fi; }
lib=build/stage/usr/lib
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
t "python3 is installed" "command -v python3 >/dev/null"

# SOULGW_LIB names the staged library; answers on stdout, the gateway's log on stderr.
SOULGW_LIB=$lib/libsoulgw.so.0 python3 examples/embed.py >"$dir/out" 2>"$dir/err"
st=$?
sed 's/^/# /' "$dir/out"
[ $st -eq 0 ] || sed 's/^/# stderr: /' "$dir/err"
t "exits 0 after the expected answers" "[ $st -eq 0 ]"
# One line per request on stdout: GET PATH as WHO -> STATUS BODY (the body as the gateway sent it).
said() { grep -q "^GET $1 -> $2\$" "$dir/out"; }
id='"correlation_id":"[0-9a-f]\{32\}"'
t "loads the staged library" "grep -q '^libsoulgw 0\\.1\\.0 .* from $lib/libsoulgw.so.0\$' '$dir/out'"
t "the Python handler answers 200 with its JSON" \
  'said "/hello/world as reader" "200 {\"greeting\":\"hello, world\",\"principal\":\"reader\",\"tenant\":\"demo\",\"from\":\"python\"}"'
t "no credential: 401 in the error shape, from the pipeline" \
  'said "/hello/world as nobody" "401 {\"code\":\"AUTH.UNAUTHENTICATED\",\"message\":\"missing credential: [^\"]*\",$id}"'
t "a token without the route's scope: 403 naming the scope" \
  'said "/hello/world as guest" "403 {\"code\":\"AUTH.FORBIDDEN\",\"message\":\"insufficient scope: needs hello:read\",$id}"'
t "soulgw_reply_error from Python: 422 in the error shape" \
  'said "/hello/x\{33\} as reader" "422 {\"code\":\"SCHEMA.VALIDATION_FAILED\",\"message\":\"name: at most 32 characters\",$id}"'
t "an unknown path: 404 ROUTE.NOT_FOUND in the error shape" \
  'said "/goodbye/world as reader" "404 {\"code\":\"ROUTE.NOT_FOUND\",\"message\":\"no route for this path\",$id,\"path\":\"/goodbye/world\"}"'
t "the access log names the Python route with its principal" \
  "grep -q '\"msg\":\"access\".*\"path\":\"/hello/world\",\"route\":\"hello\",\"status\":200,.*\"principal\":\"reader\"' '$dir/err'"
t "no Python traceback, no error logged" "! grep -q 'Traceback\\|\"level\":\"error\"' '$dir/err'"
t "stops cleanly" "grep -q '\"msg\":\"stopped\"' '$dir/err'"

# Without SOULGW_LIB the dynamic loader finds libsoulgw.so.0, as it does for a C program.
LD_LIBRARY_PATH=$lib python3 examples/embed.py >"$dir/out2" 2>/dev/null
st=$?
t "by soname through LD_LIBRARY_PATH" "[ $st -eq 0 ] && grep -q '^libsoulgw .* from libsoulgw.so.0\$' '$dir/out2'"

SOULGW_LIB=$dir/missing.so python3 examples/embed.py >"$dir/out3" 2>&1
st=$?
t "a library that cannot be loaded: status 1 and a message" \
  "[ $st -eq 1 ] && grep -q '^embed.py: cannot load $dir/missing.so: ' '$dir/out3'"
echo "1..$n"
