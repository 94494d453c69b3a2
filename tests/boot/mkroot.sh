#!/bin/bash
# Builds (once) the Debian 12 root that the boot tier's nodes boot from: systemd, real
# cloud-init, ifupdown, containerd (for `packages: prebaked`), age (for sealed secrets), from Debian's packages
# through this machine's own apt sources. Written beside its final place and renamed, so
# a half-built root is never used; an existing root is reused as it is.
#   mkroot.sh DIR
# Callers name DIR with this script's revision (tests/boot.rs: ROOT), so a changed image
# is built anew rather than an old one reused.
# shellcheck disable=SC2016 # the hooks' $1 is mmdebstrap's, expanded by its shell
set -Eeuo pipefail
dest=${1:?usage: mkroot.sh DIR}
mkdir -p "$(dirname "$dest")"
# One build at a time (tests run in parallel); the others then find it built.
exec 9>"$dest.lock"
flock 9
[[ -d $dest/usr/bin ]] && { echo "mkroot.sh: $dest exists, reused"; exit 0; }
packages=(systemd systemd-sysv dbus cloud-init ifupdown net-tools iproute2 isc-dhcp-client
          locales sudo curl ca-certificates openssh-server containerd runc kmod procps
          iptables conntrack socat ethtool age)
rm -rf "$dest.part"
# No mirror argument: the suite is this machine's, so mmdebstrap takes its apt sources.
mmdebstrap --variant=apt --include="$(IFS=,; echo "${packages[*]}")" \
  --customize-hook='echo "en_US.UTF-8 UTF-8" > "$1/etc/locale.gen"' \
  --customize-hook='chroot "$1" locale-gen' \
  --customize-hook='chroot "$1" systemctl disable containerd ssh >/dev/null 2>&1 || true' \
  --customize-hook='echo "nameserver 127.0.0.1" > "$1/etc/resolv.conf"' \
  bookworm "$dest.part"
mv "$dest.part" "$dest"
echo "mkroot.sh: $dest built"
