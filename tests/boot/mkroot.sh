#!/bin/bash
# Builds (once) the Debian 12 root that the boot tier's nodes boot from: systemd, real
# cloud-init, ifupdown, containerd (for `packages: prebaked`), age (for sealed secrets),
# from Debian's packages through this machine's own apt sources (so a CI behind a mirror
# uses its mirror). Written beside its final place and renamed, so a half-built root is
# never used; an existing root is reused as it is.
#   mkroot.sh DIR
# Callers name DIR after a hash of this script (tests/common: boot_root), so a changed
# image is built anew; roots of other revisions beside it are removed once it is built.
# Image changes the boot tier makes (tests/boot/boot.sh lists those on the container):
# the en_US.UTF-8 locale generated (cloud-init's cc_locale), net-tools (ifupdown's default
# route), containerd and ssh disabled (the first boot starts containerd itself; nothing
# logs in), resolv.conf naming 127.0.0.1 (no lookup leaves the lab's namespaces); fuseiso
# and fusefat, for a seed medium on a kernel without iso9660 or vfat (boot.sh).
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
          iptables conntrack socat ethtool age fuseiso fusefat)
rm -rf "$dest.part"
# This machine's Debian sources when it has a deb822 file for them (mmdebstrap pastes a
# file given as the mirror into the root's sources); else mmdebstrap's default,
# deb.debian.org with updates and security.
sources=()
[[ -r /etc/apt/sources.list.d/debian.sources ]] && sources=(/etc/apt/sources.list.d/debian.sources)
mmdebstrap --variant=apt --include="$(IFS=,; echo "${packages[*]}")" \
  --customize-hook='echo "en_US.UTF-8 UTF-8" > "$1/etc/locale.gen"' \
  --customize-hook='chroot "$1" locale-gen' \
  --customize-hook='chroot "$1" systemctl disable containerd ssh >/dev/null 2>&1 || true' \
  --customize-hook='echo "nameserver 127.0.0.1" > "$1/etc/resolv.conf"' \
  bookworm "$dest.part" "${sources[@]}"
mv "$dest.part" "$dest"
echo "mkroot.sh: $dest built"
for old in "$(dirname "$dest")"/debian-12-*; do
  [[ -d $old && $old != "$dest" && $old != *.part ]] || continue
  # Not while a node still boots from it (its overlay names it as the lower layer).
  grep -qF "lowerdir=$old," /proc/mounts || rm -rf "$old" "$old.lock"
done
