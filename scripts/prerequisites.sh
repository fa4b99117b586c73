#!/usr/bin/env bash
# Installs what the system and its tests need on a fresh Debian machine with the .NET SDK:
# PostgreSQL (Debian package), Node.js + npm, Azurite (npm, pinned in tools/azurite) and, with --tests,
# the reference implementations the tests compare against (npm, pinned in tests/npm).
# Idempotent: each step is skipped when its result is already there.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
want_tests=false
[[ "${1:-}" == "--tests" ]] && want_tests=true

sudo_if_needed() { if [[ $(id -u) -eq 0 ]]; then "$@"; else sudo "$@"; fi; }
apt_updated=false
apt_install() {
  if ! $apt_updated; then sudo_if_needed apt-get update -qq; apt_updated=true; fi
  sudo_if_needed env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  echo "prerequisites: installing PostgreSQL (Debian package)"
  apt_install postgresql
fi
if ! command -v npm >/dev/null 2>&1; then
  echo "prerequisites: installing Node.js and npm (Debian packages)"
  apt_install nodejs npm
fi

npm_ci() { # folder [npm command...]: install exactly the locked versions, once per lock-file change
  local dir="$1" stamp="$1/node_modules/.huatuo-lock"
  shift
  local command=("$@")
  [[ ${#command[@]} -eq 0 ]] && command=(ci)
  if [[ -f "$stamp" ]] && cmp -s "$dir/package-lock.json" "$stamp"; then return; fi
  echo "prerequisites: npm ${command[*]} in ${dir#$root/}"
  (cd "$dir" && npm "${command[@]}" --no-audit --no-fund --loglevel=error >/dev/null)
  cp "$dir/package-lock.json" "$stamp"
}
npm_ci "$root/tools/azurite"
# tests/npm holds node-llama-cpp (the llama.cpp oracle), whose CPU build is the pinned @node-llama-cpp/linux-x64 package.
# Its optional GPU/other-OS builds are skipped (hundreds of MB, and the registry mirror lacks some, which makes `npm ci`
# reject the lock file), so this is `npm install` from the lock without saving, and its postinstall download is off.
if $want_tests; then NODE_LLAMA_CPP_SKIP_DOWNLOAD=true npm_ci "$root/tests/npm" install --omit=optional --no-save; fi
# The dashboard's end-to-end tests drive Debian's Chromium through Playwright (the browser build Playwright would
# download is not reachable here).
if $want_tests && [[ ! -x /usr/bin/chromium ]]; then
  echo "prerequisites: installing Chromium (Debian package) for the Playwright tests"
  apt_install chromium
fi
