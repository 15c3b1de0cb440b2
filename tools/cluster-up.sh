#!/bin/sh
# Starts a test cluster on this machine: NODES Docker engines, each in a network namespace
# of its own on one bridge, a registry every node can pull from, and a swarm across them
# (node 1 the manager). POSIX sh. tools/cluster-down.sh removes it again.
#
#   tools/cluster-up.sh [NODES]            (make cluster-up NODES=3; default 3)
#
# Prints, on stdout only, the lines to use it (also written to CLUSTER_DIR/env):
#   export DOCKER_HOST=unix:///run/tp0-cluster/node1/docker.sock   (the manager)
#   export REGISTRY=10.77.0.1:5000
#   export SWARM_HOSTS="unix://…node1… unix://…node2… …"           (every node's engine)
#
# The host's own engine and its configuration are not touched. On any failure, or when
# interrupted, what was started so far is removed again (tools/cluster-down.sh).
#
# Environment: TP0_CLUSTER_DIR (/run/tp0-cluster), TP0_CLUSTER_NET (10.77.0: the /24 of
# the bridge), TP0_REGISTRY_PORT (5000).
# Exit status: 0 up, 1 failed (nothing left behind), 2 bad argument, not root, or already up.
set -eu

tools=$(cd "$(dirname "$0")" && pwd)
# shellcheck source-path=SCRIPTDIR source=lib/cluster.sh
. "$tools/lib/cluster.sh"

nodes=${1:-3}
case $nodes in
'' | *[!0-9]* | 0 | ???*)
    echo "$0: NODES must be a number from 1 to 99, not '$nodes'" >&2
    exit 2
    ;;
esac
need_root
for tool in ip nsenter unshare iptables dockerd docker-registry fuse-overlayfs; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "$0: $tool not found (apt-get install iproute2 util-linux iptables docker.io" \
            "docker-registry fuse-overlayfs)" >&2
        exit 2
    fi
done
if [ -e "$cluster_dir" ] || [ -n "$(known_nodes)" ] || ip link show "$cluster_bridge" >/dev/null 2>&1; then
    echo "$0: a test cluster (or what is left of one) exists: run tools/cluster-down.sh first" >&2
    exit 2
fi
# the /24 must be unused: no address, and no route into it other than the default one
if [ -n "$(ip -4 route show match "$cluster_net.0/24" | grep -v '^default')$(ip -4 route show root "$cluster_net.0/24")" ]; then
    echo "$0: $cluster_net.0/24 is in use on this machine: set TP0_CLUSTER_NET to a free /24" >&2
    exit 2
fi
if [ -n "$(ss -Hltn "sport = :$registry_port")" ]; then
    echo "$0: port $registry_port is taken: set TP0_REGISTRY_PORT" >&2
    exit 2
fi

say() { echo "cluster-up: $*" >&2; }
started=
finish() {
    rc=$?
    trap - EXIT INT TERM
    if [ "$rc" -ne 0 ] && [ -n "$started" ]; then
        say "failed (exit $rc): removing what was started"
        "$tools/cluster-down.sh" >&2 || true
    fi
    exit "$rc"
}
trap finish EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# wait_for SECONDS WHAT COMMAND...: until COMMAND succeeds, every 0.2 s, at most SECONDS
wait_for() {
    limit=$1
    end=$(($(date +%s) + limit))
    what=$2
    shift 2
    until "$@" >/dev/null 2>&1; do
        if [ "$(date +%s)" -ge "$end" ]; then
            say "$what: not within $limit s"
            return 1
        fi
        sleep 0.2
    done
}

started=1
mkdir -p "$cluster_dir"
echo "$nodes" >"$cluster_dir/nodes"

# ---- network: bridge, forwarding rule, one namespace per node ----------------------------
ip link add "$cluster_bridge" type bridge
ip addr add "$cluster_net.1/24" dev "$cluster_bridge"
ip link set "$cluster_bridge" up
# shellcheck disable=SC2046 # the rule is several words
iptables -I $(forward_rule)
for i in $(seq 1 "$nodes"); do
    ns=$(node_ns "$i")
    ip netns add "$ns"
    ip link add "$(node_veth "$i")" type veth peer name eth0 netns "$ns"
    ip link set "$(node_veth "$i")" master "$cluster_bridge" up
    ip -n "$ns" addr add "$(node_addr "$i")/24" dev eth0
    ip -n "$ns" link set lo up
    ip -n "$ns" link set eth0 up
    ip -n "$ns" route add default via "$cluster_net.1"
done

# ---- registry: a plain process on the bridge address -------------------------------------
mkdir -p "$cluster_dir/registry/data"
cat >"$cluster_dir/registry/config.yml" <<EOF
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $cluster_dir/registry/data
  delete:
    enabled: true
http:
  addr: $registry
EOF
setsid docker-registry serve "$cluster_dir/registry/config.yml" \
    </dev/null >"$cluster_dir/registry/log" 2>&1 &

# ---- one dockerd per node ------------------------------------------------------------------
for i in $(seq 1 "$nodes"); do
    dir=$(node_dir "$i")
    mkdir -p "$dir/data" "$dir/exec"
    cat >"$dir/daemon.json" <<EOF
{
  "storage-driver": "fuse-overlayfs",
  "mtu": 1400,
  "insecure-registries": ["$registry"],
  "log-driver": "json-file"
}
EOF
    # nsenter --net, not `ip netns exec`: that one remounts /sys and hides the cgroups
    setsid unshare --uts sh -c 'hostname "$0" && exec "$@"' "$(node_ns "$i")" \
        nsenter --net="/run/netns/$(node_ns "$i")" \
        dockerd --config-file "$dir/daemon.json" --data-root "$dir/data" --exec-root "$dir/exec" \
        --pidfile "$dir/docker.pid" -H "$(node_host "$i")" --cgroup-parent "$(node_ns "$i")" \
        </dev/null >"$dir/dockerd.log" 2>&1 &
done
for i in $(seq 1 "$nodes"); do
    if ! wait_for 60 "engine of node $i" docker -H "$(node_host "$i")" version; then
        tail -n 5 "$(node_dir "$i")/dockerd.log" >&2
        exit 1
    fi
done
registry_listens() { [ -n "$(ss -Hltn "src $registry")" ]; }
wait_for 20 "registry on $registry" registry_listens
say "$nodes engines and the registry answer"

# ---- the swarm -------------------------------------------------------------------------------
manager=$(node_host 1)
docker -H "$manager" swarm init --advertise-addr "$(node_addr 1)" --listen-addr "$(node_addr 1):2377" \
    --dispatcher-heartbeat 1s >/dev/null
token=$(docker -H "$manager" swarm join-token -q worker)
for i in $(seq 2 "$nodes"); do
    docker -H "$(node_host "$i")" swarm join --token "$token" --advertise-addr "$(node_addr "$i")" \
        "$(node_addr 1):2377" >/dev/null
done
all_ready() {
    [ "$(docker -H "$manager" node ls --format '{{.Status}}' | grep -c '^Ready$')" -eq "$nodes" ]
}
wait_for 60 "all $nodes nodes Ready" all_ready
say "swarm of $nodes node(s) Ready; manager tp0-node1 ($(node_addr 1))"

hosts=
for i in $(seq 1 "$nodes"); do hosts="$hosts${hosts:+ }$(node_host "$i")"; done
cat >"$cluster_dir/env" <<EOF
export DOCKER_HOST=$manager
export REGISTRY=$registry
export SWARM_HOSTS="$hosts"
EOF
cat "$cluster_dir/env"
