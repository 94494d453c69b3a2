#!/bin/bash
# The end-to-end lab: each node of a bake as a "machine" on this one host, with real
# containerd, kubelet and kubeadm, running its own unmodified /opt/kubebake/firstboot.sh.
#
#   lab.sh net-up [--bare] LAB GATEWAY/PREFIX NODE=ADDRESS...
#                                                      a switch namespace and one per node
#                                                      (--bare: links only, the node's own
#                                                      network configuration sets them up)
#   lab.sh boot LAB NODE OUT [--kubelet-enabled] [--bundle FILE] [--from DIR]
#                                                      power on (first time: lay rootfs;
#                                                      --bundle: the image carries FILE at
#                                                      /opt/kubebake/bundle.tar and no
#                                                      Kubernetes binary or image;
#                                                      --from: lay OUT/DIR/rootfs, e.g. a
#                                                      worker pool's, on a machine of
#                                                      another name: its hostname is NODE)
#   lab.sh poweroff LAB NODE                           kill everything the node runs
#   lab.sh cni LAB NODE POD_CIDR                       the environment's pod network
#   lab.sh on LAB NODE CMD...                          run CMD inside a running node
#   lab.sh op LAB CMD...                               run CMD in the switch namespace
#   lab.sh lb-up LAB ADDRESS PORT BACKEND...           a load balancer on ADDRESS:PORT in front
#                                                      of each BACKEND's 6443 (see below)
#   lab.sh down LAB                                    power off every node, remove all
#
# The kit a node runs is KUBEBAKE_E2E_DIR's (default /opt/k8s-e2e) when its disk is laid
# (its Kubernetes binaries and CNI plugins) and when its containerd first starts (the
# images imported): a lab may run nodes of several kits, each booted with its own.
#
# A node is: a network namespace LAB-NODE (veth to a bridge in LAB-sw, which has no
# uplink: the spec's addresses only), a mount and UTS namespace whose listed paths are
# bind-mounted from the node's disk ($LAB_ROOT/LAB/NODE/disk, where its rootfs/ is laid
# once), a fresh tmpfs on /run per boot, and a cgroup of its own that holds all its
# processes, so powering off leaves nothing behind.
#
# Stand-ins for what this machine lacks, all here and all applied to the environment,
# never to the baked files:
#   - no systemd: tests/e2e/systemctl (a small service manager for containerd and the
#     kubelet, run the way the packages' units run them);
#   - cgroup v1 without systemd: containerd runs from a copy of the node's config.toml with
#     SystemdCgroup = false and restrict_oom_score_adj = true; the kubelet gets
#     --cgroup-driver=cgroupfs and --cgroup-root=/NODECGROUP on its command line;
#   - no registry: the kit's images are imported into each node's containerd when it first
#     starts (what a pull would have fetched), except on --bundle nodes, whose first boot
#     imports them from the bundle;
#   - (not here: the kit's kubeadm is built with Go 1.27, whose URL parsing fails
#     preflight's HTTPProxyCIDR check; the tier's specs set ignorePreflightErrors for it);
#   - no CNI plugin image: `lab.sh cni` gives the node a bridge + host-local conflist over
#     its podCIDR, with the kit's reference plugins;
#   - a user's load balancer in front of the control planes: `lab.sh lb-up` gives the
#     switch's bridge ADDRESS/24 as a second address and runs Debian's haproxy in the
#     switch namespace, TCP from ADDRESS:PORT to each BACKEND's 6443, a backend in use only
#     while its /readyz answers 200 (checked every second), so machines not yet booted or
#     gone are skipped. Its configuration, pid file and log are in $LAB_ROOT/LAB/; `down`
#     and another `lb-up` stop it.
set -Eeuo pipefail

KIT=${KUBEBAKE_E2E_DIR:-/opt/k8s-e2e}
# tests/e2e/systemctl, run inside the node with this environment, imports this kit's images.
export KUBEBAKE_E2E_DIR=$KIT
LAB_ROOT=${KUBEBAKE_LAB_ROOT:-/var/tmp/kubebake-lab}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# Paths a node owns; everything else is the host's, read-only in spirit.
NODE_DIRS=(/etc/kubernetes /etc/kubebake /opt/kubebake /var/lib/kubelet /var/lib/kubebake /var/lib/etcd
           /var/lib/containerd /etc/containerd /etc/cni /opt/cni /var/lib/cni /var/log/pods
           /var/log/containers /etc/sysctl.d /etc/modules-load.d /etc/systemd/system /var/lib/kblab
           /var/lib/cloud)
NODE_FILES=(/etc/hostname /etc/hosts /etc/resolv.conf /etc/fstab)
# Every cgroup v1 hierarchy: the kubelet wants its cgroup root in each.
mapfile -t CGROUP_HIERARCHIES < <(cd /sys/fs/cgroup && for h in *; do
  [[ $h != unified && -f $h/cgroup.procs && ! -L $h ]] && echo "$h"; done)

