#!/usr/bin/env bash
# Makes sure the system tools the project needs are here: java (DynamoDB Local) for `run`,
# plus Debian's chromium (browser tests) and coturn (relay-only calls) for `test` and `bench`,
# and nftables (the browser tests' blocked networks, in network namespaces) for `test`.
# As root it installs what is missing with apt-get; otherwise it names what to install and fails.
set -euo pipefail
need=("$@")
missing_pkgs=()
for tool in "${need[@]}"; do
  case "$tool" in
    java) command -v java >/dev/null 2>&1 || missing_pkgs+=(default-jre-headless) ;;
    chromium) [ -x /usr/bin/chromium ] || missing_pkgs+=(chromium) ;;
    coturn) command -v turnserver >/dev/null 2>&1 || missing_pkgs+=(coturn) ;;
    # nft lives in /usr/sbin, which a non-root PATH often lacks: look there too.
    nftables) command -v nft >/dev/null 2>&1 || [ -x /usr/sbin/nft ] || missing_pkgs+=(nftables) ;;
    *) echo "ensure-tools: unknown tool $tool" >&2; exit 2 ;;
  esac
done
[ ${#missing_pkgs[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "Installing Debian packages: ${missing_pkgs[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # Another apt (unattended upgrades on a fresh machine) may hold dpkg's lock: wait for it
  # instead of failing with "Could not get lock /var/lib/dpkg/lock-frontend".
  wait_lock=(-o DPkg::Lock::Timeout=600)
  apt-get "${wait_lock[@]}" update -qq
  apt-get "${wait_lock[@]}" install -y -qq --no-install-recommends "${missing_pkgs[@]}" >/dev/null
  exit 0
fi
echo "Missing: ${missing_pkgs[*]}. Install them (Debian: sudo apt-get install ${missing_pkgs[*]}) and run again." >&2
exit 1
