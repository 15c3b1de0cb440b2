#!/bin/sh
# Checks the running echo server from inside the compose network: a throw-away netcat
# container on that network sends one line to the server and the reply must be that line.
# Nothing is installed on the host and no port is published. POSIX sh: runs the same under
# dash (`sh tools/echo-check.sh`, as the course's harness calls its script) and bash.
#
#   tools/echo-check.sh
#
# Prints exactly one line on stdout and exits accordingly:
#   action: test_echo_server | result: success      (exit 0)
#   action: test_echo_server | result: fail         (exit 1; the reason goes to stderr)
#
# Environment (all optional):
#   ECHO_CHECK_NETWORK   docker network to join        (default tp0_testing_net)
#   ECHO_CHECK_HOST      server name on that network    (default server)
#   ECHO_CHECK_PORT      server port                    (default 12345)
#   ECHO_CHECK_TIMEOUT   seconds allowed for the reply  (default 5)
#   ECHO_CHECK_MESSAGE   line to send                   (default: a unique one)
#   NETCAT_IMAGE         image with busybox `sh`, `nc` and `timeout` (default tp0-netcat:latest,
#                        built offline by `make docker-image`; a stock `busybox` image works too)
set -eu

network=${ECHO_CHECK_NETWORK:-tp0_testing_net}
host=${ECHO_CHECK_HOST:-server}
port=${ECHO_CHECK_PORT:-12345}
wait_s=${ECHO_CHECK_TIMEOUT:-5}
image=${NETCAT_IMAGE:-tp0-netcat:latest}
message=${ECHO_CHECK_MESSAGE:-tp0 echo check $$ $(date +%s)}
name=tp0-echo-check-$$

result() {
    echo "action: test_echo_server | result: $1"
    [ "$1" = success ]
}

fail() {
    echo "echo-check: $*" >&2
    result fail || exit 1
}

cleanup() {
    # the container is --rm, but a killed `docker run` may leave it running
    docker rm -f "$name" >/dev/null 2>&1 || true
}
trap cleanup EXIT
trap 'exit 1' INT TERM

case $port in '' | *[!0-9]*) fail "ECHO_CHECK_PORT is not a number: $port" ;; esac
case $wait_s in '' | 0* | *[!0-9]*) fail "ECHO_CHECK_TIMEOUT is not a positive integer: $wait_s" ;; esac
newline='
'
case $message in *"$newline"*) fail "ECHO_CHECK_MESSAGE must be a single line" ;; esac

command -v docker >/dev/null 2>&1 || fail "docker not found"
if ! docker network inspect "$network" >/dev/null 2>&1; then
    fail "network $network not found (is the compose project up? make docker-compose-up)"
fi
if [ "$image" = tp0-netcat:latest ] && ! docker image inspect "$image" >/dev/null 2>&1; then
    fail "image $image not found (make docker-image)"
fi

# Inside: `timeout` bounds nc (whose -w only bounds the connect); sh stays PID 1 so the
# signal from `timeout` is not ignored the way PID 1 ignores it. nc half-closes after the
# line, the server echoes and closes. Outside: `timeout` bounds docker itself (pull, start).
# shellcheck disable=SC2016 # expanded by the container's sh
script='timeout "$0" nc -w "$0" "$1" "$2"; rc=$?; exit "$rc"'
rc=0
reply=$(printf '%s\n' "$message" |
    timeout "$((wait_s + 20))" docker run --rm -i --name "$name" --network "$network" \
        --log-driver none "$image" sh -c "$script" "$wait_s" "$host" "$port") || rc=$?

if [ "$rc" -ne 0 ]; then
    fail "netcat to $host:$port on $network failed (exit $rc)"
fi
if [ "$reply" != "$message" ]; then
    fail "sent '$message', got '$(printf '%s' "$reply" | head -c 200 | tr -c '[:print:]' '?')'"
fi
result success
