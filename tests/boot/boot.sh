#!/bin/bash
# The boot tier: a node of a bake boots as a systemd container (systemd-nspawn -b) from
# the cached Debian 12 root, with its NoCloud seed in place, in the network namespace
# LAB-NODE that `tests/e2e/lab.sh net-up --bare` made. Real cloud-init lays the files and
# configures the node; systemd starts kubebake's first-boot unit.
#
#   boot.sh start LAB NODE OUT ROOT    power on (first time: an overlay over ROOT, seeded);
#                                      KBBOOT_SYSCTL_READONLY=1 leaves /proc/sys read-only,
#                                      as a stricter container host would; KBBOOT_NO_SEED=1
#                                      boots with no user-data (an image being built);
#                                      KBBOOT_AGE_IDENTITY=FILE puts FILE at
#                                      /etc/kubebake/age.key, as `kubebake image` would;
#                                      KBBOOT_SEED_MEDIUM=FILE seeds from a NoCloud medium
#                                      (seed.iso or seed.img) on a loop device instead
#   boot.sh stop LAB NODE              orderly shutdown (systemd in the container halts)
#   boot.sh exec LAB NODE CMD...       run CMD inside the running container
#   boot.sh down LAB                   stop every container, unmount, remove all
#
# Workarounds for this host, all on the container or the image, never on the baked files:
#   - PID 1 here is not systemd: --register=no --keep-unit, and each container in a cgroup
#     of its own (nspawn puts its payload under the caller's cgroup; two would collide);
#   - ifupdown configures the interface: CAP_NET_ADMIN; per-netns sysctls:
#     SYSTEMD_NSPAWN_API_VFS_WRITABLE=network;
#   - the image has the locale cloud-init's cc_locale wants, net-tools for ifupdown's
#     default route, containerd and ssh disabled, and resolv.conf pointing at 127.0.0.1
#     (tests/boot/mkroot.sh), kept with --resolv-conf=off, so no lookup leaves the
#     namespaces; the lab's node names are added to the container's /etc/hosts;
#   - each container runs on an overlay over the cached root (its disk), its seed in it;
#   - with the e2e kit, its kubeadm, kubelet and kubectl are bound read-only into
#     /usr/local/bin, as an image with `packages: prebaked` would carry them
#     (KBBOOT_NO_KIT=1: not, for an image that gets them otherwise);
#   - /var/lib/containerd is a host directory (overlayfs cannot hold containerd's snapshots);
#   - a seed medium's loop device is bound into the container, and named in cloud-init's
#     datasource_list (ds-identify ignores blkid's labels in a container); on a kernel without
#     the medium's filesystem (no modules: this CI's), /dev/fuse is bound too and the image
#     gets a mount helper (/usr/sbin/mount.iso9660 or mount.vfat) that mounts it with fuseiso
#     or fusefat, which `mount -t auto` runs for the type it finds.
set -Eeuo pipefail

LAB_ROOT=${KUBEBAKE_LAB_ROOT:-/var/tmp/kubebake-lab}
KIT=${KUBEBAKE_E2E_DIR:-/opt/k8s-e2e}
die() { echo "boot.sh: $*" >&2; exit 1; }
node_dir() { echo "$LAB_ROOT/$1/$2"; }
mapfile -t CGROUP_HIERARCHIES < <(cd /sys/fs/cgroup && for h in *; do
  [[ $h != unified && -f $h/cgroup.procs && ! -L $h ]] && echo "$h"; done)

