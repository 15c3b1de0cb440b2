#!/usr/bin/env bash
# End-to-end test on the Docker engine, through the real make targets and tools, in parts
# (tests/e2e/*.sh, sourced here in the order of `parts` below; E2E_PARTS picks some):
#   tools      generate-compose.sh: N=0, N=3, bad arguments, hardening, `compose config`, the
#              same result under sh (dash) and bash; generate-stack.sh; the k8s config map
#              is current; the Rust target triple follows the host and TARGETARCH
#   images     make docker-image (offline), sizes, non-root, exec-form entrypoint, no config
#   compose    CLIENTS=5: all echoed, exit 0; hardening and health check in docker inspect,
#              clients start once the server is healthy; edited config, same images; echo
#              check (under sh); graceful stop, make docker-compose-logs ends at the down,
#              what make docker-compose-down prints; echo check failures (stopped, wrong,
#              mute server, no network)
#   course     from a copy of the checkout in a directory not called tp0: a plain
#              `compose -f docker-compose-dev.yaml up -d` with and without -p, the course's
#              script names (copied and linked); make docker-compose-up rebuilds an edit
#   swarm      make swarm-up SERVERS=2 CLIENTS=3: ids 1..3, both replicas serve, echo check;
#              config change rolled out with no rebuild; forced rolling update and a killed
#              server task while clients loop: no failed task, no message given up;
#              make swarm-down leaves nothing (and leaves the swarm if it created it)
#   cluster    make cluster-up (3 engines in network namespaces, a registry, a swarm; root):
#              REGISTRY=… make swarm-up, tasks on every node, images from the registry;
#              a partition, a rolling update and a node's power loss while clients loop:
#              nothing lost; make swarm-down and make cluster-down leave the machine as it was
# Parts marked `each` run once per Compose version of E2E_COMPOSE ("v2 v1": every compose
# step under both; step names end in [compose VERSION]); the others run once.
#
# It edits copies of etc/*.ini in a temporary directory (CONFIG_DIR), never etc/ itself, and
# edits sources only in its copy of the checkout.
# It owns the compose project and the swarm stack `tp0` while it runs: whatever runs there
# is taken down. Every wait is bounded; both are taken down on exit, also on failure or
# Ctrl-C. Last line: `N passed, M failed`; exit status 1 if anything failed.
#
# Environment: MAKE (make), COMPOSE (detected), E2E_COMPOSE (COMPOSE alone; v2 means
# COMPOSE_V2, v1 docker-compose, anything else is a compose command), NETCAT_IMAGE
# (tp0-netcat:latest), E2E_PARTS (all), E2E_KEEP=1 keeps the temporary directory (logs,
# configs, the copy) even on success.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"

MAKE=${MAKE:-make}
if [ -z "${COMPOSE:-}" ]; then
    if docker compose version >/dev/null 2>&1; then COMPOSE="docker compose"; else COMPOSE=docker-compose; fi
fi
read -r -a compose <<<"$COMPOSE"
compose_label=compose
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
cleanups=() # functions a part registers, run first on exit
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
step_suffix=
step() {
    step_end
    step_name=$1$step_suffix
    step_t0=$(now_ms)
    echo
    echo "== $step_name"
}
step_end() {
    if [ -n "$step_name" ]; then
        local ms=$(($(now_ms) - step_t0))
        echo "-- $step_name: $(secs "$ms") s"
        summary+=("$(printf '  %-78s %8s s' "$step_name" "$(secs "$ms")")")
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

echo_check() { # echo_check EXPECTED_RESULT EXPECTED_STATUS [ENV=VALUE...]: run it under sh, bounded
    local want=$1 want_rc=$2 out rc=0
    shift 2
    out=$(env "$@" timeout 60 "$posix_sh" tools/echo-check.sh 2>"$work/echo-check.err") || rc=$?
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
    for c in "${cleanups[@]}"; do "$c"; done
    for pid in "${bg_pids[@]}"; do kill "$pid" 2>/dev/null; done
    docker rm -f "$mock" "$idle" >/dev/null 2>&1
    if [ -n "${swarm_started:-}" ]; then
        # stack, network, configs; the swarm too if swarm-up created it
        timeout 150 "$MAKE" --no-print-directory swarm-down STACK_FILE="$stack_file" >/dev/null 2>&1
    fi
    if [ -n "${course_file:-}" ] && [ -f "$course_file" ]; then
        (cd "${course_file%/*}" && timeout 120 "${compose[@]}" -f "$course_file" down -t 1 --remove-orphans) >/dev/null 2>&1
        docker rmi "${edited_server:-}" "${edited_client:-}" >/dev/null 2>&1
    fi
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

echo "e2e: compose = '${E2E_COMPOSE:-$COMPOSE}', netcat image = $NETCAT_IMAGE, work dir = $work"

# the tools must run under POSIX sh: dash where installed (Debian's sh), else sh
posix_sh=$(command -v dash || echo sh)
expect "etc/server.ini and etc/client.ini exist" test -f etc/server.ini -a -f etc/client.ini
if [ ! -f etc/server.ini ] || [ ! -f etc/client.ini ]; then
    finished=1
    exit 1
fi
fresh_config

# ---- parts ------------------------------------------------------------------------------
# One line per part, in the order they run: NAME and how often. `each`: once under every
# Compose version of E2E_COMPOSE (its step names say which); `once`: under the first.
parts=(
    "tools each"  # the generators with no engine, checked by `compose config`
    "images once" # the images serve both orchestrators
    "compose each"
    "course each" # the course's own calls, from a copy of the checkout
    "swarm once"
    "cluster once" # a 3-node test cluster on this machine (root)
)

# E2E_COMPOSE: the versions to run under, e.g. "v2 v1"; v2 is COMPOSE_V2 (make compose-v2),
# v1 is docker-compose. Unset: COMPOSE alone.
composes=()
for version in ${E2E_COMPOSE:-}; do
    case $version in
    v2) composes+=("${COMPOSE_V2:-docker compose}") ;;
    v1) composes+=(docker-compose) ;;
    *) composes+=("$version") ;;
    esac
done
[ "${#composes[@]}" -gt 0 ] || composes=("$COMPOSE")

use_compose() { # COMMAND: the compose every later step and make target uses
    COMPOSE=$1
    export COMPOSE
    read -r -a compose <<<"$COMPOSE"
    compose_version=$("${compose[@]}" version --short 2>/dev/null || echo unknown)
    compose_label="compose ${compose_version#v}"
}

selected() { case " ${E2E_PARTS:-${parts[*]%% *}} " in *" $1 "*) ;; *) return 1 ;; esac; }

for entry in "${parts[@]}"; do
    name=${entry%% *}
    selected "$name" || continue
    if [ "${entry##* }" = each ]; then
        for c in "${composes[@]}"; do
            use_compose "$c"
            step_suffix=" [$compose_label]"
            . "tests/e2e/$name.sh"
        done
    else
        use_compose "${composes[0]}"
        step_suffix=
        . "tests/e2e/$name.sh"
    fi
done
step_end
use_compose "${composes[0]}"

finished=1
