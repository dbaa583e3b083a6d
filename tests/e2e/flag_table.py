"""Prints the README flag table rows that `leasehold --help` implies (one per flag)."""
import re
import sys

lines = sys.stdin.read().split("\n")
for i, line in enumerate(lines):
    m = re.match(r"  --([^\s,]+)(?: ([^\s,]+))?(?:, \$(\S+))?$", line)
    if not m:
        continue
    text = lines[i + 1].strip()
    d = re.search(r" \(default (.*)\)$", text)
    default = "`%s`" % d.group(1) if d else ""
    if d:
        text = text[: d.start()]
    env = "`$%s`" % m.group(3) if m.group(3) else ""
    print("| `--%s` | %s | %s | %s | %s |" % (m.group(1), m.group(2) or "", env, default, text))