start() {
  local lab=$1 node=$2 out=$3 root=$4 dir
  dir=$(node_dir "$lab" "$node")
  [[ -d $root/usr/bin ]] || die "$root is not a root (tests/boot/mkroot.sh builds it)"
  [[ -f $out/$node/user-data ]] || die "$out/$node has no user-data (a cloud-init node?)"
  [[ ! -s $dir/nspawn.pid ]] || die "$node is running"
  mkdir -p "$dir/upper" "$dir/work" "$dir/merged"
  if ! mountpoint -q "$dir/merged"; then
    mount -t overlay overlay -o "lowerdir=$root,upperdir=$dir/upper,workdir=$dir/work" "$dir/merged"
  fi
  local seed=$dir/merged/var/lib/cloud/seed/nocloud f
  if [[ ! -f $dir/seeded && -z ${KBBOOT_NO_SEED:-} ]]; then
    touch "$dir/seeded"
    if [[ -n ${KBBOOT_SEED_MEDIUM:-} ]]; then
      losetup --find --show --read-only "$KBBOOT_SEED_MEDIUM" > "$dir/loop"
      echo "datasource_list: [ NoCloud, None ]" > "$dir/merged/etc/cloud/cloud.cfg.d/90-kbboot-medium.cfg"
    else
      mkdir -p "$seed"
      for f in user-data meta-data network-config; do
        [[ -f $out/$node/$f ]] && install -m 0600 "$out/$node/$f" "$seed/$f"
      done
    fi
    # The environment's name service: the lab's nodes (lab.sh net-up wrote them).
    cat "$LAB_ROOT/$lab/hosts" >> "$dir/merged/etc/hosts"
    if [[ -n ${KBBOOT_AGE_IDENTITY:-} ]]; then
      install -d -m 0755 "$dir/merged/etc/kubebake"
      install -m 0600 "$KBBOOT_AGE_IDENTITY" "$dir/merged/etc/kubebake/age.key"
    fi
  fi
  # containerd's snapshots cannot live on the overlay root: a directory of the host's.
  mkdir -p "$dir/containerd"
  local binds=("--bind=$dir/containerd:/var/lib/containerd")
  if [[ -x $KIT/bin/kubeadm && -z ${KBBOOT_NO_KIT:-} ]]; then
    for f in kubeadm kubelet kubectl; do binds+=("--bind-ro=$KIT/bin/$f:/usr/local/bin/$f"); done
  fi
  [[ ! -s $dir/loop ]] || medium "$dir" binds
  local cg=kbboot-$lab-$node h
  # shellcheck disable=SC2016 # expanded by the inner shell
  setsid bash -c '
    cg=$1; shift
    for h in '"${CGROUP_HIERARCHIES[*]}"'; do
      mkdir -p "/sys/fs/cgroup/$h/$cg"
      if [ "$h" = cpuset ]; then
        cat /sys/fs/cgroup/cpuset/cpuset.cpus > "/sys/fs/cgroup/$h/$cg/cpuset.cpus"
        cat /sys/fs/cgroup/cpuset/cpuset.mems > "/sys/fs/cgroup/$h/$cg/cpuset.mems"
      fi
      echo $$ > "/sys/fs/cgroup/$h/$cg/cgroup.procs"
    done
    [ -n "${KBBOOT_SYSCTL_READONLY:-}" ] || export SYSTEMD_NSPAWN_API_VFS_WRITABLE=network
    exec "$@"' boot-"$node" "$cg" \
    systemd-nspawn --boot --directory="$dir/merged" --machine="$node" --hostname=localhost \
      --register=no --keep-unit --network-namespace-path="/run/netns/$lab-$node" \
      --capability=CAP_NET_ADMIN --console=read-only --resolv-conf=off "${binds[@]}" \
    </dev/null >>"$dir/console.log" 2>&1 &
  echo $! > "$dir/nspawn.pid"
  # Wait for the container's systemd (nspawn's child) to exist.
  for _ in $(seq 100); do init_pid "$lab" "$node" >/dev/null 2>&1 && return 0; sleep 0.1; done
  die "$node did not start: $(tail -5 "$dir/console.log")"
}

# The seed medium's loop device into the container, with FUSE and a mount helper for its
# filesystem when this kernel has none.
medium() {
  local dir=$1 loop fstype tool
  local -n into=$2
  loop=$(cat "$dir/loop")
  into+=("--bind=$loop")
  fstype=$(blkid -o value -s TYPE "$loop")
  grep -qw "$fstype" /proc/filesystems && return 0
  case $fstype in
    iso9660) tool="fuseiso" ;;
    vfat) tool="fusefat -o ro" ;;
    *) die "$loop: no FUSE mount for $fstype" ;;
  esac
  # shellcheck disable=SC2016 # the helper's own arguments
  printf '#!/bin/sh\n# boot.sh: this kernel has no %s\nexec %s "$1" "$2" >/dev/null\n' "$fstype" "$tool" \
    > "$dir/merged/usr/sbin/mount.$fstype"
  chmod 0755 "$dir/merged/usr/sbin/mount.$fstype"
  into+=("--bind=/dev/fuse")
}

init_pid() {
  local dir pid
  dir=$(node_dir "$1" "$2")
  pid=$(cat "$dir/nspawn.pid" 2>/dev/null) || return 1
  pgrep -P "$pid" -x systemd | head -1 | grep .
}

exec_in() {
  local lab=$1 node=$2 pid; shift 2
  pid=$(init_pid "$lab" "$node") || die "$node is not running"
  nsenter --target "$pid" --mount --uts --ipc --net --pid -- \
    env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin "$@"
}

stop() {
  local lab=$1 node=$2 dir pid
  dir=$(node_dir "$lab" "$node")
  pid=$(cat "$dir/nspawn.pid" 2>/dev/null) || return 0
  # SIGTERM makes nspawn ask the container's systemd for an orderly shutdown.
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$pid" 2>/dev/null; then
    kill -KILL -- "-$pid" 2>/dev/null || true
    sleep 0.5
  fi
  rm -f "$dir/nspawn.pid"
  local cg=kbboot-$lab-$node h
  for h in "${CGROUP_HIERARCHIES[@]}" unified; do
    if [[ -d /sys/fs/cgroup/$h/$cg ]]; then
      find "/sys/fs/cgroup/$h/$cg" -depth -type d -exec rmdir {} + 2>/dev/null || true
    fi
  done
  return 0
}

down() {
  local lab=$1 d node
  for d in "$LAB_ROOT/$lab"/*/; do
    [[ -d $d/upper ]] || continue
    node=$(basename "$d")
    stop "$lab" "$node"
    mountpoint -q "$d/merged" && umount "$d/merged"
    [[ ! -s $d/loop ]] || losetup --detach "$(cat "$d/loop")"
  done
  # The network namespaces and the lab's directory are lab.sh's.
  KUBEBAKE_LAB_ROOT=$LAB_ROOT "$(dirname "${BASH_SOURCE[0]}")/../e2e/lab.sh" down "$lab"
}

[[ $EUID == 0 ]] || die "must run as root"
cmd=${1:-}; shift || true
case $cmd in
  start) start "$@" ;;
  stop) stop "$@" ;;
  exec) exec_in "$@" ;;
  down) down "$@" ;;
  *) die "usage: see the head of $0" ;;
esac
