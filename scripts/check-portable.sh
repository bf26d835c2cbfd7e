#!/usr/bin/env bash
# Fails when the checkout would work only here: a tracked file that names this checkout's absolute
# path (or any absolute path into a checkout's .cache/.venv/.build), or a Python reference package
# left unpinned. Run first by `make test`, so CI's fresh clone at another path catches it too.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd -P)
status=0
files=$(git ls-files -z | xargs -0 grep -IlF -- "$root" 2>/dev/null || true)
if [ -n "$files" ]; then
  echo "check-portable: these tracked files name this checkout's path ($root); use a path relative to the checkout:" >&2
  echo "$files" | sed 's/^/  /' >&2
  status=1
fi
# An absolute path into a checkout's own ignored folders, whatever the checkout's location.
hits=$(git ls-files -z | xargs -0 grep -InE -- '(^|[^A-Za-z0-9_.~$})-])/[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*/\.(cache|venv|build)/' 2>/dev/null \
       | grep -v '^scripts/check-portable.sh:' || true)
if [ -n "$hits" ]; then
  echo "check-portable: absolute paths into a checkout's .cache/.venv/.build (make them relative):" >&2
  echo "$hits" | sed 's/^/  /' >&2
  status=1
fi
loose=$(grep -vE '^\s*(#|$)' scripts/requirements.txt | grep -v '==' || true)
if [ -n "$loose" ]; then
  echo "check-portable: scripts/requirements.txt has packages not pinned with ==: $loose" >&2
  status=1
fi
[ $status -eq 0 ] && echo "check-portable: ok (no machine paths in tracked files; every reference package pinned)"
exit $status
