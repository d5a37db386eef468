#!/bin/sh
# dlopen: libpq and hiredis are loaded by lib/store/pg.c and lib/clients/redis.c only when a
# PostgreSQL store or [cluster] Redis is configured, so the default gateway (SQLite, no Redis)
# neither links nor maps them; and a library that cannot be loaded (SOULGW_LIBPQ,
# SOULGW_LIBHIREDIS pointing at a missing file) is reported plainly, through the failure paths
# of an unreachable server.
f=${SOULGW_TEST_FILTER:-}
if [ -n "$f" ]; then case dlopen in *"$f"*) ;; *) echo "1..0 # SKIP filtered"; exit 0 ;; esac; fi
n=0
t() { n=$((n + 1)); if eval "$2"; then echo "ok $n - dlopen: $1"; else echo "not ok $n - dlopen: $1"; fi; }
B=${B:-build/asan}
bin=$B/soulgw
dir=$(mktemp -d)
pid=""
trap '[ -n "$pid" ] && kill $pid 2>/dev/null; rm -rf "$dir"' EXIT

# Starts $bin on config $1 with the environment in the rest; sets pid, waits for the port.
start() {
  toml=$1
  shift
  rm -f "$dir/port"
  env "$@" "$bin" --config "$toml" --port-file "$dir/port" >"$dir/out" 2>"$dir/err" &
  pid=$!
  for _ in $(seq 200); do [ -s "$dir/port" ] && return 0; sleep 0.05; done
  return 1
}
stop() { kill -TERM $pid 2>/dev/null; wait $pid 2>/dev/null; pid=""; }
has_lib() { grep -q "$2" "/proc/$1/maps"; }

t "$bin does not link libpq or hiredis (ldd)" \
  "[ -x $bin ] && ! ldd $bin | grep -q 'libpq\|libhiredis'"
t "libsoulgw.so needs neither" \
  "[ -f $B/libsoulgw.so ] && ! objdump -p $B/libsoulgw.so | grep NEEDED | grep -q 'libpq\|libhiredis'"
t "the .pc file does not require them" \
  "[ -f $B/soulgw.pc ] && ! grep -q 'libpq\|hiredis' $B/soulgw.pc"

cat >"$dir/sqlite.toml" <<TOML
[server]
port = 0
[storage]
path = "$dir/gw.db"
[log]
access = false
TOML
if start "$dir/sqlite.toml"; then
  t "a SQLite gateway starts" "true"
  t "its /proc/PID/maps is read (it maps libsqlite3)" "has_lib $pid libsqlite3"
  t "it maps no libpq" "! has_lib $pid libpq"
  t "it maps no hiredis" "! has_lib $pid libhiredis"
  stop
else
  t "a SQLite gateway starts" "false"
  cat "$dir/err" | sed 's/^/#   /'
fi

# PostgreSQL with libpq unloadable: the message names what to install, start exits 69 as for
# an unreachable server, and so do --check and migrate.
cat >"$dir/pg.toml" <<TOML
[server]
port = 0
[storage]
backend = "postgres"
url = "postgresql://soulgw@127.0.0.1:1/soulgw"
[log]
access = false
TOML
missing="$dir/libpq-missing.so.5"
msg='PostgreSQL storage needs libpq (Debian: libpq5): '
SOULGW_LIBPQ=$missing "$bin" --config "$dir/pg.toml" --port 0 >"$dir/out" 2>"$dir/err"
st=$?
t "start without libpq exits 69 (got $st)" "[ $st -eq 69 ]"
t "saying libpq is needed, and why it could not be loaded" \
  "grep -qF '$msg' '$dir/err' && grep -qF 'libpq-missing.so.5' '$dir/err'"
t "the message does not show the URI" "! grep -q 'postgresql://' '$dir/err'"
SOULGW_LIBPQ=$missing "$bin" --config "$dir/pg.toml" --check >"$dir/out" 2>"$dir/err"
st=$?
t "--check without libpq exits 69 (got $st)" "[ $st -eq 69 ]"
t "--check says libpq is needed" "grep -qF '$msg' '$dir/err'"
SOULGW_LIBPQ=$missing "$bin" migrate --from "sqlite:$dir/gw.db" --to postgres \
  --config "$dir/pg.toml" >"$dir/out" 2>"$dir/err"
st=$?
t "migrate without libpq exits 69 (got $st)" "[ $st -eq 69 ]"
t "migrate says libpq is needed" "grep -qF '$msg' '$dir/err'"
# with the real libpq the same configuration gets as far as connecting
"$bin" --config "$dir/pg.toml" --port 0 >"$dir/out" 2>"$dir/err"
st=$?
t "with libpq, start reaches the server (exit 69, not the libpq message)" \
  "[ $st -eq 69 ] && ! grep -qF '$msg' '$dir/err'"

# Redis with hiredis unloadable: the gateway starts, Redis counts as down for that reason.
cat >"$dir/redis.toml" <<TOML
[server]
port = 0
[storage]
path = "$dir/gw.db"
[cluster]
redis_url = "redis://127.0.0.1:1"
instance = "dlopen-test"
[log]
access = false
TOML
if start "$dir/redis.toml" SOULGW_LIBHIREDIS="$dir/libhiredis-missing.so.0.14"; then
  t "a gateway with Redis but no hiredis starts" "true"
  for _ in $(seq 100); do grep -q '"redis down"' "$dir/err" && break; sleep 0.05; done
  t "it logs Redis down, saying hiredis is needed and why" \
    "grep '\"redis down\"' '$dir/err' | grep -F 'Redis needs hiredis (Debian: libhiredis0.14): ' | grep -qF 'libhiredis-missing.so.0.14'"
  port=$(cat "$dir/port")
  t "its /health names redis" \
    "curl -sS http://127.0.0.1:$port/health | grep -q '\"redis\"'"
  t "it maps no hiredis" "! has_lib $pid libhiredis"
  stop
else
  t "a gateway with Redis but no hiredis starts" "false"
  sed 's/^/#   /' "$dir/err"
fi
echo "1..$n"
