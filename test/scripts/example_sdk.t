#!/bin/sh
# example_sdk: examples/openai_client.mjs and examples/mcp_client.mjs, the README tour's clients,
# run unchanged with the official SDKs (the pinned ones in build/npm) against the real binary
# serving the shipped conf/gateway.toml.
f=${SOULGW_TEST_FILTER:-}
if [ -n "$f" ]; then case example_sdk in *"$f"*) ;; *) echo "1..0 # SKIP filtered"; exit 0 ;; esac; fi
n=0
t() { n=$((n + 1)); if eval "$2"; then echo "ok $n - example_sdk: $1"; else echo "not ok $n - example_sdk: $1"; fi; }
B=${B:-build/asan}
npm=build/npm
dir=$(mktemp -d)
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$dir" "$npm"/example_*.mjs' EXIT
t "the SDKs are installed (make node-deps)" "[ -d $npm/node_modules/openai ] && [ -d $npm/node_modules/@modelcontextprotocol/sdk ]"
# Next to build/npm/node_modules, so that `import 'openai'` resolves as in a user's project.
cp examples/openai_client.mjs "$npm/example_openai.mjs"
cp examples/mcp_client.mjs "$npm/example_mcp.mjs"
GATEWAY_TOKEN_LOCAL=tour-token GATEWAY_HMAC_LOCAL=tour-hmac "$B/soulgw" --config conf/gateway.toml \
  --port 0 --port-file "$dir/port" --db "$dir/tour.db" 2>"$dir/err" &
pid=$!
port=""
for _ in $(seq 400); do [ -s "$dir/port" ] && port=$(cat "$dir/port") && break; sleep 0.05; done
t "the gateway starts on conf/gateway.toml" "[ -n \"$port\" ]"
export SOULGW_URL=http://127.0.0.1:$port GATEWAY_TOKEN_LOCAL=tour-token

node "$npm/example_openai.mjs" >"$dir/openai" 2>&1
st=$?
sed 's/^/# /' "$dir/openai"
t "openai_client.mjs exits 0" "[ $st -eq 0 ]"
t "chat: the echo model's answer" "grep -q '^chat: echo: hello gateway (.* tokens)\$' '$dir/openai'"
t "stream: the pieces joined" "grep -q '^stream: echo: one two three\$' '$dir/openai'"
t "embeddings: two vectors of 8 (decoded from base64 by the SDK)" "grep -q '^embeddings: 2 x 8\$' '$dir/openai'"
t "models: the built-in models" "grep -q '^models: .*local:echo.*local:emb' '$dir/openai'"
t "wrong key: 401 AuthenticationError" "grep -q '^wrong key: 401 AuthenticationError AUTH.UNAUTHENTICATED\$' '$dir/openai'"

node "$npm/example_mcp.mjs" >"$dir/mcp" 2>&1
st=$?
sed 's/^/# /' "$dir/mcp"
t "mcp_client.mjs exits 0" "[ $st -eq 0 ]"
t "server: soulgw" "grep -q '^server: soulgw ' '$dir/mcp'"
t "tools: the tenant's demo.echo" "grep -q '^tools: demo.echo\$' '$dir/mcp'"
t "call: the tool's result" "grep -q '^call: {\"msg\":\"hi\"} isError=false\$' '$dir/mcp'"
t "session ended" "grep -q '^session ended\$' '$dir/mcp'"
t "the access log names both surfaces" \
  "grep -q '\"route\":\"openai_chat\"' '$dir/err' && grep -q '\"route\":\"mcp\"' '$dir/err'"
kill $pid; wait $pid; st=$?
t "the gateway stops cleanly" "[ $st -eq 0 ] && ! grep -q 'Sanitizer\|runtime error' '$dir/err'"
echo "1..$n"
