# Part of tests/e2e.sh (sourced; uses its helpers): stack `tp0` on a 3-node test cluster of
# this machine (make cluster-up: three engines in network namespaces, a registry, a swarm).
# Images travel through the registry, tasks run on several nodes, and no message is lost
# through a partition, a rolling update across nodes and a node's power loss; then
# make swarm-down and make cluster-down leave the machine as it was, also after an
# interrupted cluster-up. Needs root. Every docker command here talks to the cluster's
# manager (DOCKER_HOST, restored at the end); the host's engine is not used.

# shellcheck source=tools/lib/cluster.sh
. tools/lib/cluster.sh
# shellcheck source=tests/e2e/swarm-tasks.sh
. tests/e2e/swarm-tasks.sh

cluster_t0=$(now_ms)
cluster_stack=$work/gen/stack-cluster.yaml
cluster_host_before=${DOCKER_HOST-}
# cleanup (tests/e2e.sh) runs these on exit, also on failure or Ctrl-C
cluster_cleanup() {
    if [ -n "$cluster_host_before" ]; then export DOCKER_HOST=$cluster_host_before; else unset DOCKER_HOST; fi
    unset REGISTRY SWARM_HOSTS TP0_CLIENT_CONSTRAINT
    timeout 120 tools/cluster-down.sh >/dev/null 2>&1
}

