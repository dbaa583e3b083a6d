#!/usr/bin/env bash
# Case 22: the leader's agent runs out of memory. Its address space is capped (prlimit --as) 4 MiB
# below what it maps now (what it has stays; it can map no more); then the Lease gets a 200 KB
# annotation, as a hand edit or another tool may
# add one. Reading it (a renewal's answer, a watch event) cannot allocate, in whichever thread
# reads first, ours or one of the HTTP client's own. The agent must either end through its
# internal-error path (stop claiming on every channel, exit 70: never an abort, whose state file
# would still say "leader"), or live on without claiming (a renewal it cannot read is a failed
# one; if its renewals still go through, it rightly goes on leading, and is then killed). The
# other agent takes over, the annotation is removed and the old agent restarted, for
# $OOM_TRIALS rounds (default 4); the witness sees no overlap.
set -uo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
fault_init 22_out_of_memory

trials="${OOM_TRIALS:-4}"
big="$(head -c 200000 /dev/zero | tr '\0' x)"
printf '{"metadata":{"annotations":{"example.com/big":"%s"}}}' "$big" >"$work/big.json"
annotate() {
  kube_api -o /dev/null -w '%{http_code}' -X PATCH -H 'Content-Type: application/merge-patch+json' \
    --data-binary "$1" "$(lease_path)"
}
not_claiming() { ! is_leader "$1" && ! file_says_leader "$1"; }
# gone NAME: exited (a zombie not yet reaped by this shell counts: `kill -0` still reaches it).
gone() { proc_gone "$(pid_of "$1")"; }
# said_or_gone NAME: the agent has logged why its claim ended, or has ended.
said_or_gone() {
  gone "$1" || log_has "$1" '.msg=="stopped leading" or .msg=="internal error: exiting"'
}
# renewed_by NAME: the Lease names NAME and was renewed within the last lease duration.
renewed_by() {
  local renewed
  renewed="$(date -d "$(lease_field '.spec.renewTime // empty')" +%s%3N 2>/dev/null)" || return 1
  holder_is "$1" && [ "$renewed" -gt $(($(now_ms) - LD_MS)) ]
}

start_election a b || { fail "no leader"; summary; exit 1; }
exited=0 lived=0 led=0
for trial in $(seq 1 "$trials"); do
  old="$leader"; other=a; [ "$old" = a ] && other=b
  pid="$(pid_of "$old")"
  mapped_kb="$(awk '/^VmSize:/ { print $2 }' "/proc/$pid/status")"
  prlimit --pid "$pid" --as=$(((mapped_kb - 4096) * 1024)) || { fail "[$trial] prlimit"; break; }
  t="$(now_ms)"
  expect_eq "[$trial] the API server takes the 200 KB annotation" "$(annotate @"$work/big.json")" 200
  # Its claim ends by itself within a lease duration at the latest, unless it is renewed.
  if ! wait_until $((LD + 5)) not_claiming "$old"; then
    led=$((led + 1))
    log "[$trial] $old goes on leading, $(($(now_ms) - t)) ms after the patch"
    expect "[$trial] $old claims only while its renewals go through" renewed_by "$old"
    agent_signal "$old" KILL
    agent_wait "$old"
  else
    # Not claiming: it lives on, or it is on its way out through its internal-error path (the
    # claims end first there, then the line is written, then the process exits). Which one is
    # judged once it has said why or ended, not at the instant its claim was seen to end: that
    # once took an agent on its way to exit 70 for one living on, with nothing said yet.
    wait_until 10 said_or_gone "$old"
    if ! gone "$old" && ! log_has "$old" '.msg=="internal error: exiting"'; then
      lived=$((lived + 1))
      log "[$trial] $old lives on, not claiming, $(($(now_ms) - t)) ms after the patch"
      expect "[$trial] its log says why it stopped leading" log_has "$old" '.msg=="stopped leading"'
      agent_signal "$old" KILL
      agent_wait "$old"
    else
      agent_wait "$old"; rc=$?
      exited=$((exited + 1))
      log "[$trial] $old exited with status $rc, $(($(now_ms) - t)) ms after the patch"
      expect_eq "[$trial] $old exits 70 (its internal-error path), not by abort" "$rc" 70
      expect "[$trial] and logs why" log_has "$old" '.msg=="internal error: exiting"'
    fi
  fi
  new="$(wait_leader $((2 * LD + 10)) a b)" || new=""
  expect_eq "[$trial] the other agent leads" "$new" "$other"
  expect_eq "[$trial] the annotation is removed" "$(annotate '{"metadata":{"annotations":{"example.com/big":null}}}')" 200
  agent_start "$old"  # same ports and status dir: its apps go on asking it
  wait_until 10 ready "$old"
  leader="${new:-$other}"
  wait_acting "$leader"
done
log "outcomes: $exited exited, $lived lived on without claiming, $led went on leading"
expect "fencing tokens of all terms strictly increase" tokens_increase a b
# shellcheck disable=SC2119 # overlap.py's default arguments
report
expect_no_overlap
standard_figures "exited=$exited" "lived_not_claiming=$lived" "went_on_leading=$led"
summary
