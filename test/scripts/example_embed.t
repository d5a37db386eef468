#!/bin/sh
# example_embed: examples/embed.c, built against an installed copy of libsoulgw through
# pkg-config (make examples), serves its own route next to the standard ones.
f=${SOULGW_TEST_FILTER:-}
if [ -n "$f" ]; then case example_embed in *"$f"*) ;; *) echo "1..0 # SKIP filtered"; exit 0 ;; esac; fi
n=0
t() { n=$((n + 1)); if eval "$2"; then echo "ok $n - example_embed: $1"; else echo "not ok $n - example_embed: $1"; fi; }
bin=build/embed
lib=build/stage/usr/lib
t "built through pkg-config" "[ -x $bin ]"
dir=$(mktemp -d)
trap 'kill $pid 2>/dev/null; rm -rf "$dir"' EXIT
cat >"$dir/gateway.toml" <<TOML
[server]
port = 0
[storage]
path = "$dir/embed.db"
[log]
access = false
TOML
LD_LIBRARY_PATH=$lib $bin "$dir/gateway.toml" >"$dir/out" 2>"$dir/err" &
pid=$!
port=""
for _ in $(seq 100); do port=$(sed -n 's/^listening on port //p' "$dir/out"); [ -n "$port" ] && break; sleep 0.05; done
t "starts and reports its port" "[ -n \"$port\" ]"
t "links the installed shared library" "LD_LIBRARY_PATH=$lib ldd $bin | grep -q 'libsoulgw.so.0 => .*stage'"
t "standard /health answers" "curl -fsS http://127.0.0.1:$port/health | grep -q '\"status\":\"ok\"'"
t "its own route answers" "curl -fsS http://127.0.0.1:$port/hello/world | grep -q '\"name\":\"world\"'"
t "its route is listed in /routes" "curl -fsS http://127.0.0.1:$port/routes | grep -q '\"/hello/{name}\"'"
t "its route is counted in /metrics" "curl -fsS http://127.0.0.1:$port/metrics | grep -q 'route=\"hello\"'"
kill -TERM $pid
wait $pid
st=$?
t "SIGTERM stops it with status 0" "[ $st -eq 0 ]"
echo "1..$n"
