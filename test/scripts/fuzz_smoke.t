#!/bin/sh
# fuzz_smoke: every libFuzzer target of test/fuzz/ runs once over its seeds, without fuzzing,
# and passes: no crash, no sanitizer report.  make check builds the targets (make fuzz) when
# clang is installed; without clang this is skipped.
f=${SOULGW_TEST_FILTER:-}
if [ -n "$f" ]; then case fuzz_smoke in *"$f"*) ;; *) echo "1..0 # SKIP filtered"; exit 0 ;; esac; fi
if ! command -v clang >/dev/null; then echo "1..0 # SKIP clang is not installed"; exit 0; fi
n=0
for src in test/fuzz/*.c; do
  name=$(basename "$src" .c)
  bin=build/fuzz/$name
  seeds=test/fuzz/seeds/$name
  log=build/fuzz/$name-smoke.log
  count=$(ls "$seeds" 2>/dev/null | wc -l)
  n=$((n + 1))
  if [ ! -x "$bin" ]; then echo "not ok $n - fuzz_smoke: $name is built"; continue; fi
  if [ "$count" -eq 0 ]; then echo "not ok $n - fuzz_smoke: $name has seeds in $seeds"; continue; fi
  if "$bin" -runs=0 -artifact_prefix="build/fuzz/$name-smoke-" "$seeds" >"$log" 2>&1; then
    echo "ok $n - fuzz_smoke: $name passes its $count seeds"
  else
    echo "not ok $n - fuzz_smoke: $name passes its $count seeds"
    sed -n '/ERROR\|runtime error/,/^SUMMARY/p' "$log" | head -40 | sed 's/^/#   /'
    tail -3 "$log" | sed 's/^/#   /'
  fi
done
echo "1..$n"
