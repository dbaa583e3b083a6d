#!/usr/bin/env python3
"""Overlap checker over a witness log (tests/faults/witness.py).

    overlap.py WITNESS_LOG [--from-ns NS] [--to-ns NS] [--fault-at NS] [--gap-ms 250] [--json OUT]
               [--shard I | --each-shard]

Definitions (actions marked "probe" by a test are excluded):
* Every action carries two times: its claim time (checked_ns: when the app got "leader" from its
  agent, i.e. the agent's answer had arrived; the arrival time if absent) and its arrival time at
  the witness (t).
* A term is the set of actions carrying one fencing token (a token belongs to exactly one grant
  of the Lease). Its claim interval is [first claim, last claim] of that token, over accepted AND
  rejected actions: a rejected action is still a claim of leadership by an app whose agent said
  "leader" (fencing caught it, but the agent should not have said so).
* overlap = the total time covered by the claim intervals of two or more terms (a sweep over the
  interval end points). Equivalently: for every pair of terms A (earlier first claim) and B, if
  A's app still claims after B's first claim, [B.first, min(A.last, B.last)] is an overlap
  interval; overlap is the measure of their union. This is "two agents said leader at once",
  resolved to the apps' polling period (50 ms). Must be 0.
* accepted overlap = the same over the arrival times of accepted actions only: what the payment
  API executed. 0 by construction of the fencing witness; reported as a check of the witness.
* shared tokens = tokens sent by two different candidates (must be none).
* time without leader = the sum of the gaps longer than --gap-ms between consecutive accepted
  actions (arrival) within [--from-ns, --to-ns] (the window's start and end count as boundaries),
  the longest such gap, and the fraction of the window with a leader (1 - leaderless / window).
* --fault-at NS: the old term is the token of the last accepted action before NS (looked for in the
  whole log, not only in the window, so a window that opens just before the fault still knows it;
  --old-token overrides); failover = the
  first accepted action of another token at or after NS, minus NS; old term's last action = the
  last claim (any verdict) of the old token, minus NS.
* --shard I: the actions on shard I of a sharded election only (each shard has its own tokens).
  --each-shard: every shard on its own; prints a line per shard and the overlapping pairs, and
  the figures are summed (overlap_ms, actions...) or joined (shared_tokens, as "shard:token";
  accepted_tokens_monotonic holds when it holds for every shard), with "per_shard" figures.
Prints a human summary; --json OUT writes the figures. Exit status 1 if overlap > 0 or a token
is shared, else 0.
"""
import argparse
import json
import sys
from collections import defaultdict


def load(path, shard=None, any_shard=False):
    """Every action of the log but probes (of one shard, when given; of every shard with
    any_shard), by time."""
    actions = []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            try:
                a = json.loads(line)
            except json.JSONDecodeError:
                continue  # a line cut by a kill
            # Without --shard, the one election's actions only: a shard's tokens are its own.
            if not a.get("probe") and (a.get("shard") is not None if any_shard else a.get("shard") == shard):
                actions.append(a)
    actions.sort(key=lambda a: a["t"])
    return actions


def claim_time(a):
    return a.get("checked_ns") or a["t"]


def terms_of(actions, when=claim_time):
    terms = {}
    for a in actions:
        k = a["token"]
        x = when(a)
        t = terms.setdefault(k, {"token": k, "candidates": set(), "first": x, "last": x,
                                 "accepted": 0, "rejected": 0})
        t["candidates"].add(a["candidate"])
        t["first"] = min(t["first"], x)
        t["last"] = max(t["last"], x)
        t["accepted" if a["accepted"] else "rejected"] += 1
    return sorted(terms.values(), key=lambda t: t["first"])