# machine_state: what the cluster may add to this machine, to compare before and after
machine_state() {
    ip netns list
    ip -o link show | awk -F': ' '{ print $2 }' | grep '^tp0-' || true
    iptables -S DOCKER-USER
    awk -v dir="$cluster_dir" 'index($5, dir) == 1 || index($5, "/run/netns/") == 1 { print $5 }' /proc/self/mountinfo
    # live ones only: this machine's PID 1 reaps the host engine's dead fuse-overlayfs late
    ps -eo pid=,stat=,comm=,args= | awk '$2 !~ /^Z/ && $3 ~ /^(dockerd|containerd|docker-regist|fuse-overlayfs)$/'
    ls -d /sys/fs/cgroup/*/tp0-node* /sys/fs/cgroup/tp0-node* "$cluster_dir" 2>/dev/null || true
}
machine_as_before() { # the difference, if any, in $work/machine-diff
    machine_state >"$work/machine-after" 2>&1
    diff "$work/machine-before" "$work/machine-after" >"$work/machine-diff"
}
machine_as_before_or_say() {
    machine_as_before || { sed 's/^/   | /' "$work/machine-diff" >&2; return 1; }
}

cluster_up() {
    run "cluster-up-$(now_ms)" 120 "$MAKE" --no-print-directory cluster-up NODES=3
}
cluster_down() {
    run "cluster-down-$(now_ms)" 120 "$MAKE" --no-print-directory cluster-down
}
cluster_swarm_up() { # SERVERS CLIENTS
    run "cluster-swarm-up-$(now_ms)" 300 "$MAKE" --no-print-directory swarm-up SERVERS="$1" CLIENTS="$2" \
        CONFIG_DIR="$work/etc" STACK_FILE="$cluster_stack"
}

node_of() { docker node inspect -f '{{.Status.State}}' "tp0-node$1" 2>/dev/null; }
all_nodes_ready() { [ "$(docker node ls --format '{{.Status}}' | grep -c '^Ready$')" -eq 3 ]; }
server_nodes() { docker service ps tp0_server --filter desired-state=running --format '{{.Node}}' | sort -u; }
# replicas_back N: N server tasks running, all on Ready nodes
replicas_back() {
    local running
    running=$(docker service ps tp0_server --filter desired-state=running --format '{{.Node}} {{.CurrentState}}' |
        grep -c ' Running ' || true)
    [ "$running" -eq "$1" ] || return 1
    for n in $(server_nodes); do
        [ "$(docker node inspect -f '{{.Status.State}}' "$n")" = ready ] || return 1
    done
}
# a worker that runs a server replica: its number
server_worker() { server_nodes | sed -n 's/^tp0-node\([2-9]\)$/\1/p' | head -n 1; }

# slot_host SERVICE SLOT: the engine (of those still answering) with the newest container
# of that slot; clients may run on any node
slot_host() {
    local h newest= host=
    for h in $SWARM_HOSTS; do
        local t
        t=$(timeout 5 docker -H "$h" ps -a --filter "name=^tp0_$1\.$2\." --format '{{.CreatedAt}}' 2>/dev/null | sort | tail -n 1)
        if [ -n "$t" ] && [[ "$t" > "$newest" ]]; then newest=$t host=$h; fi
    done
    echo "$host"
}

# max_gap_ms SINCE CONTAINER...: the longest time between two echoes one client received
# (engine timestamps) since SINCE (seconds since the epoch): how long clients went unserved
max_gap_ms() {
    local since=$1 c
    shift
    for c in "$@"; do
        docker logs -t --since "$since" "$c" 2>&1 | grep -F 'receive_message | result: success' |
            awk '{ split(substr($1, 12, 18), t, ":"); ms = (t[1] * 3600 + t[2] * 60 + t[3]) * 1000
                   if (NR > 1 && ms - prev > gap) gap = ms - prev; prev = ms }
                 END { printf "%d\n", gap }'
    done | sort -n | tail -n 1
}
lines_since() { # SINCE FIXED-STRING CONTAINER...: how many such lines they logged since SINCE
    local since=$1 text=$2 c n=0
    shift 2
    for c in "$@"; do n=$((n + $(docker logs --since "$since" "$c" 2>&1 | grep -cF -- "$text" || true))); done
    echo "$n"
}
client_tasks() { local i; for i in 1 2 3; do latest client "$i"; done; }

# ---- a cluster ------------------------------------------------------------------------
step "cluster: make cluster-up NODES=3 (3 engines in network namespaces, registry, swarm)"
machine_state >"$work/machine-before" 2>&1
refused_without_root() { # as nobody: exit 2, the reason on stderr, nothing created
    local err rc=0
    err=$(setpriv --reuid 65534 --regid 65534 --clear-groups tools/cluster-up.sh 2>&1 >/dev/null) || rc=$?
    echo "   as nobody: exit $rc: $err"
    [ "$rc" -eq 2 ] && [[ "$err" == *"needs root"* ]] && [ ! -e "$cluster_dir" ]
}
expect "not root: cluster-up exits 2 and says why" refused_without_root
cleanups+=(cluster_cleanup)
if expect "make cluster-up NODES=3" cluster_up; then
    grep '^export ' "$(ls -t "$work"/cluster-up-*.log | head -n 1)" >"$work/cluster.env"
    # shellcheck disable=SC1091 # written just now
    . "$work/cluster.env"
fi
expect "cluster-up printed DOCKER_HOST, REGISTRY and SWARM_HOSTS" \
    test -n "${DOCKER_HOST:-}" -a -n "${REGISTRY:-}" -a "$(wc -w <<<"${SWARM_HOSTS:-}")" -eq 3
expect "3 nodes Ready, tp0-node1..3, one manager" test \
    "$(docker node ls --format '{{.Hostname}} {{.Status}} {{.ManagerStatus}}' | sort | tr '\n' ' ')" = \
    "tp0-node1 Ready Leader tp0-node2 Ready  tp0-node3 Ready  "

# the rest talks to the cluster's manager only: with no cluster, nothing may run against
# the host's engine
cluster_tests() {
# ---- deploy through the registry ------------------------------------------------------
step "cluster: REGISTRY=$registry make swarm-up SERVERS=4 CLIENTS=3 (more replicas than nodes)"
fresh_config
set_ini "$work/etc/client.ini" amount 5
set_ini "$work/etc/client.ini" period 100ms
expect "REGISTRY=$registry make swarm-up SERVERS=4 CLIENTS=3" cluster_swarm_up 4 3
image_of() { docker service inspect -f '{{.Spec.TaskTemplate.ContainerSpec.Image}}' "tp0_$1" 2>/dev/null; }
from_registry() { # SERVICE: REGISTRY/NAME:<12 hex of the image id>@sha256:<digest>
    local ref
    ref=$(image_of "$1")
    [[ "$ref" == "$registry/$1:"* ]] && [[ "${ref#"$registry/$1:"}" =~ ^[0-9a-f]{12}@sha256:[0-9a-f]{64}$ ]]
}
for s in server client; do
    expect "tp0_$s runs $registry/$s:<image id>@sha256:… (resolved): $(image_of "$s")" from_registry "$s"
done
expect "4 server replicas running within 90 s" wait_until 90 replicas_back 4
expect "server replicas spread over all 3 nodes ($(server_nodes | tr '\n' ' '))" test "$(server_nodes | wc -l)" -eq 3
worker_pulled() { # a worker that has none of its own pulled the server image from the registry
    local h=${SWARM_HOSTS##* } ref
    ref=$(image_of server)
    docker -H "$h" image ls --digests --format '{{.Repository}}@{{.Digest}}' | grep -qxF "$registry/server@${ref#*@}" &&
        ! docker -H "$h" image inspect server:latest >/dev/null 2>&1
}
expect "tp0-node3 pulled the server image from the registry (and has no server:latest)" worker_pulled
# on_slot_node SLOT COMMAND...: COMMAND against the engine of the node that ran that client
on_slot_node() {
    local h
    h=$(slot_host client "$1")
    [ -n "$h" ] || return 1
    shift
    DOCKER_HOST=$h "$@"
}
slot_exited() { [ "$(state .State.Status "$(latest client "$1")")" = exited ]; }
all_clients_exited() { local i; for i in 1 2 3; do on_slot_node "$i" slot_exited "$i" || return 1; done; }
expect "3 client tasks finished within 90 s" wait_until 90 all_clients_exited
for i in 1 2 3; do
    expect "client task $i (on $(on_slot_node "$i" docker info --format '{{.Name}}')): id $i, 5 messages echoed, loop_finished, exit 0" \
        on_slot_node "$i" swarm_client_done "$i" 5
done
logs_from_every_node() { # make swarm-logs reads each node's engine (SWARM_HOSTS)
    run cluster-swarm-logs 60 "$MAKE" --no-print-directory swarm-logs || return 1
    local nodes
    nodes=$(grep -oE '^tp0_(server|client)\.[0-9]+\.[a-z0-9]{6}@tp0-node[1-3] \| ' "$work/cluster-swarm-logs.log" |
        sed 's/.*@//; s/ .*//' | sort -u | tr '\n' ' ')
    echo "   swarm-logs: lines from $nodes"
    [ "$nodes" = "tp0-node1 tp0-node2 tp0-node3 " ] &&
        grep -qF "action: loop_finished | result: success | client_id: 1" "$work/cluster-swarm-logs.log"
}
expect "make swarm-logs: the tasks' lines from all 3 nodes" logs_from_every_node
netcat_ref=$(docker image ls --format '{{.Repository}}:{{.Tag}}' "$registry/tp0-netcat" | head -n 1)
expect "echo-check from the manager's engine, $netcat_ref: success" echo_check success 0 NETCAT_IMAGE="$netcat_ref"
server_tasks() { docker service ps -q tp0_server --filter desired-state=running | sort | tr '\n' ' '; }
tasks_before=$(server_tasks)
expect "make swarm-up again, nothing changed" cluster_swarm_up 4 3
expect "same image references, server tasks not restarted" test "$(server_tasks)" = "$tasks_before"

