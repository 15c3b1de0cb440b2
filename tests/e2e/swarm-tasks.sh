# Sourced by the swarm parts of tests/e2e.sh (swarm.sh, cluster.sh): the tasks of stack
# `tp0` as the engine DOCKER_HOST names sees them (its own containers), and what a client
# task must have logged to count as done.

# latest SERVICE SLOT: the newest container of that task slot ("" if none yet)
latest() { docker ps -a --last 1 --filter "name=^tp0_$1\.$2\." --format '{{.Names}}'; }
slots_exited() { # SERVICE N: the newest container of every slot 1..N has exited
    local i c
    for ((i = 1; i <= $2; i++)); do
        c=$(latest "$1" "$i")
        [ -n "$c" ] && [ "$(state .State.Status "$c")" = exited ] || return 1
    done
}
stack_containers() { docker ps -a --filter label=com.docker.stack.namespace=tp0 --format '{{.Names}}'; }
update_completed() { # SERVICE: its last update (if any) has completed
    local s
    s=$(docker service inspect -f '{{if .UpdateStatus}}{{.UpdateStatus.State}}{{else}}none{{end}}' "tp0_$1" 2>/dev/null)
    [ "$s" = completed ] || [ "$s" = none ]
}
logged() { # CONTAINER FIXED-STRING
    grep -qF -- "$2" <<<"$(logs_of "$1")"
}

# a task's messages: every one echoed exactly once, then loop_finished, exit 0
swarm_client_done() { # SLOT AMOUNT
    local c log n
    c=$(latest client "$1")
    log=$(logs_of "$c")
    for ((n = 1; n <= $2; n++)); do
        if ! grep -qF "action: receive_message | result: success | client_id: $1 | msg: [CLIENT $1] Message N°$n" <<<"$log"; then
            echo "   $c: no receive_message for message $n" >&2
            return 1
        fi
    done
    [ "$(count_lines "action: receive_message | result: success | client_id: $1 |" "$log")" -eq "$2" ] &&
        grep -qF "action: loop_finished | result: success | client_id: $1" <<<"$log" &&
        exit_code_is 0 "$c"
}
no_failed_client_task() {
    ! docker service ps tp0_client --format '{{.Name}} {{.CurrentState}} {{.Error}}' | grep -E 'Failed|Rejected' >&2
}
no_given_up_message() { # no container of the stack logged a message as given up
    local c hits=0
    for c in $(stack_containers); do
        if grep -F 'receive_message | result: fail' <<<"$(logs_of "$c")" | sed "s/^/   $c: /" >&2; then hits=1; fi
    done
    [ "$hits" -eq 0 ]
}
