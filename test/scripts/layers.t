#!/bin/sh
# layers: no file of lib/ includes a file of a layer above its own (DESIGN.md section 1).
# Lowest first: base < conf < clients = store < tools = llm < pipeline < routes < http < gateway.
# An offending include is printed as "file: includes X".
f=${SOULGW_TEST_FILTER:-}
if [ -n "$f" ]; then case layers in *"$f"*) ;; *) echo "1..0 # SKIP filtered"; exit 0 ;; esac; fi
rank() {
  case $1 in
    base/*) echo 0 ;; conf/*) echo 1 ;; clients/* | store/*) echo 2 ;; tools/* | llm/*) echo 3 ;;
    pipeline/*) echo 4 ;; routes/*) echo 5 ;; http/*) echo 6 ;; gateway.[ch]) echo 7 ;;
    *) echo "" ;;
  esac
}
bad=$(mktemp)
trap 'rm -f "$bad"' EXIT
nfiles=0
for file in $(cd lib && find . -name '*.[ch]' | sed 's|^\./||' | sort); do
  nfiles=$((nfiles + 1))
  own=$(rank "$file")
  if [ -z "$own" ]; then echo "lib/$file: is in no layer" >>"$bad"; continue; fi
  for inc in $(sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\([^"]*\)".*/\1/p' "lib/$file"); do
    case $inc in soulgw.h | commit.h) continue ;; esac
    if [ ! -f "lib/$inc" ]; then echo "lib/$file: includes $inc, not a path rooted at lib/" >>"$bad"; continue; fi
    theirs=$(rank "$inc")
    if [ -z "$theirs" ] || [ "$theirs" -gt "$own" ]; then echo "lib/$file: includes $inc" >>"$bad"; fi
  done
done
dups=$(cd lib && find . -name '*.c' -printf '%f\n' | sort | uniq -d)
if [ -s "$bad" ]; then echo "not ok 1 - layers: no file includes a layer above its own"; sed 's/^/#   /' "$bad"
else echo "ok 1 - layers: no file includes a layer above its own ($nfiles files)"; fi
if [ -n "$dups" ]; then echo "not ok 2 - layers: unique basenames"; echo "$dups" | sed 's/^/#   /'
else echo "ok 2 - layers: unique basenames"; fi
echo "1..2"
