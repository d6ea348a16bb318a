#!/usr/bin/env bash
# Install the Debian tools the benchmarks need (wrk: the HTTP load generator) when missing.
# Idempotent: does nothing when they are there already.
set -eu
missing=()
for tool in wrk; do
  command -v "$tool" >/dev/null || missing+=("$tool")
done
[ ${#missing[@]} -eq 0 ] && exit 0
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
echo "installing ${missing[*]}..."
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
