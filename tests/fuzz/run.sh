#!/usr/bin/env bash
# fuzz: builds the libFuzzer targets in build-fuzz/ (clang-14, ASan + UBSan, libFuzzer coverage)
# and runs each for SECONDS on a scratch copy of its seed corpus (the committed corpus never
# grows here), then replays every saved reproducer under tests/fuzz/regressions/<target>/.
# One check per target: it passes when the fuzzing run found nothing and every regression input
# runs clean. Prints "fuzz: N passed, N failed".
#
# Usage: tests/fuzz/run.sh [SECONDS]   (default 30; `make fuzz FUZZ_SECONDS=600` for longer)
# Environment: FUZZ_JOBS (targets fuzzed at once, default 2), FUZZ_TARGETS (subset, space separated),
# BUILD_DIR (default build-fuzz).
# Installs what it needs (clang-14, libclang-rt-14-dev, llvm-14, the build deps) when missing.
set -uo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
seconds="${1:-30}"
jobs="${FUZZ_JOBS:-2}"
build="${BUILD_DIR:-$root/build-fuzz}"
case "$build" in /*) ;; *) build="$root/$build" ;; esac
TESTLIB_SUITE=fuzz
. "$root/tests/lib/testlib.sh"

all_targets=(lease_json watch_line kubeconfig config duration http_server routes)
read -r -a targets <<<"${FUZZ_TARGETS:-${all_targets[*]}}"

start=$(date +%s)
stamp() { echo "fuzz [$(($(date +%s) - start))s] $*"; }

# --- toolchain (idempotent; CI starts from a fresh Debian 12 as root)
need=()
for p in clang-14 libclang-rt-14-dev llvm-14; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || need+=("$p")
done
if [ "${#need[@]}" -gt 0 ]; then
  stamp "installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null; } ||
    { fail "install ${need[*]}"; summary; exit 1; }
fi
bash "$root/scripts/install-deps.sh" >/dev/null || { fail "scripts/install-deps.sh"; summary; exit 1; }

# --- build
stamp "building the fuzz targets in ${build#"$root"/}"
cmake_log="$build.log"
mkdir -p "$build"
# -O1 with line tables: what libFuzzer recommends, and quicker to build than -O2 -g.
if ! { CC=clang-14 CXX=clang++-14 cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -gline-tables-only" -DLEASEHOLD_FUZZ=ON \
  -DLEASEHOLD_SANITIZE=address,undefined >"$cmake_log" 2>&1 &&
  cmake --build "$build" -j "${FUZZ_BUILD_JOBS:-2}" --target fuzz_targets >>"$cmake_log" 2>&1; }; then
  grep -E 'error|Error' "$cmake_log" | head -20
  fail "build the fuzz targets (log: $cmake_log)"
  summary
  exit 1
fi
stamp "built"

# --- run
symbolizer=/usr/lib/llvm-14/bin/llvm-symbolizer
export ASAN_OPTIONS="abort_on_error=1:detect_leaks=1:external_symbolizer_path=$symbolizer"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:external_symbolizer_path=$symbolizer"
export ASAN_SYMBOLIZER_PATH="$symbolizer"
work="$(mktemp -d "${TMPDIR:-/tmp}/leasehold-fuzz.XXXXXX")"
trap 'rm -rf "$work"' EXIT
findings="$build/findings"
rm -rf "$findings"

dict_of() {
  case "$1" in
    lease_json | watch_line) echo "$here/dict/json.dict" ;;
    kubeconfig | config) echo "$here/dict/yaml.dict" ;;
    http_server | routes) echo "$here/dict/http.dict" ;;
  esac
}

# fuzz_one TARGET: fuzzes for $seconds; leaves $work/TARGET/{log,rc} and any crash-* artifact.
fuzz_one() {
  local t="$1" dir="$work/$1" dict extra=()
  mkdir -p "$dir/corpus" "$dir/artifacts" "$dir/tmp"
  cp "$here/corpus/$t/"* "$dir/corpus/" 2>/dev/null
  dict="$(dict_of "$t")"
  [ -n "$dict" ] && extra+=("-dict=$dict")
  [ "$t" = http_server ] && extra+=("-max_len=8192")
  (cd "$dir" && LEASEHOLD_FUZZ_TMP="$dir/tmp" "$build/fuzz/${t}_fuzz" -max_total_time="$seconds" -timeout=20 \
    -rss_limit_mb=4096 -print_final_stats=1 -artifact_prefix="$dir/artifacts/" "${extra[@]}" "$dir/corpus" \
    >"$dir/log" 2>&1)
  echo $? >"$dir/rc"
}

stamp "fuzzing ${#targets[@]} targets for ${seconds}s each, $jobs at a time"
running=0
for t in "${targets[@]}"; do
  [ -x "$build/fuzz/${t}_fuzz" ] || { echo "no target $t" >&2; continue; }
  fuzz_one "$t" &
  running=$((running + 1))
  if [ "$running" -ge "$jobs" ]; then wait -n; running=$((running - 1)); fi
done
wait
stamp "fuzzing done; replaying regressions"

for t in "${targets[@]}"; do
  dir="$work/$t"
  problems=()
  if [ ! -x "$build/fuzz/${t}_fuzz" ]; then
    fail "$t: no fuzz target built"
    continue
  fi
  rc="$(cat "$dir/rc" 2>/dev/null || echo missing)"
  execs="$(grep -Eo 'stat::number_of_executed_units: *[0-9]+' "$dir/log" | grep -Eo '[0-9]+$' | tail -1)"
  artifacts=("$dir"/artifacts/*)
  [ -e "${artifacts[0]}" ] || artifacts=()
  if [ "$rc" != 0 ] || [ "${#artifacts[@]}" -gt 0 ]; then
    problems+=("fuzzing exit $rc")
    mkdir -p "$findings/$t"
    cp "$dir/log" "$findings/$t/fuzz.log"
    [ "${#artifacts[@]}" -gt 0 ] && cp "${artifacts[@]}" "$findings/$t/"
  fi
  regressions=0
  if [ -d "$here/regressions/$t" ]; then
    for f in "$here/regressions/$t"/*; do
      [ -f "$f" ] || continue
      regressions=$((regressions + 1))
      if ! (cd "$dir" && LEASEHOLD_FUZZ_TMP="$dir/tmp" "$build/fuzz/${t}_fuzz" -timeout=20 -rss_limit_mb=4096 \
        "$f" >"$dir/regression.log" 2>&1); then
        problems+=("regression $(basename "$f")")
        mkdir -p "$findings/$t"
        cp "$dir/regression.log" "$findings/$t/regression-$(basename "$f").log"
      fi
    done
  fi
  what="$t: ${execs:-0} inputs in ${seconds}s, $regressions regression inputs"
  if [ "${#problems[@]}" -eq 0 ]; then
    pass "$what"
  else
    fail "$what: ${problems[*]} (logs and inputs in ${findings#"$root"/}/$t/)"
    # The first sanitizer or FUZZ_CHECK report, for the CI log.
    for log in "$findings/$t"/*.log; do
      grep -m1 -E 'ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error|FUZZ_CHECK failed|terminate called' \
        "$log" | sed "s|^|        $(basename "$log"): |"
    done
  fi
done
stamp "done"
summary
