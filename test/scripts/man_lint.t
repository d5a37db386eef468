#!/bin/sh
# man_lint: the man pages are valid mdoc (mandoc -Tlint, warnings are failures).
f=${SOULGW_TEST_FILTER:-}
if [ -n "$f" ]; then case man_lint in *"$f"*) ;; *) echo "1..0 # SKIP filtered"; exit 0 ;; esac; fi
n=0
for page in man/soulgw.1 man/soulgw.toml.5 man/libsoulgw.3; do
  n=$((n + 1))
  if [ ! -f "$page" ]; then echo "not ok $n - man_lint: $page exists"; continue; fi
  out=$(mandoc -Tlint -Wwarning "$page" 2>&1)
  if [ -z "$out" ]; then echo "ok $n - man_lint: $page"; else echo "not ok $n - man_lint: $page"; echo "$out" | sed 's/^/#   /'; fi
done
echo "1..$n"
