#!/usr/bin/env bash
# Install the ajv adapter's pinned dependencies (package-lock.json) into node_modules/, once.
#
# Idempotent: runs `npm ci` only when node_modules/ is missing or was installed from another package-lock.json
# (a checksum of the lockfile is kept in node_modules/.aifabric-lock.sha256). Safe to call from parallel test
# workers: the install runs under an exclusive lock. Exits 0 with nothing to do when node_modules is current.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here"

lock_sum() { sha256sum package-lock.json | cut -d' ' -f1; }
current() { [[ -f node_modules/.aifabric-lock.sha256 && "$(cat node_modules/.aifabric-lock.sha256)" == "$(lock_sum)" ]]; }

if current; then
  exit 0
fi
if ! command -v npm >/dev/null 2>&1; then
  echo "install.sh: npm not found; install Node.js 20 or later to run the ajv adapter" >&2
  exit 1
fi

install() {
  if current; then
    return 0
  fi
  echo "install.sh: npm ci in $here" >&2
  npm ci --no-audit --no-fund --loglevel=error >&2
  lock_sum > node_modules/.aifabric-lock.sha256
}

# The lock lives outside the checkout (npm ci replaces node_modules/, and the tree stays clean).
lock="${TMPDIR:-/tmp}/aifabric-node-ajv-$(printf '%s' "$here" | sha256sum | cut -c1-16).lock"
if command -v flock >/dev/null 2>&1; then
  exec 9>"$lock"
  flock 9
  install
else
  until mkdir "$lock.d" 2>/dev/null; do sleep 0.2; done
  trap 'rmdir "$lock.d"' EXIT
  install
fi
