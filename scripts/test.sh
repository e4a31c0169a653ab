#!/usr/bin/env bash
# The README's test command, and what CI runs (.ci/run): everything a fresh Debian/Ubuntu machine
# needs, then every package's tests.
#   1. system packages: the syslog klib's tests talk to a real rsyslogd over UDP, TCP and TLS
#      (rsyslog, rsyslog-gnutls) with certificates made by certtool (gnutls-bin), and other tests make
#      theirs with openssl; installed with
#      apt-get (as root, or through sudo) only when missing;
#   2. node packages: npm ci;
#   3. lint: the type-check, typescript-eslint and prettier --check of every project (nx lint);
#   4. the tests, through nx in dependency order (each package is built first). On a terminal,
#      tap's own reporter; otherwise (CI, a log file) plain TAP filtered by scripts/tap-summary.mjs:
#      every test file's result, every failure with its diagnostics, and `N passed, N failed`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

missing=()
command -v rsyslogd >/dev/null 2>&1 || missing+=(rsyslog)
command -v certtool >/dev/null 2>&1 || missing+=(gnutls-bin)
# testkit's makePki and the tls and cloudwatch tests make their certificates with openssl.
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
if ! dpkg-query -W -f='${Status}' rsyslog-gnutls 2>/dev/null | grep -q 'install ok installed'; then missing+=(rsyslog-gnutls); fi
if ((${#missing[@]} > 0)); then
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "test: missing ${missing[*]} and no apt-get: install rsyslog, rsyslog-gnutls and gnutls-bin (certtool) first" >&2
    exit 1
  fi
  sudo=""
  if [[ "$(id -u)" != 0 ]]; then sudo="sudo"; fi
  echo "test: installing ${missing[*]} (apt-get)"
  $sudo env DEBIAN_FRONTEND=noninteractive sh -c "apt-get update -qq && apt-get install -y -qq ${missing[*]} >/dev/null"
fi

node --version
npm --version
npm ci --no-audit --no-fund

# Keep nx non-interactive and local: no daemon, no cloud, no terminal UI.
export NX_DAEMON=false NX_NO_CLOUD=true NX_TUI=false
npx nx run-many -t lint --output-style=stream
if [[ -t 1 ]]; then
  npx nx run-many -t test --output-style=stream
else
  TAP_REPORTER=tap npx nx run-many -t test --output-style=stream 2>&1 | node scripts/tap-summary.mjs
fi
