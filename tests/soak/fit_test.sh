#!/usr/bin/env bash
# fit_test: the soak's growth check (tests/soak/fit.py) flags what keeps growing and only that,
# on samples made up here with the noise of a real run (seeded):
# - flat figures with noise (RSS +-200 KiB, FDs and sockets +-4, a few series appearing during
#   the warm-up): every slope within the soak's bounds, exit 0;
# - RSS growing 250 KiB/min under the same noise: that metric (and no other) above its bound;
# - one descriptor (a socket) leaked every 10 s, a thread every minute: fds, sockets, threads above;
# - a series added every 10 s after the warm-up: series above;
# - a spike of 60 descriptors in the next-to-last sample (its least-squares slope alone is above
#   the bound): no verdict from a single sample;
# - an agent restarted: each process is fitted on its own, and one with fewer than 6 samples
#   after its warm-up fails as too short to judge.
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
. "$root/tests/lib/suite.sh"
suite_begin fit_test
FIT="$root/tests/soak/fit.py"
BOUNDS=(--bound rss_kib=160 --bound anon_kib=160 --bound fds=4 --bound threads=0.5 --bound sockets=4 --bound series=5)  # soak.sh's

# make_samples FILE KIND: 4 minutes of samples every 10 s for agent l1 (pid 100), KIND as above.
make_samples() {
  python3 - "$1" "$2" <<'PY'
import random, sys
out, kind = sys.argv[1], sys.argv[2]
r = random.Random(7)
rows = []
for i in range(25):
    t = i * 10.0
    rss, anon, fds, thr, socks, series = 9000 + r.randint(-200, 200), 4000 + r.randint(-150, 150), 20, 9, 10, 150
    extra = r.randint(-4, 4)
    fds += extra; socks += extra
    if t < 50: series -= 4  # label values that appear during the warm-up
    if kind == "rss": rss += 250 * t / 60; anon += 250 * t / 60
    if kind == "fd": fds += int(t // 10); socks += int(t // 10); thr += int(t // 60)
    if kind == "series" and t >= 60: series += int((t - 60) // 10)
    if kind == "spike" and i == 23: fds += 60; socks += 60
    pid = 100
    if kind == "restart" and t >= 190: pid, rss = 101, rss - 3000  # a new process, smaller at first
    rows.append((t, "l1", pid, rss, anon, fds, thr, socks, series))
with open(out, "w") as f:
    f.write("t_s,agent,pid,rss_kib,anon_kib,fds,threads,sockets,series\n")
    for row in rows:
        f.write(",".join(str(x) for x in row) + "\n")
PY
}
# fit KIND: runs fit.py on samples of KIND (60 s warm-up); its JSON in $work/KIND.json.
fit() {
  make_samples "$work/$1.csv" "$1"
  python3 "$FIT" "$work/$1.csv" --warmup-s 60 "${BOUNDS[@]}" --json "$work/$1.json" >"$work/$1.out" 2>&1
}
# above KIND: the metrics above their bound, space-separated, in fit.py's order.
above() { jq -r '[.processes[].metrics | to_entries[] | select(.value.ok | not) | .key] | unique | join(" ")' "$work/$1.json"; }

expect "flat figures with noise pass" fit flat
expect_eq "flat: nothing above its bound" "$(above flat)" ""
expect_fail "RSS growing 250 KiB/min fails" fit rss
expect_eq "rss: RSS and RssAnon above their bounds, nothing else" "$(above rss)" "anon_kib rss_kib"
expect_fail "a descriptor leaked every 10 s fails" fit fd
expect_eq "fd: fds, sockets and threads above their bounds" "$(above fd)" "fds sockets threads"
expect_fail "a series added every 10 s fails" fit series
expect_eq "series: only series above its bound" "$(above series)" "series"
expect "one spike of 60 descriptors after the warm-up passes" fit spike
expect "spike: its least-squares slope alone is above the bound" \
  jq -e '.processes[0].metrics.fds | .slope_per_min > .bound_per_min and .median_slope_per_min < .bound_per_min' "$work/spike.json"
expect_fail "a process restarted 50 s before the end: too short to judge" fit restart
expect_eq "restart: two processes fitted on their own" "$(jq '.processes | length' "$work/restart.json")" 2
expect_eq "restart: the short one is called too short" \
  "$(jq -r '.processes[] | select(.pid == 101) | .error' "$work/restart.json")" "0 samples after the warm-up (< 6)"
summary