def overlap_of(terms):
    """Measure of the instants covered by >= 2 intervals, and the overlapping pairs."""
    events = []
    for t in terms:
        if t["last"] > t["first"]:
            events.append((t["first"], 1))
            events.append((t["last"], -1))
    events.sort(key=lambda e: (e[0], e[1]))  # ends before starts at equal times: touching is not overlap
    depth, prev, total = 0, None, 0
    for x, d in events:
        if depth >= 2 and prev is not None:
            total += x - prev
        depth += d
        prev = x
    pairs = []
    for i, a in enumerate(terms):
        for b in terms[i + 1:]:
            lo, hi = max(a["first"], b["first"]), min(a["last"], b["last"])
            if hi > lo:
                pairs.append({"tokens": [a["token"], b["token"]],
                              "candidates": [sorted(a["candidates"]), sorted(b["candidates"])],
                              "from_ns": lo, "to_ns": hi, "ms": (hi - lo) / 1e6})
    return total, pairs


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("log")
    ap.add_argument("--from-ns", type=int)
    ap.add_argument("--to-ns", type=int)
    ap.add_argument("--fault-at", type=int)
    ap.add_argument("--old-token", type=int)
    ap.add_argument("--gap-ms", type=float, default=250.0)
    ap.add_argument("--json")
    ap.add_argument("--shard", type=int, help="only the actions on this shard of a sharded election")
    ap.add_argument("--each-shard", action="store_true", help="every shard of a sharded election on its own")
    args = ap.parse_args()
    if args.each_shard:
        each_shard(args)
        return

    everything = load(args.log, args.shard)
    actions = [a for a in everything
               if (args.from_ns is None or a["t"] >= args.from_ns) and (args.to_ns is None or a["t"] <= args.to_ns)]
    accepted = [a for a in actions if a["accepted"]]
    per_candidate = defaultdict(lambda: {"accepted": 0, "rejected": 0})
    for a in actions:
        per_candidate[a["candidate"]]["accepted" if a["accepted"] else "rejected"] += 1

    terms = terms_of(actions)
    overlap_ns, pairs = overlap_of(terms)
    acc_overlap_ns, _ = overlap_of(terms_of(accepted, when=lambda a: a["t"]))
    shared = [t["token"] for t in terms if len(t["candidates"]) > 1]
    tokens_accepted = [a["token"] for a in accepted]
    monotonic = all(x <= y for x, y in zip(tokens_accepted, tokens_accepted[1:]))

    lo = args.from_ns if args.from_ns is not None else (min(map(claim_time, actions)) if actions else 0)
    hi = args.to_ns if args.to_ns is not None else (actions[-1]["t"] if actions else 0)
    gap_ns = args.gap_ms * 1e6
    marks = [lo] + [a["t"] for a in accepted] + [hi]
    leaderless, longest = 0, 0
    for x, y in zip(marks, marks[1:]):
        if y - x > gap_ns:
            leaderless += y - x
            longest = max(longest, y - x)
    window = max(hi - lo, 1)

    out = {
        "actions": len(actions), "accepted": len(accepted), "rejected": len(actions) - len(accepted),
        "per_candidate": per_candidate,
        "terms": [{"token": t["token"], "candidates": sorted(t["candidates"]), "first_ns": t["first"],
                   "last_ns": t["last"], "accepted": t["accepted"], "rejected": t["rejected"]} for t in terms],
        "overlap_ms": overlap_ns / 1e6, "overlap_pairs": pairs, "accepted_overlap_ms": acc_overlap_ns / 1e6,
        "shared_tokens": shared, "accepted_tokens_monotonic": monotonic,
        "window_ms": window / 1e6, "leaderless_ms": leaderless / 1e6, "longest_gap_ms": longest / 1e6,
        "leader_fraction": 1 - leaderless / window,
    }
    if args.fault_at is not None:
        if args.old_token is not None:
            old = args.old_token
        else:
            before = [a for a in everything if a["accepted"] and a["t"] < args.fault_at]
            old = before[-1]["token"] if before else None
        new = next((a for a in accepted if a["t"] >= args.fault_at and a["token"] != old), None)
        old_after = [claim_time(a) for a in actions if a["token"] == old and claim_time(a) >= args.fault_at]
        out["old_token"] = old
        out["new_token"] = new["token"] if new else None
        out["new_candidate"] = new["candidate"] if new else None
        out["failover_ms"] = (new["t"] - args.fault_at) / 1e6 if new else None
        out["old_last_ms"] = (max(old_after) - args.fault_at) / 1e6 if old_after else None

    print(f"witness: {out['actions']} actions, {out['accepted']} accepted, {out['rejected']} rejected")
    for c in sorted(per_candidate):
        print(f"  {c}: accepted {per_candidate[c]['accepted']}, rejected {per_candidate[c]['rejected']}")
    for t in terms:
        print(f"  term {t['token']} ({','.join(sorted(t['candidates']))}): "
              f"+{(t['first'] - lo) / 1e9:.3f}s .. +{(t['last'] - lo) / 1e9:.3f}s, "
              f"{t['accepted']} accepted, {t['rejected']} rejected")
    print(f"overlap: {out['overlap_ms']:.1f} ms ({len(pairs)} overlapping term pairs; accepted only: "
          f"{out['accepted_overlap_ms']:.1f} ms; shared tokens: {len(shared)})")
    for p in pairs:
        print(f"  OVERLAP tokens {p['tokens']} candidates {p['candidates']}: {p['ms']:.1f} ms")
    print(f"time without leader: {out['leaderless_ms']:.0f} ms of {out['window_ms']:.0f} ms "
          f"(longest gap {out['longest_gap_ms']:.0f} ms; with a leader {100 * out['leader_fraction']:.1f}%)")
    if args.fault_at is not None:
        fo = "none" if out["failover_ms"] is None else f"{out['failover_ms']:.0f} ms"
        ol = "none" if out["old_last_ms"] is None else f"+{out['old_last_ms']:.0f} ms"
        print(f"failover: {fo} after the fault (old term {out['old_token']}'s last action: {ol}; "
              f"new term {out['new_token']} by {out['new_candidate']})")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1, default=list)
    sys.exit(1 if overlap_ns > 0 or shared else 0)


