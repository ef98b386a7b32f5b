#!/usr/bin/env bash
# Debian packages citypatrol needs beyond Python: installs only what is missing.
set -euo pipefail
# fonts-wqy-microhei: CJK font (synthetic fly-posters, Chinese in the browser tests); chromium: web page e2e tests
packages=(fonts-wqy-microhei chromium)
missing=()
for p in "${packages[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "missing Debian packages: ${missing[*]} (run as root: apt-get install ${missing[*]})" >&2
  exit 1
fi
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
