#!/usr/bin/env bash
# run-unit.sh — runs each criterion unit-test binary, optionally under valgrind; prints a summary
# and fails if any binary fails. Usage: run-unit.sh [--valgrind] BIN...
set -u
vg=()
if [ "${1:-}" = "--valgrind" ]; then
  shift
  vg=(valgrind --quiet --leak-check=full --show-leak-kinds=definite,indirect --errors-for-leak-kinds=definite,indirect --error-exitcode=99 --trace-children=yes)
fi
fail=0
for t in "$@"; do
  # criterion forks a worker per test; -j1 keeps valgrind output readable.
  if ! "${vg[@]}" "$t" --jobs 1 --short-filename >"$t.log" 2>&1; then
    echo "FAIL $t"; cat "$t.log"; fail=1
  else
    printf 'ok   %-40s %s\n' "$(basename "$t")" "$(tail -n 1 "$t.log")"
  fi
done
exit $fail