def each_shard(args):
    by_shard = defaultdict(list)
    for a in load(args.log, any_shard=True):
        if (args.from_ns is None or a["t"] >= args.from_ns) and (args.to_ns is None or a["t"] <= args.to_ns):
            by_shard[a["shard"]].append(a)
    out = {"shards": len(by_shard), "actions": 0, "accepted": 0, "rejected": 0, "overlap_ms": 0.0,
           "overlap_pairs": [], "shared_tokens": [], "accepted_tokens_monotonic": True, "per_shard": {}}
    for shard in sorted(by_shard):
        actions = by_shard[shard]
        accepted = [a for a in actions if a["accepted"]]
        terms = terms_of(actions)
        overlap_ns, pairs = overlap_of(terms)
        shared = [t["token"] for t in terms if len(t["candidates"]) > 1]
        tokens = [a["token"] for a in accepted]
        monotonic = all(x <= y for x, y in zip(tokens, tokens[1:]))
        out["actions"] += len(actions)
        out["accepted"] += len(accepted)
        out["rejected"] += len(actions) - len(accepted)
        out["overlap_ms"] += overlap_ns / 1e6
        out["overlap_pairs"] += [dict(p, shard=shard) for p in pairs]
        out["shared_tokens"] += [f"{shard}:{t}" for t in shared]
        out["accepted_tokens_monotonic"] = out["accepted_tokens_monotonic"] and monotonic
        out["per_shard"][shard] = {"actions": len(actions), "accepted": len(accepted), "terms": len(terms),
                                   "overlap_ms": overlap_ns / 1e6, "shared_tokens": shared,
                                   "accepted_tokens_monotonic": monotonic}
        print(f"  shard {shard}: {len(actions)} actions ({len(accepted)} accepted), {len(terms)} terms, "
              f"overlap {overlap_ns / 1e6:.1f} ms, shared tokens {len(shared)}")
        for p in pairs:
            print(f"  OVERLAP shard {shard} tokens {p['tokens']} candidates {p['candidates']}: {p['ms']:.1f} ms")
    print(f"witness: {out['shards']} shards, {out['actions']} actions, {out['accepted']} accepted, "
          f"{out['rejected']} rejected; overlap {out['overlap_ms']:.1f} ms; shared tokens {len(out['shared_tokens'])}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1, default=list)
    sys.exit(1 if out["overlap_ms"] > 0 or out["shared_tokens"] else 0)


if __name__ == "__main__":
    main()
