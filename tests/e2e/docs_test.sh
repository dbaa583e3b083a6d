#!/usr/bin/env bash
# docs_test: the README's flag table is exactly what `leasehold --help` says, and every flag of
# --help is in it.
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
LEASEHOLD="${LEASEHOLD:-$root/build/leasehold}"
TESTLIB_SUITE=docs_test
. "$root/tests/lib/testlib.sh"

rows="$("$LEASEHOLD" --help | python3 "$root/tests/e2e/flag_table.py")"
expect_match "--help lists flags" "$(echo "$rows" | wc -l)" '^[1-9][0-9]*$'
while IFS= read -r row; do
  flag="$(echo "$row" | cut -d'`' -f2)"
  expect "README row for $flag matches --help" grep -qxF -- "$row" "$root/README.md"
done <<<"$rows"
readme_flags="$(sed -n '/^## Flags/,/^## Timings\|^## Failure/p' "$root/README.md" | grep -E '^\| `--' | cut -d'`' -f2 | sort)"
help_flags="$(echo "$rows" | cut -d'`' -f2 | sort)"
expect_eq "README documents no flag that --help lacks" "$readme_flags" "$help_flags"
for doc in docs/contract.md docs/controlplane.md docs/packaging.md; do
  expect "$doc exists" test -s "$root/$doc"
done
summary
