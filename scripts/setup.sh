#!/usr/bin/env bash
# `npm run setup`, the README's first step: the Debian/Ubuntu packages the tests use (with apt-get, as root
# or through sudo), then the pinned npm dependencies (npm install, from the lockfile).
#
#   git               the workspaces' repositories (the sidecar runs git)
#   ripgrep           the engine's grep and glob tools (it would try to download rg otherwise)
#   util-linux        setpriv: the containment suite drops from root to the image's uid with it
#   openssl           the Kubernetes suites' test certificates (test/k8s)
#   chromium, firefox-esr, fonts-dejavu-core
#                     the /ui browser tests (test/browser; puppeteer-core drives Debian's browsers)
#
# Extra package names given as arguments are installed too (.ci/run adds the image smoke test's).
# Without root, sudo or apt-get it says what it could not install and how, and goes on: the suites that
# need a missing package then skip with that line (npm test still passes), except under CI=true.
set -uo pipefail
cd "$(dirname "$0")/.."

packages=(git ripgrep util-linux openssl chromium firefox-esr fonts-dejavu-core "$@")
installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'ok installed'; }

missing=()
if command -v dpkg-query >/dev/null; then
  for p in "${packages[@]}"; do installed "$p" || missing+=("$p"); done
fi

status=0
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    as_root=()
  elif command -v sudo >/dev/null; then
    as_root=(sudo)
  else
    as_root=(none)
  fi
  if [ "${as_root[*]}" = none ] || ! command -v apt-get >/dev/null; then
    echo "setup: could not install ${missing[*]} (needs apt-get and root or sudo); as root: apt-get install -y ${missing[*]}" >&2
    status=1
  else
    echo "setup: installing ${missing[*]} with apt-get"
    apt() { "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get "$@"; }
    apt update -qq >/dev/null 2>&1 || echo "setup: apt-get update failed; trying the package lists there are" >&2
    if ! apt install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; then
      # One at a time, to install what can be and name what cannot (e.g. firefox-esr outside Debian).
      failed=()
      for p in "${missing[@]}"; do apt install -y -qq --no-install-recommends "$p" >/dev/null 2>&1 || failed+=("$p"); done
      if [ ${#failed[@]} -gt 0 ]; then
        echo "setup: could not install ${failed[*]} with apt-get; the tests that need them will say so" >&2
        status=1
      fi
    fi
  fi
fi

# `npm install` rather than `npm ci`: this registry mirror omits other platforms' optional packages from
# the lockfile, which `npm ci` then rejects. Every version is pinned in package.json and the lockfile.
npm install --no-audit --no-fund --loglevel=error || exit 1
node_modules/.bin/bun --version >/dev/null || exit 1
node_modules/.bin/opencode --version >/dev/null || exit 1

# Only CI needs every package; a newcomer's run goes on (npm test names what is missing).
if [ "$status" != 0 ] && [ "${CI:-}" = true ]; then exit 1; fi
exit 0
