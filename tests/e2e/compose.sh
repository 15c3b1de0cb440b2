# Part of tests/e2e.sh (sourced; uses its helpers): the course's flow on Compose, with the
# hardening, the health check and the graceful stop.
# ---- (1) five clients -------------------------------------------------------------------
step "(1) CLIENTS=5, 5 messages each at 100ms"
set_ini "$work/etc/client.ini" amount 5
set_ini "$work/etc/client.ini" period 100ms
clients5=(client1 client2 client3 client4 client5)
up5_since=$(date +%s)
expect "make docker-compose-up CLIENTS=5" up 5
expect "all 5 clients exited within 60 s" wait_until 60 all_exited "${clients5[@]}"
for i in 1 2 3 4 5; do
    expect "client$i: 5 receive_message lines, loop_finished" client_done "$i" 5
    expect "client$i: exit code 0" exit_code_is 0 "client$i"
done
# what step (2) compares with: a second make docker-compose-up rebuilds nothing
server_id=$(image_id server:latest)
client_id=$(image_id client:latest)
expect "server still running" test "$(state .State.Running server)" = true
expect "server logged 25 receive_message lines" test \
    "$(count_lines "action: receive_message | result: success | ip: " "$(logs_of server)")" -eq 25
expect "no 'result: fail' in any log" no_fail_in_logs server "${clients5[@]}"
expect "client config line: loop_amount: 5 | loop_period: 100ms" has_line \
    "action: config | result: success | client_id: 3 | server_address: server:12345 | loop_amount: 5 | loop_period: 100ms | log_level: INFO" client3

hardened() { # CONTAINER MEMORY: what docker inspect shows of the compose hardening
    local want="true [ALL] [no-new-privileges:true] $2 16 json-file map[max-file:3 max-size:10m]"
    local got
    got=$(state '.HostConfig.ReadonlyRootfs}} {{.HostConfig.CapDrop}} {{.HostConfig.SecurityOpt}} {{.HostConfig.Memory}} {{.HostConfig.PidsLimit}} {{.HostConfig.LogConfig.Type}} {{.HostConfig.LogConfig.Config' "$1")
    [ "$got" = "$want" ] || { echo "   $1: '$got', want '$want'" >&2; return 1; }
}
expect "docker inspect server: read-only, cap_drop ALL, no-new-privileges, 96 MiB, 16 pids, json-file 3x10m" \
    hardened server $((96 * 1024 * 1024))
expect "docker inspect client1: the same, 16 MiB" hardened client1 $((16 * 1024 * 1024))
expect "server is healthy (its health check runs '/server --health-check')" \
    test "$(state .State.Health.Status server) $(state '(index .Config.Healthcheck.Test 1)' server)" = "healthy /server"
docker events --since "$up5_since" --until "$(($(date +%s) + 1))" --filter type=container \
    --filter "label=com.docker.compose.project=$project" --format '{{.TimeNano}} {{.Action}} {{.Actor.Attributes.name}}' \
    >"$work/up5-events.log" 2>&1 || true
clients_waited_for_health() { # the server became healthy before any client started
    local healthy first_client
    healthy=$(awk '$2 == "health_status:" && $3 == "healthy" && $4 == "server" { print $1; exit }' "$work/up5-events.log")
    first_client=$(awk '$2 == "start" && $3 ~ /^client/ { print $1; exit }' "$work/up5-events.log")
    echo "   server healthy -> first client start: $(secs $(((first_client - healthy) / 1000000))) s"
    [ -n "$healthy" ] && [ -n "$first_client" ] && [ "$first_client" -gt "$healthy" ]
}
expect "the clients started only once the server was healthy (docker events)" clients_waited_for_health
health_log_ok() { # the probe passed, and never said unhealthy (exit 1); docker's own
    # timeout (-1) on a loaded host is not the probe's verdict
    local codes
    codes=$(docker inspect -f '{{range .State.Health.Log}}{{.ExitCode}} {{end}}' server)
    echo "   health probe exit codes: $codes"
    grep -qw 0 <<<"$codes" && ! grep -qw 1 <<<"$codes"
}
expect "health probes pass (exit 0), none said unhealthy" health_log_ok
expect "probe traffic: the probes use the status socket, not the clients' port (no line from 127.0.0.1)" eval \
    '! grep -F "ip: 127.0.0.1" <<<"$(logs_of server)" | grep -q .'

