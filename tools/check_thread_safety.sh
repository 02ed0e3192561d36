#!/usr/bin/env bash
# Clang's thread-safety analysis over every source that uses the annotated locks of
# common/thread_annotations.h (GUARDED_BY, REQUIRES, MutexLock): a member touched without its
# lock, or a *Locked helper called without it, fails the check. Syntax only, nothing is built.
set -euo pipefail
cd "$(dirname "$0")/.."
CXX=${CLANGXX:-clang++}
mapfile -t files < <(grep -rlE 'MutexLock|GUARDED_BY|REQUIRES\(' src --include='*.cc' | grep -v '_test\.cc$' | sort)
if [[ ${#files[@]} -eq 0 ]]; then
  echo "thread-safety: no annotated sources found" >&2
  exit 1
fi
for f in "${files[@]}"; do
  "$CXX" -std=c++20 -fsyntax-only -Wthread-safety -Werror -Isrc "$f"
done
echo "thread-safety: ${#files[@]} files checked"