die() { echo "lab.sh: $*" >&2; exit 1; }
node_dir() { echo "$LAB_ROOT/$1/$2"; }
cgroup_name() { echo "kblab-$1-$2"; }

net_up() {
  local bare=''
  [[ $1 == --bare ]] && { bare=1; shift; }
  local lab=$1 gw=$2; shift 2
  local sw=$lab-sw prefix=${gw#*/}
  ip netns add "$sw"
  ip -n "$sw" link set lo up
  ip -n "$sw" link add br0 type bridge
  ip -n "$sw" addr add "$gw" dev br0
  ip -n "$sw" link set br0 up
  local i=0 spec name addr
  mkdir -p "$LAB_ROOT/$lab"
  : > "$LAB_ROOT/$lab/hosts"
  for spec in "$@"; do
    name=${spec%%=*} addr=${spec#*=}
    i=$((i + 1))
    ip netns add "$lab-$name"
    ip link add "eth0" netns "$lab-$name" type veth peer name "p$i" netns "$sw"
    ip -n "$sw" link set "p$i" master br0 up
    ip -n "$lab-$name" link set lo up
    echo "$addr $name" >> "$LAB_ROOT/$lab/hosts"
    [[ -z $bare ]] || continue
    ip -n "$lab-$name" addr add "$addr/$prefix" dev eth0
    ip -n "$lab-$name" link set eth0 up
    # The switch has no uplink: a default route only lets service IPs be routed (and
    # DNAT'ed) before anything could leave.
    ip -n "$lab-$name" route add default via "${gw%/*}"
  done
}

# Runs inside the node's new mount and UTS namespaces (and its network namespace).
node_init() {
  local lab=$1 node=$2 dir
  dir=$(node_dir "$lab" "$node")
  local cg h
  cg=$(cgroup_name "$lab" "$node")
  for h in "${CGROUP_HIERARCHIES[@]}"; do
    mkdir -p "/sys/fs/cgroup/$h/$cg"
    if [[ $h == cpuset ]]; then
      cat /sys/fs/cgroup/cpuset/cpuset.cpus > "/sys/fs/cgroup/$h/$cg/cpuset.cpus"
      cat /sys/fs/cgroup/cpuset/cpuset.mems > "/sys/fs/cgroup/$h/$cg/cpuset.mems"
    fi
    echo $$ > "/sys/fs/cgroup/$h/$cg/cgroup.procs"
  done
  local p
  for p in "${NODE_DIRS[@]}"; do
    mkdir -p "$dir/disk$p" "$p"
    mount --bind "$dir/disk$p" "$p"
  done
  for p in "${NODE_FILES[@]}"; do
    [[ -e $p ]] || touch "$p"
    mount --bind "$dir/disk$p" "$p"
  done
  # The node's binaries: the kit's Kubernetes and the stand-in systemctl,
  # over the host's /usr/bin (where the debian-12 profile's packages put them).
  mkdir -p "$dir/usr-bin/upper" "$dir/usr-bin/work"
  mount -t overlay overlay -o "lowerdir=/usr/bin,upperdir=$dir/usr-bin/upper,workdir=$dir/usr-bin/work" /usr/bin
  mount -t tmpfs -o mode=0755 tmpfs /run
  mkdir -p /run/lock /run/netns
  hostname "$node"
  mount --make-rshared /
  echo $$ > "$dir/init.pid"
  exec sleep infinity
}

lay_disk() {
  local lab=$1 node=$2 out=$3 bundle=${4:-} from=${5:-$2} dir
  dir=$(node_dir "$lab" "$node")
  [[ -d $out/$from/rootfs ]] || die "$out/$from/rootfs: no such node or pool in the bake"
  mkdir -p "$dir/disk"
  # Every baked file must land on a path the node owns, or it would silently be lost.
  local f covered p
  while IFS= read -r f; do
    covered=''
    for p in "${NODE_DIRS[@]}" "${NODE_FILES[@]}"; do
      [[ /$f == "$p" || /$f == "$p"/* ]] && covered=1
    done
    [[ -n $covered ]] || die "$node: baked file /$f is outside the paths the lab gives a node"
  done < <(cd "$out/$from/rootfs" && find . -type f -printf '%P\n')
  for p in "${NODE_DIRS[@]}"; do mkdir -p "$dir/disk$p"; done
  mkdir -p "$dir/disk/etc"
  cp -a "$out/$from/rootfs/." "$dir/disk/"
  { echo "127.0.0.1 localhost"; cat "$LAB_ROOT/$lab/hosts"; } > "$dir/disk/etc/hosts"
  echo "nameserver 127.0.0.1" > "$dir/disk/etc/resolv.conf"
  [[ -f $dir/disk/etc/hostname ]] || echo "$node" > "$dir/disk/etc/hostname"
  : > "$dir/disk/etc/fstab"
  mkdir -p "$dir/disk/opt/cni/bin" "$dir/disk/var/lib/kblab/enabled" "$dir/usr-bin/upper"
  install -m 0755 "$HERE/systemctl" "$dir/usr-bin/upper/systemctl"
  if [[ -n $bundle ]]; then
    # As an image baked for `packages: bundle`: the bundle, and no Kubernetes yet.
    ln "$bundle" "$dir/disk/opt/kubebake/bundle.tar" 2>/dev/null || cp "$bundle" "$dir/disk/opt/kubebake/bundle.tar"
    touch "$dir/disk/var/lib/kblab/no-preload"
  else
    # As an image baked for `packages: prebaked`, with the CNI plugins.
    cp -a "$KIT"/cni/bin/. "$dir/disk/opt/cni/bin/"
    local b
    for b in kubeadm kubelet kubectl; do ln -sf "$KIT/bin/$b" "$dir/usr-bin/upper/$b"; done
  fi
}

# Powers the node on: namespaces, enabled services, then first boot (as systemd would
# start kubebake-firstboot.service while /var/lib/kubebake/done is absent).
boot() {
  local lab=$1 node=$2 out=$3 kubelet_enabled='' bundle='' from='' dir
  shift 3
  while (($#)); do
    case $1 in
      --kubelet-enabled) kubelet_enabled=1; shift ;;
      --bundle) bundle=${2:?--bundle FILE}; shift 2 ;;
      --from) from=${2:?--from DIR}; shift 2 ;;
      *) die "boot: unknown option $1" ;;
    esac
  done
  dir=$(node_dir "$lab" "$node")
  [[ -d $dir/disk ]] || lay_disk "$lab" "$node" "$out" "$bundle" "${from:-$node}"
  if [[ -n $kubelet_enabled ]]; then
    # As the apt packages leave an image: both units enabled, started at every boot.
    touch "$dir/disk/var/lib/kblab/enabled/containerd" "$dir/disk/var/lib/kblab/enabled/kubelet"
  fi
  [[ ! -f $dir/init.pid ]] || die "$node is already running"
  setsid nsenter --net="/run/netns/$lab-$node" -- \
    unshare --mount --uts --propagation private --fork -- \
    env KUBEBAKE_LAB_ROOT="$LAB_ROOT" "$HERE/lab.sh" _node-init "$lab" "$node" </dev/null >"$dir/init.log" 2>&1 &
  local i
  for i in $(seq 100); do [[ -s $dir/init.pid ]] && break; sleep 0.1; done
  [[ -s $dir/init.pid ]] || die "$node did not start: $(cat "$dir/init.log")"
  mkdir -p "$dir/disk/var/lib/kblab/log"
  # shellcheck disable=SC2016 # expanded by the node's shell
  on "$lab" "$node" env KBLAB_CGROUP="$(cgroup_name "$lab" "$node")" setsid bash -c '
    for unit in containerd kubelet; do
      [ -f /var/lib/kblab/enabled/$unit ] && systemctl start $unit
    done
    if [ ! -f /var/lib/kubebake/done ]; then
      echo "=== boot $(date -u +%T)" >> /var/lib/kblab/log/firstboot.log
      exec /opt/kubebake/firstboot.sh >> /var/lib/kblab/log/firstboot.log 2>&1
    fi' </dev/null >/dev/null 2>&1 &
}

on() {
  local lab=$1 node=$2 dir; shift 2
  dir=$(node_dir "$lab" "$node")
  [[ -s $dir/init.pid ]] || die "$node is not running"
  # nsenter does not change cgroups: join the node's first, so power-off finds everything.
  # shellcheck disable=SC2016 # expanded by the inner shell
  nsenter --target "$(cat "$dir/init.pid")" --mount --uts --net -- \
    env KBLAB_CGROUP="$(cgroup_name "$lab" "$node")" PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    bash -c 'for h in "${@:2:$1}"; do echo $$ > "/sys/fs/cgroup/$h/$KBLAB_CGROUP/cgroup.procs"; done
             shift $(($1 + 1)); exec "$@"' lab-on "${#CGROUP_HIERARCHIES[@]}" "${CGROUP_HIERARCHIES[@]}" "$@"
}

poweroff() {
  local lab=$1 node=$2 dir cg h pids
  dir=$(node_dir "$lab" "$node")
  cg=$(cgroup_name "$lab" "$node")
  for _ in $(seq 50); do
    pids=$(find "/sys/fs/cgroup/pids/$cg" -name cgroup.procs -exec cat {} + 2>/dev/null || true)
    [[ -n $pids ]] || break
    # shellcheck disable=SC2086
    kill -9 $pids 2>/dev/null || true
    sleep 0.2
  done
  [[ -z $pids ]] || die "$node: processes survived power-off: $pids"
  # The kubelet also mirrors its tree into the cgroup v2 hierarchy.
  for h in "${CGROUP_HIERARCHIES[@]}" unified; do
    [[ -d /sys/fs/cgroup/$h/$cg ]] && find "/sys/fs/cgroup/$h/$cg" -depth -type d -exec rmdir {} + 2>/dev/null
  done
  rm -f "$dir/init.pid"
}

cni() {
  local lab=$1 node=$2 cidr=$3 dir
  dir=$(node_dir "$lab" "$node")
  cat > "$dir/disk/etc/cni/net.d/10-lab.conflist.tmp" <<EOF
{
  "cniVersion": "1.0.0",
  "name": "lab",
  "plugins": [
    {"type": "bridge", "bridge": "cni0", "isGateway": true, "ipMasq": true,
     "ipam": {"type": "host-local", "ranges": [[{"subnet": "$cidr"}]], "routes": [{"dst": "0.0.0.0/0"}]}},
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
EOF
  mv "$dir/disk/etc/cni/net.d/10-lab.conflist.tmp" "$dir/disk/etc/cni/net.d/10-lab.conflist"
}

lb_down() {
  local lab=$1 pid
  pid=$(cat "$LAB_ROOT/$lab/haproxy.pid" 2>/dev/null) || return 0
  # Only a pid that is still haproxy's.
  if [[ $(cat "/proc/$pid/comm" 2>/dev/null) == haproxy ]]; then
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$LAB_ROOT/$lab/haproxy.pid"
}

lb_up() {
  local lab=$1 address=$2 port=$3; shift 3
  (($#)) || die "lb-up: no backend"
  command -v haproxy >/dev/null || die "lb-up: no haproxy (apt-get install haproxy)"
  local sw=$lab-sw dir=$LAB_ROOT/$lab
  [[ -e /run/netns/$sw ]] || die "lb-up: no switch $sw (net-up first)"
  lb_down "$lab"
  mkdir -p "$dir"
  ip -n "$sw" addr replace "$address/24" dev br0
  local cfg=$dir/haproxy.cfg b i=0
  {
    cat <<EOF
global
  maxconn 2000
  log stdout format short daemon

defaults
  mode tcp
  log global
  option tcplog
  option redispatch
  retries 3
  timeout connect 2s
  timeout client 10m
  timeout server 10m
  timeout check 2s

frontend api
  bind $address:$port
  default_backend control-planes

backend control-planes
  option httpchk GET /readyz
  http-check expect status 200
EOF
    for b in "$@"; do
      i=$((i + 1))
      echo "  server cp$i $b:6443 check check-ssl verify none inter 1s fall 2 rise 1"
    done
  } > "$cfg"
  haproxy -c -q -f "$cfg" || die "lb-up: haproxy refuses $cfg"
  # In the foreground of a background job (nsenter execs it: $! is its pid), logging to
  # the file.
  nsenter --net="/run/netns/$sw" -- haproxy -f "$cfg" -db </dev/null >>"$dir/haproxy.log" 2>&1 &
  echo $! > "$dir/haproxy.pid"
  for _ in $(seq 50); do
    nsenter --net="/run/netns/$sw" -- bash -c "echo > /dev/tcp/$address/$port" 2>/dev/null && return 0
    kill -0 "$(cat "$dir/haproxy.pid")" 2>/dev/null || break
    sleep 0.1
  done
  die "lb-up: haproxy does not listen on $address:$port: $(tail -20 "$dir/haproxy.log")"
}

down() {
  local lab=$1 d node
  lb_down "$lab"
  for d in "$LAB_ROOT/$lab"/*/; do
    [[ -d $d/disk ]] || continue
    node=$(basename "$d")
    poweroff "$lab" "$node" || true
  done
  local ns
  for ns in $(ip netns list | awk '{print $1}' | grep "^$lab-" || true); do
    ip netns del "$ns"
  done
  rm -rf "${LAB_ROOT:?}/$lab"
}

[[ $EUID == 0 ]] || die "must run as root"
cmd=${1:-}; shift || true
case $cmd in
  net-up) net_up "$@" ;;
  _node-init) node_init "$@" ;;
  boot) boot "$@" ;;
  poweroff) poweroff "$@" ;;
  on) on "$@" ;;
  op) lab=$1; shift; nsenter --net="/run/netns/$lab-sw" -- "$@" ;;
  cni) cni "$@" ;;
  lb-up) lb_up "$@" ;;
  down) down "$@" ;;
  *) die "usage: see the head of $0" ;;
esac
