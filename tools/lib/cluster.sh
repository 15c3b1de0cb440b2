# shellcheck shell=sh disable=SC2034 # the variables are read by the scripts that source this
# Sourced by tools/cluster-up.sh, tools/cluster-down.sh and the e2e test (POSIX sh): the
# names, addresses and paths of the test cluster, and how to find every process of a node,
# so that what one script creates the other can always find again.
#
# Node i is network namespace tp0-node<i> (its own UTS namespace too, host name
# tp0-node<i>), joined to bridge tp0-br by veth tp0-veth<i>, address NET.(10+i); the
# bridge holds NET.1, where the registry listens. Everything else lives in CLUSTER_DIR.

cluster_dir=${TP0_CLUSTER_DIR:-/run/tp0-cluster}
cluster_net=${TP0_CLUSTER_NET:-10.77.0}
cluster_bridge=tp0-br
registry_port=${TP0_REGISTRY_PORT:-5000}
registry=$cluster_net.1:$registry_port

node_ns() { echo "tp0-node$1"; }
node_veth() { echo "tp0-veth$1"; }
node_addr() { echo "$cluster_net.$((10 + $1))"; }
node_dir() { echo "$cluster_dir/node$1"; }
node_host() { echo "unix://$cluster_dir/node$1/docker.sock"; }

need_root() {
    if [ "$(id -u)" -ne 0 ]; then
        echo "$0: the test cluster needs root (network namespaces, a bridge, iptables, one" \
            "dockerd per node): run it with sudo" >&2
        exit 2
    fi
}

# the one host rule that lets bridged traffic between the nodes pass (FORWARD is DROP
# where a Docker engine runs): in its DOCKER-USER chain, which it evaluates first, or in
# FORWARD on a host without one. forward_rule [CHAIN]
forward_chain() { if iptables -S DOCKER-USER >/dev/null 2>&1; then echo DOCKER-USER; else echo FORWARD; fi; }
forward_rule() { echo "${1:-$(forward_chain)} -i $cluster_bridge -o $cluster_bridge -j ACCEPT"; }

# known_nodes: every node number any trace remains of: a node directory, a namespace, a link
known_nodes() {
    {
        for d in "$cluster_dir"/node*; do [ -d "$d" ] && echo "${d##*/node}"; done
        ip netns list 2>/dev/null | sed -n 's/^tp0-node\([0-9][0-9]*\).*/\1/p'
        ip -o link show 2>/dev/null | sed -n 's/^[0-9]*: tp0-veth\([0-9][0-9]*\)[@:].*/\1/p'
    } | sort -un
}

# node_cgroups N: the cgroup directories of node N's containers (--cgroup-parent), v1 or v2
node_cgroups() {
    for d in /sys/fs/cgroup/tp0-node"$1" /sys/fs/cgroup/*/tp0-node"$1"; do
        [ -d "$d" ] && echo "$d"
    done
}

# node_pids N: every live process of node N: in its network namespace (dockerd, containerd,
# the shims, fuse-overlayfs) or in its containers' cgroups; zombies are dead already (this
# machine's PID 1 reaps them late). The pidfile may outlive dockerd: not read here.
node_pids() {
    {
        [ -e "/run/netns/$(node_ns "$1")" ] && ip netns pids "$(node_ns "$1")" 2>/dev/null
        for d in $(node_cgroups "$1"); do
            find "$d" -name cgroup.procs -exec cat {} + 2>/dev/null
        done
    } | sort -un | while read -r pid; do
        state=$(sed -n 's/.*) \([A-Z]\).*/\1/p' "/proc/$pid/stat" 2>/dev/null)
        [ -n "$state" ] && [ "$state" != Z ] && echo "$pid"
    done
}

# power_off N: node N as a power loss leaves it: its link goes down first (a dead machine
# answers nothing, while its namespaces, kept by their mounts, would still send resets),
# then every process gets SIGKILL at once; repeated while some remain (a shim may fork
# while the first signals land), for at most 10 s
power_off() {
    ip link set "$(node_veth "$1")" down 2>/dev/null || true
    end=$(($(date +%s) + 10))
    pids=$(node_pids "$1")
    while [ -n "$pids" ]; do
        # shellcheck disable=SC2086 # one word per pid
        kill -KILL $pids 2>/dev/null || true
        [ "$(date +%s)" -lt "$end" ] || return 1
        sleep 0.1
        pids=$(node_pids "$1")
    done
}
