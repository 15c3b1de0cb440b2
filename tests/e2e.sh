#!/usr/bin/env bash
# End-to-end test on the Docker engine, through the real make targets and tools:
#   generator  tools/generate-compose.sh: N=0, N=3, bad arguments, `compose config`
#   images     make docker-image (offline), sizes, non-root, exec-form entrypoint, no config
#   clients    CLIENTS=5, 5 messages each at 100 ms: all echoed, loop_finished, exit 0
#   config     edited server.ini/client.ini + make docker-compose-up: new values, same images
#   echo       tools/echo-check.sh: success, no published port
#   shutdown   docker stop client1 mid-loop, make docker-compose-down, docker stop server:
#              exit 0, shutdown line, well within the grace (no SIGKILL)
#   failures   echo-check says fail against a stopped server, a wrong and a mute mock
#              server, and no network; it leaves no container behind
#
# It edits copies of etc/*.ini in a temporary directory (CONFIG_DIR), never etc/ itself.
# It owns the compose project `tp0` while it runs: whatever runs there is taken down.
# Every wait is bounded; the project is taken down on exit, also on failure or Ctrl-C.
# Last line: `N passed, M failed`; exit status 1 if anything failed.
#
# Environment: MAKE (make), COMPOSE (detected), NETCAT_IMAGE (tp0-netcat:latest),
# E2E_KEEP=1 keeps the temporary directory (logs, configs) even on success.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"

MAKE=${MAKE:-make}
if [ -z "${COMPOSE:-}" ]; then
    if docker compose version >/dev/null 2>&1; then COMPOSE="docker compose"; else COMPOSE=docker-compose; fi
fi
read -r -a compose <<<"$COMPOSE"
export NETCAT_IMAGE=${NETCAT_IMAGE:-tp0-netcat:latest}
project=tp0
network=${project}_testing_net
dev_file=docker-compose-dev.yaml
mock=tp0-e2e-mock-server
idle=tp0-e2e-idle-peer

work=$(mktemp -d "${TMPDIR:-/tmp}/tp0-e2e.XXXXXX")
chmod 755 "$work"
mkdir -p "$work/etc" "$work/gen"
passed=0
failed=0
bg_pids=()
summary=()
sizes=()
finished=

# ---- helpers ----------------------------------------------------------------------------

