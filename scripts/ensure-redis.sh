#!/usr/bin/env bash
# Make sure Debian's redis-server binary is installed; the test suite starts
# (and stops) its own throwaway server on a loopback port.
set -euo pipefail
if command -v redis-server >/dev/null 2>&1; then
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "redis-server is not installed; run as root or: sudo apt-get install redis-server" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq redis-server >/dev/null
# The package may start a server of its own; the tests do not use it.
service redis-server stop >/dev/null 2>&1 || true
