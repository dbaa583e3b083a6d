#!/usr/bin/env bash
# Builds the agent of the previous release (tests/compat/previous-release) from this checkout's
# history into .cache/previous/<tag>-<commit>/leasehold (or $PREVIOUS_DIR), and prints the
# binary's path as its last line. Only the agent, in Release mode; its sources come from
# `git archive` of the commit, so the work tree is not touched. Idempotent: a second run returns
# at once.
#
#   bash tests/compat/build-previous.sh        # make previous
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
read -r tag commit < <(grep -v '^#' "$here/previous-release" | grep -m1 .)
[[ "$commit" =~ ^[0-9a-f]{40}$ ]] || { echo "previous-release: no commit on its line ('$tag $commit')" >&2; exit 2; }
dir="${PREVIOUS_DIR:-$root/.cache/previous/$tag-${commit:0:12}}"
bin="$dir/leasehold"
if [ -x "$bin" ]; then
  echo "previous release: $tag ($commit) already built"
  echo "$bin"
  exit 0
fi
if ! git -C "$root" cat-file -e "$commit^{commit}" 2>/dev/null; then
  echo "previous release: commit $commit ($tag) is not in this checkout's history;" \
    "a clone with history (not --depth 1) has it" >&2
  exit 2
fi

start=$(date +%s)
rm -rf "$dir.tmp"
mkdir -p "$dir.tmp/src"
git -C "$root" archive "$commit" | tar -x -C "$dir.tmp/src"
cmake -S "$dir.tmp/src" -B "$dir.tmp/build" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$dir.tmp/build" --target leasehold -j "${JOBS:-$(nproc)}" >"$dir.tmp/build.log" 2>&1 ||
  { tail -30 "$dir.tmp/build.log" >&2; echo "previous release: the build of $tag failed" >&2; exit 1; }
mkdir -p "$dir"
mv "$dir.tmp/build/leasehold" "$bin"
rm -rf "$dir.tmp"
echo "previous release: built $tag ($commit) in $(($(date +%s) - start))s: $("$bin" --version)"
echo "$bin"