now_ms() {
    local t=${EPOCHREALTIME:-}
    if [ -n "$t" ]; then
        t=${t/[.,]/}
        echo $((10#$t / 1000))
    else
        echo $(($(date +%s) * 1000))
    fi
}

secs() { # milliseconds -> "1.234"
    printf '%d.%03d' $(($1 / 1000)) $(($1 % 1000))
}

pass() {
    passed=$((passed + 1))
    echo "PASS  $*"
}

fail() {
    failed=$((failed + 1))
    echo "FAIL  $*"
}

# expect DESCRIPTION COMMAND...: one check
expect() {
    local desc=$1
    shift
    if "$@"; then pass "$desc"; else fail "$desc"; fi
}

# stop_gracefully CONTAINER [NOTE]: `docker stop` must return well within the grace
# (no SIGKILL), the program must exit 0 and log its shutdown.
stop_gracefully() {
    local name=$1 note=${2:-} t0 ms stop_rc=0
    t0=$(now_ms)
    timeout 30 docker stop "$name" >/dev/null || stop_rc=$?
    ms=$(($(now_ms) - t0))
    echo "   docker stop $name${note:+ $note}: $(secs "$ms") s"
    expect "docker stop $name: returns in < 2 s" test "$stop_rc" -eq 0 -a "$ms" -lt 2000
    expect "$name: exit code 0 (not 137)" exit_code_is 0 "$name"
    expect "$name: 'action: shutdown | result: success' logged" has_line "action: shutdown | result: success" "$name"
}

step_name=
step_t0=0
step() {
    step_end
    step_name=$1
    step_t0=$(now_ms)
    echo
    echo "== $step_name"
}
step_end() {
    if [ -n "$step_name" ]; then
        local ms=$(($(now_ms) - step_t0))
        echo "-- $step_name: $(secs "$ms") s"
        summary+=("$(printf '  %-62s %8s s' "$step_name" "$(secs "$ms")")")
        step_name=
    fi
}

# run NAME TIMEOUT COMMAND...: output to $work/NAME.log, shown (tail) only on failure
run() {
    local name=$1 limit=$2
    shift 2
    local rc=0
    timeout "$limit" "$@" >"$work/$name.log" 2>&1 || rc=$?
    if [ "$rc" -ne 0 ]; then
        echo "   '$*' exited $rc; last lines of $work/$name.log:"
        tail -n 25 "$work/$name.log" | sed 's/^/   | /'
    fi
    return "$rc"
}

up() { # up CLIENTS
    run "up-$1-$(now_ms)" 300 "$MAKE" --no-print-directory docker-compose-up CLIENTS="$1" CONFIG_DIR="$work/etc"
}

down() {
    run "down-$(now_ms)" 120 "$MAKE" --no-print-directory docker-compose-down CONFIG_DIR="$work/etc"
}

state() { docker inspect -f "{{$1}}" "$2" 2>/dev/null || echo missing; }
logs_of() { docker logs "$1" 2>&1 || true; }

# wait_until SECONDS COMMAND...: poll every 0.2 s
wait_until() {
    local deadline=$(($(now_ms) + $1 * 1000))
    shift
    until "$@"; do
        [ "$(now_ms)" -lt "$deadline" ] || return 1
        sleep 0.2
    done
}

all_exited() {
    local c
    for c in "$@"; do [ "$(state .State.Status "$c")" = exited ] || return 1; done
}

count_lines() { # count_lines FIXED-STRING TEXT
    grep -cF -- "$1" <<<"$2" || true
}

has_line() { # has_line FIXED-STRING CONTAINER
    grep -qF -- "$1" <<<"$(logs_of "$2")"
}

received_at_least() { # CONTAINER ID N
    [ "$(count_lines "action: receive_message | result: success | client_id: $2 |" "$(logs_of "$1")")" -ge "$3" ]
}

# every message 1..AMOUNT echoed exactly once, then loop_finished
client_done() { # ID AMOUNT
    local id=$1 amount=$2 log n
    log=$(logs_of "client$id")
    for ((n = 1; n <= amount; n++)); do
        if ! grep -qF "action: receive_message | result: success | client_id: $id | msg: [CLIENT $id] Message N°$n" <<<"$log"; then
            echo "   client$id: no receive_message for message $n" >&2
            return 1
        fi
    done
    [ "$(count_lines "action: receive_message | result: success | client_id: $id |" "$log")" -eq "$amount" ] &&
        grep -qF "action: loop_finished | result: success | client_id: $id" <<<"$log"
}

no_fail_in_logs() {
    local c hits=0
    for c in "$@"; do
        if grep -F 'result: fail' <<<"$(logs_of "$c")" | sed "s/^/   $c: /" >&2; then hits=1; fi
    done
    [ "$hits" -eq 0 ]
}

exit_code_is() { [ "$(state .State.ExitCode "$2")" = "$1" ]; }

set_ini() { # FILE KEY VALUE: replace the line `KEY = ...` (keys are unique in both files)
    sed -i -E "s|^([[:space:]]*$2[[:space:]]*=).*|\\1 $3|" "$1"
    grep -qE "^[[:space:]]*$2[[:space:]]*= $3\$" "$1"
}

fresh_config() { # start from the repository's etc/ again
    cp etc/server.ini etc/client.ini "$work/etc/"
    chmod 644 "$work/etc/"*.ini
}

image_id() { docker image inspect -f '{{.Id}}' "$1" 2>/dev/null || echo missing; }

echo_check() { # echo_check EXPECTED_RESULT EXPECTED_STATUS [ENV=VALUE...]: run it, bounded
    local want=$1 want_rc=$2 out rc=0
    shift 2
    out=$(env "$@" timeout 60 tools/echo-check.sh 2>"$work/echo-check.err") || rc=$?
    echo "   echo-check: '$out' (exit $rc)$([ -s "$work/echo-check.err" ] && printf '; stderr: %s' "$(tr '\n' ' ' <"$work/echo-check.err")")"
    [ "$out" = "action: test_echo_server | result: $want" ] && [ "$rc" -eq "$want_rc" ]
}

no_echo_check_leftovers() {
    [ -z "$(docker ps -aq --filter name=tp0-echo-check-)" ]
}

cleanup() {
    local rc=$?
    set +e
    if [ "$rc" -ne 0 ] && [ -z "$finished" ]; then
        fail "aborted (exit $rc) during step: ${step_name:-setup}"
    fi
    step_end
    for pid in "${bg_pids[@]}"; do kill "$pid" 2>/dev/null; done
    docker rm -f "$mock" "$idle" >/dev/null 2>&1
    if [ -f "$dev_file" ]; then
        timeout 120 "${compose[@]}" -p "$project" -f "$dev_file" down -t 1 --remove-orphans >/dev/null 2>&1
        # it points at the temporary config directory, about to go
        rm -f "$dev_file"
    fi
    if [ "$failed" -eq 0 ] && [ -z "${E2E_KEEP:-}" ]; then
        rm -rf "$work"
    else
        echo "logs and configs kept in $work"
    fi
    echo
    echo "image sizes:"
    printf '%s\n' "${sizes[@]}"
    echo "step times:"
    printf '%s\n' "${summary[@]}"
    echo "$passed passed, $failed failed"
    [ "$failed" -eq 0 ] || exit 1
    exit "$rc"
}
trap cleanup EXIT
trap 'echo "interrupted"; exit 130' INT TERM

echo "e2e: compose = '$COMPOSE', netcat image = $NETCAT_IMAGE, work dir = $work"

# ---- generator --------------------------------------------------------------------------
step "generator: N=0, N=3, bad arguments"
expect "etc/server.ini and etc/client.ini exist" test -f etc/server.ini -a -f etc/client.ini
if [ ! -f etc/server.ini ] || [ ! -f etc/client.ini ]; then
    finished=1
    exit 1
fi
fresh_config

gen_ok() { # N: generate and validate with `compose config`
    TP0_CONFIG_DIR="$work/etc" tools/generate-compose.sh "$work/gen/n$1.yaml" "$1" >/dev/null &&
        "${compose[@]}" -p "$project" -f "$work/gen/n$1.yaml" config >"$work/gen/n$1.config" 2>&1
}
services_of() { "${compose[@]}" -p "$project" -f "$work/gen/n$1.yaml" config --services | sort | tr '\n' ' '; }
expect "N=0 passes '$COMPOSE config'" gen_ok 0
expect "N=0 is the server alone" test "$(services_of 0)" = "server "
expect "N=3 passes '$COMPOSE config'" gen_ok 3
expect "N=3 has server client1 client2 client3" test "$(services_of 3)" = "client1 client2 client3 server "
n3=$(cat "$work/gen/n3.yaml")
n3_has() { # LINE...: each line is in the N=3 file
    local line
    for line in "$@"; do grep -qxF -- "$line" <<<"$n3" || return 1; done
}
expect "N=3: container names server, client1..3 and CLI_ID 1..3" n3_has "    container_name: server" \
    "    container_name: client1" "    container_name: client3" "      - CLI_ID=1" "      - CLI_ID=3"
expect "N=3: network testing_net, subnet 172.25.125.0/24" grep -qF "subnet: 172.25.125.0/24" <<<"$n3"
n3_lacks() { ! grep -qE -- "$1" <<<"$n3"; }
expect "N=3: no published ports, no version:, no top-level name:" n3_lacks "^[[:space:]]*ports:|^version:|^name:"
expect "N=3: 4 read-only config mounts" test "$(grep -c '\.ini:/etc/tp0/.*\.ini:ro' <<<"$n3")" -eq 4
expect "N=3: stop_grace_period 2s on all 4 services" test "$(grep -c "stop_grace_period: 2s" <<<"$n3")" -eq 4
expect "N=3: the 3 clients depend on server" test "$(grep -A1 "depends_on:" <<<"$n3" | grep -c -- "- server")" -eq 3

bad_args() { # ARGS...: usage on stderr, exit 2, no file
    local rc=0
    rm -f "$work/gen/bad.yaml"
    TP0_CONFIG_DIR="$work/etc" tools/generate-compose.sh "$@" >/dev/null 2>"$work/gen/bad.err" || rc=$?
    [ "$rc" -eq 2 ] && grep -q '^usage:' "$work/gen/bad.err" && [ ! -e "$work/gen/bad.yaml" ]
}
expect "no arguments -> usage, exit 2" bad_args
expect "only OUTPUT -> usage, exit 2" bad_args "$work/gen/bad.yaml"
expect "N=x -> usage, exit 2" bad_args "$work/gen/bad.yaml" x
expect "N=-1 -> usage, exit 2" bad_args "$work/gen/bad.yaml" -1
expect "N=1.5 -> usage, exit 2" bad_args "$work/gen/bad.yaml" 1.5
expect "N='' -> usage, exit 2" bad_args "$work/gen/bad.yaml" ""
expect "extra argument -> usage, exit 2" bad_args "$work/gen/bad.yaml" 2 3
make_bad_clients() {
    ! "$MAKE" --no-print-directory docker-compose-up CLIENTS=abc CONFIG_DIR="$work/etc" >"$work/gen/make-bad.log" 2>&1 &&
        grep -q '^usage:' "$work/gen/make-bad.log"
}
expect "make docker-compose-up CLIENTS=abc fails with usage" make_bad_clients

# ---- images -----------------------------------------------------------------------------
step "make docker-image (static release build + 3 images, offline)"
docker rm -f "$mock" "$idle" >/dev/null 2>&1 || true
down >/dev/null || true
expect "make docker-image" run docker-image 900 "$MAKE" --no-print-directory docker-image
server_id=$(image_id server:latest)
client_id=$(image_id client:latest)
images=(server:latest client:latest)
[ "$NETCAT_IMAGE" = tp0-netcat:latest ] && images+=("$NETCAT_IMAGE")
for image in "${images[@]}"; do
    bytes=$(docker image inspect -f '{{.Size}}' "$image" 2>/dev/null || echo 0)
    sizes+=("$(printf '  %-22s %6d KiB' "$image" $((bytes / 1024)))")
done
printf 'image sizes:\n'
printf '%s\n' "${sizes[@]}"
image_files() {
    local c
    c=$(docker create "$1") || return 1
    docker export "$c" | tar -t
    docker rm "$c" >/dev/null
}
for bin in server client; do
    expect "$bin image: user 65534:65534" test "$(state .Config.User "$bin:latest")" = "65534:65534"
    expect "$bin image: exec-form entrypoint [/$bin]" test "$(state .Config.Entrypoint "$bin:latest")" = "[/$bin]"
    files=$(image_files "$bin:latest" | grep -vE '^(\.dockerenv|dev/.*|proc/|sys/|etc/|etc/(hosts|hostname|resolv\.conf|mtab))$' | tr '\n' ' ')
    expect "$bin image: only the binary inside, no config file ($files)" test "$files" = "$bin "
done
netcat_tools() {
    docker run --rm --log-driver none "$NETCAT_IMAGE" sh -c "command -v nc && command -v timeout" >/dev/null
}
expect "$NETCAT_IMAGE has sh, nc and timeout" netcat_tools

# ---- (1) five clients -------------------------------------------------------------------
step "(1) CLIENTS=5, 5 messages each at 100ms"
set_ini "$work/etc/client.ini" amount 5
set_ini "$work/etc/client.ini" period 100ms
clients5=(client1 client2 client3 client4 client5)
expect "make docker-compose-up CLIENTS=5" up 5
expect "all 5 clients exited within 60 s" wait_until 60 all_exited "${clients5[@]}"
for i in 1 2 3 4 5; do
    expect "client$i: 5 receive_message lines, loop_finished" client_done "$i" 5
    expect "client$i: exit code 0" exit_code_is 0 "client$i"
done
expect "server still running" test "$(state .State.Running server)" = true
expect "server logged 25 receive_message lines" test \
    "$(count_lines "action: receive_message | result: success | ip: " "$(logs_of server)")" -eq 25
expect "no 'result: fail' in any log" no_fail_in_logs server "${clients5[@]}"
expect "client config line: loop_amount: 5 | loop_period: 100ms" has_line \
    "action: config | result: success | client_id: 3 | server_address: server:12345 | loop_amount: 5 | loop_period: 100ms | log_level: INFO" client3

# ---- (2) configuration without rebuild --------------------------------------------------
step "(2) edited config + make docker-compose-up, no rebuild"
old_server_container=$(state .Id server)
set_ini "$work/etc/client.ini" amount 3
set_ini "$work/etc/client.ini" period 200ms
set_ini "$work/etc/client.ini" level DEBUG
set_ini "$work/etc/server.ini" SERVER_LISTEN_BACKLOG 7
set_ini "$work/etc/server.ini" LOGGING_LEVEL DEBUG
expect "make docker-compose-up CLIENTS=5 (same compose file, edited .ini)" up 5
expect "containers were recreated" test "$(state .Id server)" != "$old_server_container"
expect "all 5 clients exited within 60 s" wait_until 60 all_exited "${clients5[@]}"
expect "server config line: listen_backlog: 7 | logging_level: DEBUG" has_line \
    "action: config | result: success | port: 12345 | listen_backlog: 7 | logging_level: DEBUG" server
for i in 1 5; do
    expect "client$i config line: loop_amount: 3 | loop_period: 200ms | log_level: DEBUG" has_line \
        "action: config | result: success | client_id: $i | server_address: server:12345 | loop_amount: 3 | loop_period: 200ms | log_level: DEBUG" "client$i"
done
for i in 1 2 3 4 5; do
    expect "client$i: 3 messages, loop_finished, exit 0" eval "client_done $i 3 && exit_code_is 0 client$i"
done
expect "image IDs unchanged (server, client)" test \
    "$(image_id server:latest) $(image_id client:latest)" = "$server_id $client_id"
expect "containers run those images" test \
    "$(state .Image server) $(state .Image client1)" = "$server_id $client_id"

# ---- (3a) echo check --------------------------------------------------------------------
step "(3) echo-check against the running server"
expect "echo-check: success, exit 0" echo_check success 0
expect "'docker port server' is empty" test -z "$(docker port server 2>&1)"
expect "no echo-check container left behind" no_echo_check_leftovers

# ---- (4) graceful stop ------------------------------------------------------------------
step "(4) graceful stop: client mid-loop, compose down, server"
fresh_config
set_ini "$work/etc/client.ini" amount 500
set_ini "$work/etc/client.ini" period 150ms
expect "make docker-compose-up CLIENTS=2 (500 messages at 150ms)" up 2
expect "both clients mid-loop (>= 3 messages) within 20 s" wait_until 20 eval \
    'received_at_least client1 1 3 && received_at_least client2 2 3'

stop_gracefully client1
expect "client1: stopped mid-loop (no loop_finished)" eval '! has_line "action: loop_finished" client1'

# `down` removes the containers: follow their logs and read the engine's events instead
since=$(date +%s)
for c in server client2; do
    timeout 60 docker logs -f "$c" >"$work/down-$c.log" 2>&1 &
    bg_pids+=($!)
done
t0=$(now_ms)
expect "make docker-compose-down" down
ms=$(($(now_ms) - t0))
echo "   make docker-compose-down: $(secs "$ms") s"
for pid in "${bg_pids[@]}"; do wait "$pid" || true; done
bg_pids=()
docker events --since "$since" --until "$(($(date +%s) + 1))" --filter type=container \
    --filter "label=com.docker.compose.project=$project" \
    --format '{{.TimeNano}} {{.Action}} {{.Actor.Attributes.name}} {{index .Actor.Attributes "signal"}} {{index .Actor.Attributes "exitCode"}}' \
    >"$work/down-events.log" 2>&1 || true
stopped_cleanly() { # CONTAINER: SIGTERM, then died with 0 within 2 s, never SIGKILL
    local c=$1 term die code
    term=$(awk -v c="$c" '$2 == "kill" && $3 == c && $4 == 15 { print $1; exit }' "$work/down-events.log")
    die=$(awk -v c="$c" '$2 == "die" && $3 == c { print $1; exit }' "$work/down-events.log")
    code=$(awk -v c="$c" '$2 == "die" && $3 == c { print $NF; exit }' "$work/down-events.log")
    if [ -z "$term" ] || [ -z "$die" ]; then
        echo "   $c: no kill(SIGTERM)/die events" >&2
        return 1
    fi
    echo "   $c: SIGTERM -> exit $code in $(secs $(((die - term) / 1000000))) s"
    ! awk -v c="$c" '$2 == "kill" && $3 == c && $4 == 9 { found = 1 } END { exit !found }' "$work/down-events.log" &&
        [ "$code" = 0 ] && [ $(((die - term) / 1000000)) -lt 2000 ]
}
for c in server client2; do
    expect "down: $c exit 0 on SIGTERM within 2 s, no SIGKILL" stopped_cleanly "$c"
    expect "down: $c logged 'action: shutdown | result: success'" \
        grep -qF "action: shutdown | result: success" "$work/down-$c.log"
done
expect "down: no container of project $project left" \
    test -z "$(docker ps -aq --filter "label=com.docker.compose.project=$project")"
network_gone() { ! docker network inspect "$network" >/dev/null 2>&1; }
expect "down: network $network removed" network_gone

expect "make docker-compose-up CLIENTS=0" up 0
expect "CLIENTS=0: the server alone is running" test \
    "$(docker ps --filter "label=com.docker.compose.project=$project" --format '{{.Names}}')" = server
expect "echo-check: success against the lone server" echo_check success 0
# an idle peer that never sends: the server must still close it and exit within its bound
accepts() { count_lines "action: accept_connections | result: success" "$(logs_of server)"; }
idle_connected() { [ "$(accepts)" -gt "$accepts_before" ]; }
accepts_before=$(accepts)
docker run -d --name "$idle" --network "$network" --log-driver none "$NETCAT_IMAGE" \
    sh -c 'sleep 60 | nc server 12345' >/dev/null
expect "an idle peer is connected to the server" wait_until 10 idle_connected
stop_gracefully server "(one idle connection open)"
expect "server: idle connection closed ('action: close_connection')" has_line "action: close_connection" server
docker rm -f "$idle" >/dev/null 2>&1 || true

# ---- (3b) echo check failures -----------------------------------------------------------
step "(3) echo-check: fail when the server is down, wrong or mute"
expect "echo-check: fail, exit 1 (server stopped)" echo_check fail 1
docker run -d --name "$mock" --network "$network" --network-alias server --log-driver none \
    "$NETCAT_IMAGE" nc -ll -p 12345 -e /bin/echo wrong >/dev/null
sleep 1
expect "echo-check: fail, exit 1 (mock 'server' answers 'wrong')" echo_check fail 1
docker rm -f "$mock" >/dev/null
docker run -d --name "$mock" --network "$network" --network-alias server --log-driver none \
    "$NETCAT_IMAGE" nc -ll -p 12345 -e /bin/sleep 60 >/dev/null
sleep 1
t0=$(now_ms)
expect "echo-check: fail, exit 1 (mute mock, ECHO_CHECK_TIMEOUT=2)" echo_check fail 1 ECHO_CHECK_TIMEOUT=2
ms=$(($(now_ms) - t0))
expect "echo-check gave up on the mute server in < 10 s ($(secs "$ms") s)" test "$ms" -lt 10000
docker rm -f "$mock" >/dev/null
expect "make docker-compose-down" down
expect "echo-check: fail, exit 1 (no network)" echo_check fail 1
expect "no echo-check container left behind" no_echo_check_leftovers

finished=1
