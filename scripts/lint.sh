#!/usr/bin/env bash
# make lint: shellcheck on every shell script of the repository, the *.sh files and the files
# without that ending whose first line runs bash or sh (tests/controlplane/up, .ci/run, ...).
# Project-wide settings are in .shellcheckrc; a warning that is meant carries a
# `# shellcheck disable=SCxxxx` with its reason where it stands. Needs shellcheck (make deps).
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
command -v shellcheck >/dev/null || { echo "lint: shellcheck not found; \`make deps\` installs it" >&2; exit 1; }

files=()
while IFS= read -r f; do
  [ -f "$f" ] || continue
  case "$f" in
    *.sh) files+=("$f") ;;
    *) if head -n 1 "$f" | grep -qE '^#!.*[/ ](ba|da)?sh( |$)'; then files+=("$f"); fi ;;
  esac
done < <(git ls-files --cached --others --exclude-standard)

if shellcheck "${files[@]}"; then
  echo "lint: shellcheck: ${#files[@]} scripts, no findings"
else
  echo "lint: shellcheck found the above in ${#files[@]} scripts" >&2
  exit 1
fi