# ---- faults, clients looping --------------------------------------------------------------
# The clients run on the manager, which no fault touches; the server replicas one per node.
amount=600
set_ini "$work/etc/client.ini" amount "$amount"
set_ini "$work/etc/client.ini" period 50ms

# clients_loop: a fresh run of the 3 clients, each at least 20 echoes in
clients_loop() {
    local i
    for i in 1 2 3; do received_at_least "$(latest client "$i")" "$i" 20 || return 1; done
}
# fault_checks NAME SINCE: every client done with all messages; figures into the summary
fault_checks() {
    local name=$1 since=$2 i tasks
    expect "$name: 3 clients finished within 180 s" wait_until 180 slots_exited client 3
    for i in 1 2 3; do
        expect "$name: client task $i: all $amount messages echoed once, exit 0" swarm_client_done "$i" "$amount"
    done
    expect "$name: no failed client task" no_failed_client_task
    mapfile -t tasks < <(client_tasks)
    lost=$(lines_since "$since" 'receive_message | result: fail' "${tasks[@]}")
    expect "$name: no message given up (lost: $lost)" test "$lost" -eq 0
    resends=$(lines_since "$since" 'result: in_progress' "${tasks[@]}")
    gap=$(max_gap_ms "$((${since%.*} - 1))" "${tasks[@]}")
    echo "   $name: resends $resends, lost $lost, longest wait for an echo $(secs "${gap:-0}") s${3:+, $3}"
    summary+=("  $name: resends $resends, lost $lost, clients unserved ≤ $(secs "${gap:-0}") s${3:+, $3}")
}
# down_after VICTIM SINCE_MS: wait for the manager to see the node down; prints seconds
down_after() {
    if wait_until 30 eval '[ "$(node_of '"$1"')" = down ]'; then secs $(($(now_ms) - $2)); else echo never; fi
}

step "cluster: partition of a node with a server replica for 12 s, clients looping"
export TP0_CLIENT_CONSTRAINT='node.role == manager'
expect "make swarm-up SERVERS=3: clients on the manager loop $amount x 50ms" cluster_swarm_up 3 3
expect "3 server replicas on 3 nodes, 3 clients mid-loop, within 60 s" \
    wait_until 60 eval 'replicas_back 3 && [ "$(server_nodes | wc -l)" -eq 3 ] && clients_loop'
victim=$(server_worker)
since=$(date +%s.%N)
t0=$(now_ms)
ip link set "$(node_veth "$victim")" down
down_s=$(down_after "$victim" "$t0")
echo "   tp0-node$victim cut off; Down after $down_s s"
expect "tp0-node$victim seen Down (after $down_s s)" test "$down_s" != never
sleep "$(((12000 - ($(now_ms) - t0)) / 1000))" # the partition itself: 12 s from the cut
ip link set "$(node_veth "$victim")" up
t1=$(now_ms)
expect "after the heal: all nodes Ready and 3 replicas running within 60 s" \
    wait_until 60 eval 'all_nodes_ready && replicas_back 3'
