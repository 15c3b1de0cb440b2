#!/bin/sh
# Removes every trace of the test cluster of tools/cluster-up.sh: the nodes' processes
# (dockerd, containerd, shims, containers, fuse-overlayfs), the registry, the mounts under
# CLUSTER_DIR, the containers' cgroups, the namespaces, links and bridge, the iptables rule
# and the directories. POSIX sh. Works from what it finds, not from what cluster-up
# recorded, so also after a node was power-killed or cluster-up was interrupted.
#
#   tools/cluster-down.sh                   (make cluster-down)
#
# Exit status: 0 nothing left (also when there was nothing), 1 something could not be
# removed (named on stderr), 2 not root.
set -eu

tools=$(cd "$(dirname "$0")" && pwd)
# shellcheck source-path=SCRIPTDIR source=lib/cluster.sh
. "$tools/lib/cluster.sh"

need_root
say() { echo "cluster-down: $*" >&2; }

nodes=$(known_nodes)
# in either chain: the host engine may have started or stopped since cluster-up
rule_chain() {
    for chain in DOCKER-USER FORWARD; do
        # shellcheck disable=SC2046 # the rule is several words
        iptables -C $(forward_rule "$chain") 2>/dev/null && echo "$chain" && return 0
    done
    return 1
}
rule_present() { rule_chain >/dev/null; }
if [ -z "$nodes" ] && [ ! -e "$cluster_dir" ] && ! rule_present &&
    ! ip link show "$cluster_bridge" >/dev/null 2>&1; then
    say "no test cluster: nothing to remove"
    exit 0
fi

# ---- processes: a clean stop first (dockerd stops its containers), then SIGKILL ----------
# the pidfile outlives a killed dockerd: trust it only for a process of that node
dockerd_pid() {
    pidfile=$(node_dir "$1")/docker.pid
    [ -f "$pidfile" ] && node_pids "$1" | grep -qx "$(cat "$pidfile")" && cat "$pidfile"
}
for i in $nodes; do
    pid=$(dockerd_pid "$i") && kill -TERM "$pid" 2>/dev/null || true
done
end=$(($(date +%s) + 20))
for i in $nodes; do
    while dockerd_pid "$i" >/dev/null && [ "$(date +%s)" -lt "$end" ]; do
        sleep 0.2
    done
done
for i in $nodes; do
    power_off "$i" || say "node $i: processes still there after SIGKILL: $(node_pids "$i" | tr '\n' ' ')"
done
# by its command line, which names its config file: a pid file could name a reused pid
registry_pids() { pgrep -fx "docker-registry serve $cluster_dir/registry/config.yml" || true; }
for pid in $(registry_pids); do
    kill -KILL "$pid" 2>/dev/null || true
done

# ---- mounts under CLUSTER_DIR (nsfs of the exec-roots, fuse-overlayfs of the data-roots),
# the deepest first; a dead fuse-overlayfs leaves its mount unreachable: detach it then
cluster_mounts() {
    awk -v dir="$cluster_dir" 'index($5, dir "/") == 1 { print length($5), $5 }' /proc/self/mountinfo |
        sort -rn | cut -d' ' -f2- | uniq
}
for m in $(cluster_mounts); do
    umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
done

# ---- cgroups of the containers, namespaces, links, rule ------------------------------------
for i in $nodes; do
    for d in $(node_cgroups "$i"); do
        find "$d" -depth -type d -exec rmdir {} + 2>/dev/null || true
    done
    ip netns delete "$(node_ns "$i")" 2>/dev/null || true
    ip link delete "$(node_veth "$i")" 2>/dev/null || true
done
ip link delete "$cluster_bridge" 2>/dev/null || true
while chain=$(rule_chain); do
    # shellcheck disable=SC2046 # the rule is several words
    iptables -D $(forward_rule "$chain")
done
# never into a file system still mounted below it
[ -n "$(cluster_mounts)" ] || rm -rf --one-file-system "$cluster_dir"

# ---- nothing may be left -----------------------------------------------------------------
left=
for i in $nodes; do
    [ -z "$(node_pids "$i")" ] || left="$left processes of node $i ($(node_pids "$i" | tr '\n' ' '));"
    [ -z "$(node_cgroups "$i")" ] || left="$left cgroups $(node_cgroups "$i" | tr '\n' ' ');"
done
[ -z "$(known_nodes)" ] || left="$left namespaces or links of node(s) $(known_nodes | tr '\n' ' ');"
[ -z "$(cluster_mounts)" ] || left="$left mounts $(cluster_mounts | tr '\n' ' ');"
[ ! -e "$cluster_dir" ] || left="$left directory $cluster_dir;"
[ -z "$(registry_pids)" ] || left="$left registry process $(registry_pids | tr '\n' ' ');"
! ip link show "$cluster_bridge" >/dev/null 2>&1 || left="$left bridge $cluster_bridge;"
! rule_present || left="$left iptables rule $(forward_rule "$(rule_chain)");"
if [ -n "$left" ]; then
    say "could not remove:$left"
    exit 1
fi
say "test cluster removed (node(s) $(echo "$nodes" | tr '\n' ' ')and the registry)"
