#!/usr/bin/env bash
# Idempotent set-up for a fresh Debian machine (run as root): Debian packages the tool and the
# lab need, a virtualenv in .venv, and inspectorctl installed into it.
#   scripts/setup.sh          runtime only
#   scripts/setup.sh dev      runtime + test tooling (pytest, hypothesis, ruff, mypy, molecule,
#                             ansible-lint, the `ansible` collections package, selenium, and
#                             the Debian packages marked [dev]: chromium, chromium-driver)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$here"
extra="${1:-}"

# --- Debian packages ----------------------------------------------------------------------
# a line ending in [dev] is a test tool: installed by `setup.sh dev` only
if [ "$extra" = dev ]; then
  mapfile -t wanted < <(grep -vE '^\s*(#|$)' scripts/debian-packages.txt | sed -E 's/\s*\[dev\]\s*$//')
else
  mapfile -t wanted < <(grep -vE '^\s*(#|$)' scripts/debian-packages.txt | grep -vE '\[dev\]\s*$')
fi
missing=()
for p in "${wanted[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "setup: missing Debian packages: ${missing[*]} (run as root, or: apt-get install ${missing[*]})" >&2
    exit 2
  fi
  echo "setup: installing Debian packages: ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# --- virtualenv -----------------------------------------------------------------------------
py="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$py" -m venv .venv
fi
spec="."
[ "$extra" = dev ] && spec=".[dev]"
stamp=".venv/.inspectorctl-$(cat pyproject.toml scripts/setup.sh | sha256sum | cut -c1-16)-${extra:-runtime}"
if [ ! -e "$stamp" ]; then
  log="$(mktemp)"
  if ! .venv/bin/python -m pip install -q --disable-pip-version-check -e "$spec" >"$log" 2>&1; then
    grep -v "is ignored: it is neither a file nor a directory" "$log" >&2
    rm -f "$log"
    echo "setup: pip install failed" >&2
    exit 1
  fi
  rm -f "$log"
  touch "$stamp"
fi
