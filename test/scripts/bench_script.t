#!/bin/sh
# bench_script: bench/run (make bench) parses, answers --help naming every table, and refuses an
# unknown table before it measures anything.  No figure is checked: benchmarks are not tests.
f=${SOULGW_TEST_FILTER:-}
if [ -n "$f" ]; then case bench_script in *"$f"*) ;; *) echo "1..0 # SKIP filtered"; exit 0 ;; esac; fi
echo "1..3"
if python3 -c 'import ast, sys; ast.parse(open(sys.argv[1]).read(), sys.argv[1])' bench/run 2>&1; then
  echo "ok 1 - bench_script: bench/run is valid python3"
else echo "not ok 1 - bench_script: bench/run is valid python3"; fi
out=$(bench/run --help 2>&1); rc=$?
missing=""
for t in shared perf scaling graph memory startup pg routing targets; do
  case $out in *"$t"*) ;; *) missing="$missing $t" ;; esac
done
if [ $rc -eq 0 ] && [ -z "$missing" ]; then echo "ok 2 - bench_script: --help exits 0 and names every table"
else echo "not ok 2 - bench_script: --help exits 0 and names every table"; echo "#   exit $rc, missing:$missing"; fi
out=$(bench/run --only nosuchtable 2>&1); rc=$?
case $out in *"unknown table nosuchtable"*) named=1 ;; *) named=0 ;; esac
if [ $rc -eq 2 ] && [ $named = 1 ]; then echo "ok 3 - bench_script: an unknown table is refused (exit 2)"
else echo "not ok 3 - bench_script: an unknown table is refused (exit 2)"; echo "#   exit $rc: $out" | head -3; fi
