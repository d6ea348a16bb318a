#!/usr/bin/env bash
# Make sure the command-line tools the tests use are installed; apt-get installs the missing
# ones (and only those), so a fresh Debian/Ubuntu machine needs nothing installed by hand.
# The one place for apt tools: `scripts/ensure_tools.sh docker-compose wrk chromium`.
# An argument is a command that is also its Debian package, or `command=package` when the
# names differ (e.g. `psql=postgresql-client`). Idempotent: does nothing when all are there.
set -euo pipefail

missing_packages=()
for tool in "$@"; do
  command_name=${tool%%=*}
  package=${tool#*=}
  if ! command -v "$command_name" >/dev/null 2>&1; then
    missing_packages+=("$package")
  fi
done
[ ${#missing_packages[@]} -eq 0 ] && exit 0

echo "installing ${missing_packages[*]} (apt-get)..."
if ! command -v apt-get >/dev/null 2>&1; then
  echo "Install ${missing_packages[*]} with your package manager: this script knows apt-get only." >&2
  exit 1
fi
as_root=()
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null 2>&1 || {
    echo "Installing ${missing_packages[*]} needs root: run as root or install sudo." >&2; exit 1; }
  as_root=(sudo)
fi
# Other apt runs may hold the lock for a while (wait for them rather than fail).
apt_get=("${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600)
"${apt_get[@]}" update -qq
"${apt_get[@]}" install -y -qq --no-install-recommends "${missing_packages[@]}"
for tool in "$@"; do
  command -v "${tool%%=*}" >/dev/null 2>&1 || { echo "${tool%%=*} is still missing" >&2; exit 1; }
done
