#!/usr/bin/env bash
# Make sure Debian's Chromium and ChromeDriver are here for the browser tests of `threadpty web`.
#
# Browsers are never downloaded by a test tool (`playwright install` is not used): the tests drive
# /usr/bin/chromium through Playwright's Python package with executable_path. On a machine that has
# it this installs nothing; otherwise, as root on Debian, it installs the two Debian packages.
# THREADPTY_SKIP_BROWSER=1 skips the install (and the browser tests skip with that message).
set -euo pipefail

say() { echo "browser.sh: $*" >&2; }

if [ "${THREADPTY_SKIP_BROWSER:-}" != "" ] && [ "${THREADPTY_SKIP_BROWSER}" != 0 ]; then
    say "skipped: THREADPTY_SKIP_BROWSER is set"
    exit 0
fi
if [ -x /usr/bin/chromium ]; then
    say "$(/usr/bin/chromium --version 2>/dev/null || echo chromium) ready"
    exit 0
fi
if [ "$(id -u)" != 0 ] || [ ! -f /etc/debian_version ]; then
    say "Debian's chromium is missing and cannot be installed here (needs root on Debian)."
    say "Install chromium (and chromium-driver), or set THREADPTY_SKIP_BROWSER=1 to skip the browser tests."
    exit 1
fi
say "installing chromium and chromium-driver from Debian"
export DEBIAN_FRONTEND=noninteractive
if ! apt-get install -y -qq chromium chromium-driver >/dev/null 2>&1; then
    apt-get update -qq >/dev/null
    apt-get install -y -qq chromium chromium-driver >/dev/null
fi
say "$(/usr/bin/chromium --version 2>/dev/null) ready"
