#!/usr/bin/env bash
# Make sure Debian's PostgreSQL server binaries are installed; the test suite
# starts (and stops) its own throwaway cluster on a loopback port.
set -euo pipefail
if ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "PostgreSQL is not installed; run as root or: sudo apt-get install postgresql" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq postgresql >/dev/null
# The package starts a cluster of its own; the tests do not use it.
service postgresql stop >/dev/null 2>&1 || true