back_s=$(secs $(($(now_ms) - t1)))
fault_checks "partition" "$since" "node Down after $down_s s, all Ready and replicas back $back_s s after the heal"

step "cluster: rolling update across nodes (service update --force), clients looping"
expect "docker service update --force tp0_client: a fresh client run" run client-rerun 120 \
    docker service update --force --detach=false --quiet tp0_client
expect "3 clients mid-loop within 60 s" wait_until 60 clients_loop
nodes_before=$(server_nodes | tr '\n' ' ')
since=$(date +%s.%N)
t0=$(now_ms)
expect "docker service update --force tp0_server" run cluster-service-update 240 \
    docker service update --force --detach=false --quiet tp0_server
update_s=$(secs $(($(now_ms) - t0)))
nodes_after=$(server_nodes | tr '\n' ' ')
echo "   rolling update of 3 server tasks: $update_s s; on ${nodes_before}before, ${nodes_after}after"
expect "server tasks on at least 2 nodes after the update ($nodes_after)" test "$(wc -w <<<"$nodes_after")" -ge 2
expect "clients still mid-loop after the update" eval '! slots_exited client 3'
fault_checks "rolling update" "$since" "update of 3 tasks across nodes ($nodes_after) $update_s s"

step "cluster: power loss of a node with a server replica, clients looping"
expect "docker service update --force tp0_client: a fresh client run" run client-rerun 120 \
    docker service update --force --detach=false --quiet tp0_client
expect "3 replicas on 3 nodes, 3 clients mid-loop within 60 s" \
    wait_until 60 eval 'replicas_back 3 && clients_loop'
victim=$(server_worker)
since=$(date +%s.%N)
t0=$(now_ms)
expect "power loss of tp0-node$victim: its link down, SIGKILL of every process (dockerd, containerd, shims, containers)" power_off "$victim"
down_s=$(down_after "$victim" "$t0")
expect "tp0-node$victim seen Down (after $down_s s)" test "$down_s" != never
expect "3 replicas running on the live nodes within 60 s" wait_until 60 replicas_back 3
fault_checks "power loss" "$since" "node Down after $down_s s"
unset TP0_CLIENT_CONSTRAINT
}
if [[ "${DOCKER_HOST:-}" == "unix://$cluster_dir/"* ]] && [ -n "${REGISTRY:-}" ]; then
    cluster_tests
else
    fail "no cluster: deploy and fault steps not run"
fi

# ---- remove ---------------------------------------------------------------------------------
step "cluster: make swarm-down, make cluster-down: the machine as before"
expect "make swarm-down (one node dead)" run cluster-swarm-down 150 \
    "$MAKE" --no-print-directory swarm-down STACK_FILE="$cluster_stack"
expect "no service, network or config of stack tp0 left" test -z "$(
    docker service ls -q --filter label=com.docker.stack.namespace=tp0
    docker network ls -q --filter label=com.docker.stack.namespace=tp0
    docker config ls -q --filter label=com.docker.stack.namespace=tp0
)"
expect "make cluster-down" cluster_down
expect "nothing left: no namespace, link, mount, process, cgroup, rule or directory" machine_as_before_or_say

# cluster-up stopped part-way: by a signal it removes what it started; killed outright, it
# leaves that to cluster-down. The signal comes once it has begun making things (its
# nodes file exists), since a warm cluster-up may finish within a second. SIGTERM, as a
# job in the background ignores SIGINT; cluster-up handles both the same way.
interrupted_up() {
    local pid rc=0
    tools/cluster-up.sh 3 >/dev/null 2>&1 &
    pid=$!
    wait_until 30 test -e "$cluster_dir/nodes" || { kill -KILL "$pid"; wait "$pid"; return 1; }
    kill -TERM "$pid"
    wait "$pid" || rc=$?
    [ "$rc" -ne 0 ]
}
expect "cluster-up interrupted (SIGTERM once it has begun): exits non-zero" interrupted_up
expect "... and left nothing behind" eval 'wait_until 30 machine_as_before || machine_as_before_or_say'
expect "cluster-up killed (SIGKILL after 1 s), then make cluster-down" \
    eval '! timeout -s KILL 1 tools/cluster-up.sh 3 >/dev/null 2>&1; cluster_down'
expect "... nothing left" machine_as_before_or_say
cluster_cleanup
cluster_s=$(($(now_ms) - cluster_t0))
expect "the cluster part took $(secs "$cluster_s") s (at most 480)" test "$cluster_s" -le 480000
