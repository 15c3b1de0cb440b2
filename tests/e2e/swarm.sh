# Part of tests/e2e.sh (sourced; uses its helpers): stack `tp0` on a single-node Docker Swarm
# through make swarm-up / swarm-down: replicas, ids, echo check, a config change rolled out
# with no rebuild, a forced rolling update and a killed server task with no message lost.
# The stack is removed on exit (cleanup), and the swarm left only if swarm-up created it.

swarm_state_before=$(docker info --format '{{.Swarm.LocalNodeState}}' 2>/dev/null || echo unknown)
stack_file=$work/gen/stack-live.yaml
swarm_started=1

swarm_up() { # SERVERS CLIENTS
    run "swarm-up-$(now_ms)" 300 "$MAKE" --no-print-directory swarm-up SERVERS="$1" CLIENTS="$2" \
        CONFIG_DIR="$work/etc" STACK_FILE="$stack_file"
}
swarm_down() {
    run "swarm-down-$(now_ms)" 150 "$MAKE" --no-print-directory swarm-down STACK_FILE="$stack_file"
}
# shellcheck source=tests/e2e/swarm-tasks.sh
. tests/e2e/swarm-tasks.sh

# ---- deploy -----------------------------------------------------------------------------
step "swarm: make swarm-up SERVERS=2 CLIENTS=3 (swarm was '$swarm_state_before')"
down >/dev/null 2>&1 || true # the compose project's bridge network has the same name
fresh_config
set_ini "$work/etc/client.ini" amount 5
set_ini "$work/etc/client.ini" period 100ms
server_id=$(image_id server:latest)
client_id=$(image_id client:latest)
expect "make swarm-up SERVERS=2 CLIENTS=3" swarm_up 2 3
expect "swarm is active" test "$(docker info --format '{{.Swarm.LocalNodeState}}')" = active
expect "3 client tasks finished within 90 s" wait_until 90 slots_exited client 3
for i in 1 2 3; do
    expect "client task $i: id $i, 5 messages echoed, loop_finished, exit 0" swarm_client_done "$i" 5
done
for i in 1 2; do
    expect "server replica $i received messages" logged "$(latest server "$i")" "action: receive_message | result: success"
done
expect "echo-check against the stack: success" echo_check success 0
expect "no 'result: fail' in any task's log" no_fail_in_logs $(stack_containers)
expect "no failed client task" no_failed_client_task
svc_fmt='{{.Spec.EndpointSpec.Mode}} {{.Spec.UpdateConfig.Order}} {{.Spec.TaskTemplate.ContainerSpec.ReadOnly}} {{.Spec.TaskTemplate.ContainerSpec.CapabilityDrop}}'
expect "tp0_server: dnsrr, start-first, read-only, cap_drop ALL" \
    test "$(docker service inspect -f "$svc_fmt" tp0_server)" = "dnsrr start-first true [ALL]"
expect "server task: healthy, 96 MiB, 16 pids" test \
    "$(state '.State.Health.Status}} {{.HostConfig.Memory}} {{.HostConfig.PidsLimit' "$(latest server 1)")" = \
    "healthy $((96 * 1024 * 1024)) 16"

# ---- configuration change ---------------------------------------------------------------
step "swarm: edited etc/*.ini + make swarm-up rolls out, no rebuild"
set_ini "$work/etc/client.ini" amount 3
set_ini "$work/etc/server.ini" SERVER_LISTEN_BACKLOG 7
old_server=$(latest server 1)
expect "make swarm-up again (edited .ini)" swarm_up 2 3
new_config_rolled_out() {
    local i c
    update_completed server || return 1
    for i in 1 2; do
        c=$(latest server "$i")
        [ "$c" != "$old_server" ] && logged "$c" "listen_backlog: 7" || return 1
    done
    for i in 1 2 3; do logged "$(latest client "$i")" "loop_amount: 3" || return 1; done
    slots_exited client 3
}
expect "both server replicas and 3 clients run the new config within 120 s" wait_until 120 new_config_rolled_out
for i in 1 2 3; do
    expect "client task $i: 3 messages, loop_finished, exit 0" swarm_client_done "$i" 3
done
expect "image IDs unchanged (no rebuild)" test \
    "$(image_id server:latest) $(image_id client:latest)" = "$server_id $client_id"

# ---- rolling update and killed task -----------------------------------------------------
step "swarm: rolling update and a killed server task, clients looping: nothing lost"
amount=500
set_ini "$work/etc/client.ini" amount "$amount"
set_ini "$work/etc/client.ini" period 100ms
expect "make swarm-up: clients loop $amount x 100ms" swarm_up 2 3
looping() {
    local i
    update_completed server || return 1
    for i in 1 2 3; do received_at_least "$(latest client "$i")" "$i" 20 || return 1; done
}
expect "3 clients mid-loop, server update done, within 60 s" wait_until 60 looping
t0=$(now_ms)
expect "docker service update --force tp0_server" run "service-update" 180 \
    docker service update --force --detach=false --quiet tp0_server
update_ms=$(($(now_ms) - t0))
echo "   rolling update of 2 server tasks: $(secs "$update_ms") s"
victim=$(docker ps --filter "label=com.docker.swarm.service.name=tp0_server" --format '{{.Names}}' | head -n 1)
expect "clients still mid-loop after the update" eval '! slots_exited client 3'
expect "pause then SIGKILL server task $victim" eval \
    'docker pause "$victim" >/dev/null && sleep 1 && docker kill -s KILL "$victim" >/dev/null'
expect "3 clients finished within 180 s" wait_until 180 slots_exited client 3
for i in 1 2 3; do
    expect "client task $i: all $amount messages echoed once, exit 0" swarm_client_done "$i" "$amount"
done
expect "no failed client task" no_failed_client_task
expect "no 'receive_message | result: fail' (no message given up) in any log" no_given_up_message
resent=0
for c in $(stack_containers); do
    resent=$((resent + $(count_lines "result: in_progress" "$(logs_of "$c")")))
done
figures="sent $((3 * amount)), given up $(grep -hcF 'receive_message | result: fail' <(for c in $(stack_containers); do logs_of "$c"; done) || true), in_progress (retries) $resent, update $(secs "$update_ms") s"
echo "   figures: $figures"
summary+=("  rolling update + killed task: $figures")

# ---- remove -----------------------------------------------------------------------------
step "swarm: make swarm-down"
expect "make swarm-down" swarm_down
stack_gone() {
    local ns=label=com.docker.stack.namespace=tp0
    [ "$(docker info --format '{{.Swarm.LocalNodeState}}')" != active ] || [ -z "$(
        docker service ls -q --filter $ns
        docker network ls -q --filter $ns
        docker config ls -q --filter $ns
    )" ]
}
expect "no service, network or config of stack tp0 left" stack_gone
expect "no container of stack tp0 left" test -z "$(stack_containers)"
expect "swarm state as before the test ($swarm_state_before)" \
    test "$(docker info --format '{{.Swarm.LocalNodeState}}')" = "$swarm_state_before"
swarm_started=
