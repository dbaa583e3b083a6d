# shellcheck shell=bash
# Shared assertions for the shell test suites. Source it, call the checks, end with `summary`.
# Each check prints one line (ok/FAIL); `summary` prints "<suite>: N passed, N failed" and
# returns non-zero when anything failed, so a suite's exit code is its verdict.

# Sourcing it again (a library that needs it) keeps the counts.
TESTLIB_PASSED="${TESTLIB_PASSED:-0}"
TESTLIB_FAILED="${TESTLIB_FAILED:-0}"
TESTLIB_SUITE="${TESTLIB_SUITE:-$(basename "${0%.sh}")}"

pass() { TESTLIB_PASSED=$((TESTLIB_PASSED + 1)); echo "  ok    $*"; }
# TESTLIB_ON_FAIL: a command a suite may name, run after each failed check (to show what the
# parts under test said while they still exist); its own failures are ignored.
fail() {
  TESTLIB_FAILED=$((TESTLIB_FAILED + 1))
  echo "  FAIL  $*"
  if [ -n "${TESTLIB_ON_FAIL:-}" ]; then "$TESTLIB_ON_FAIL" || true; fi
}

# expect DESCRIPTION COMMAND [ARGS...]: passes when the command exits 0.
expect() {
  local what="$1"; shift
  local out
  if out="$("$@" 2>&1)"; then pass "$what"; else fail "$what"; echo "$out" | tail -n 5 | sed 's/^/        /'; fi
}

# expect_fail DESCRIPTION COMMAND [ARGS...]: passes when the command exits non-zero.
expect_fail() {
  local what="$1"; shift
  if "$@" >/dev/null 2>&1; then fail "$what (succeeded, expected failure)"; else pass "$what"; fi
}

# expect_eq DESCRIPTION ACTUAL EXPECTED
expect_eq() {
  if [ "$2" = "$3" ]; then pass "$1"; else fail "$1: got '$2', want '$3'"; fi
}

# expect_match DESCRIPTION ACTUAL EXTENDED_REGEX
# A here-string, not a pipe: grep -q stops at the first match, and a writer still writing (a long
# ACTUAL, such as a /metrics page) would die of SIGPIPE, failing the check under pipefail.
expect_match() {
  if grep -Eq -- "$3" <<<"$2"; then pass "$1"; else fail "$1: '$2' does not match /$3/"; fi
}

# wait_until TIMEOUT_SECONDS COMMAND [ARGS...]: polls every 50 ms until the command succeeds.
# For end-to-end suites waiting on real processes; the timeout bounds a hang, it is not a verdict.
wait_until() {
  local deadline=$(($(date +%s%N) + $1 * 1000000000)); shift
  until "$@" >/dev/null 2>&1; do
    [ "$(date +%s%N)" -lt "$deadline" ] || return 1
    sleep 0.05
  done
}

summary() {
  echo "$TESTLIB_SUITE: $TESTLIB_PASSED passed, $TESTLIB_FAILED failed"
  [ "$TESTLIB_FAILED" -eq 0 ] && [ "$TESTLIB_PASSED" -gt 0 ]
}