# ---- (2) configuration without rebuild --------------------------------------------------
step "(2) edited config + make docker-compose-up: same images"
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
# make docker-compose-logs follows everything until the project is down, and then ends by
# itself, under every Compose version. In a session of its own: the session must be empty after.
setsid timeout 90 "$MAKE" --no-print-directory docker-compose-logs >"$work/follow.log" 2>&1 &
follower=$!
bg_pids+=("$follower")
expect "make docker-compose-logs follows client2 while it loops" wait_until 20 eval \
    "[ \"\$(grep -cF 'client2 | ' \"$work/follow.log\")\" -gt 0 ] && received_at_least client2 2 4"
t0=$(now_ms)
expect "make docker-compose-down" down
ms=$(($(now_ms) - t0))
echo "   make docker-compose-down: $(secs "$ms") s"
follower_gone() { ! kill -0 "$follower" 2>/dev/null; }
expect "make docker-compose-logs ended by itself within 15 s of the down" wait_until 15 follower_gone
follow_rc=0
wait "$follower" || follow_rc=$?
expect "make docker-compose-logs: exit 0 (not killed by its timeout)" test "$follow_rc" -eq 0
expect "make docker-compose-logs showed client2's and the server's shutdown lines" eval \
    "grep -qE '^client2 +\\| .*action: shutdown \\| result: success' '$work/follow.log' &&
     grep -qE '^server +\\| .*action: shutdown \\| result: success' '$work/follow.log'"
expect "make docker-compose-logs left no process (its session is empty)" eval "! pgrep -s $follower >/dev/null"
down_log=$(cat "$(ls -t "$work"/down-[0-9]*.log | head -n 1)")
down_says() { grep -qF -- "$1" <<<"$down_log"; }
for c in server client1 client2; do
    expect "make docker-compose-down printed '$c: exit code 0'" down_says "$c: exit code 0"
done
expect "make docker-compose-down printed the shutdown lines (close_listener, shutdown)" eval \
    'down_says "  " && down_says "action: close_listener | result: success" && [ "$(count_lines "action: shutdown | result: success" "$down_log")" -ge 2 ]'
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
# A mock that is not listening yet also gives "fail": wait for its listener, and check
# that the failure names the mock's fault.
mock_listening() { docker exec "$mock" netstat -ltn 2>/dev/null | grep -q ':12345 '; }
echo_check_said() { grep -qF -- "$1" "$work/echo-check.err"; }
docker run -d --name "$mock" --network "$network" --network-alias server --log-driver none \
    "$NETCAT_IMAGE" nc -ll -p 12345 -e /bin/echo wrong >/dev/null
expect "mock 'server' listening on 12345" wait_until 10 mock_listening
expect "echo-check: fail, exit 1 (mock 'server' answers 'wrong')" echo_check fail 1
expect "echo-check: the failure names the reply 'wrong'" echo_check_said "got 'wrong'"
docker rm -f "$mock" >/dev/null
docker run -d --name "$mock" --network "$network" --network-alias server --log-driver none \
    "$NETCAT_IMAGE" nc -ll -p 12345 -e /bin/sleep 60 >/dev/null
expect "mute mock 'server' listening on 12345" wait_until 10 mock_listening
t0=$(now_ms)
expect "echo-check: fail, exit 1 (mute mock, ECHO_CHECK_TIMEOUT=2)" echo_check fail 1 ECHO_CHECK_TIMEOUT=2
ms=$(($(now_ms) - t0))
# Connected and waited for the reply: a refused connect would fail at once.
expect "echo-check waited its 2 s for the mute server and gave up in < 10 s ($(secs "$ms") s)" \
    test "$ms" -ge 2000 -a "$ms" -lt 10000
docker rm -f "$mock" >/dev/null
expect "make docker-compose-down" down
expect "echo-check: fail, exit 1 (no network)" echo_check fail 1
expect "no echo-check container left behind" no_echo_check_leftovers

