# Part of tests/e2e.sh (sourced; uses its helpers): the generators and tools, without the
# engine's containers: generate-compose.sh under `sh` (dash) and bash, bad arguments,
# generate-stack.sh, the Rust target triple.
# ---- generator --------------------------------------------------------------------------
step "generator: N=0, N=3, bad arguments, hardening, under sh ($posix_sh) and bash"

gen_ok() { # N: generate (under sh) and validate with `compose config`
    TP0_CONFIG_DIR="$work/etc" "$posix_sh" tools/generate-compose.sh "$work/gen/n$1.yaml" "$1" >/dev/null &&
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
expect "N=3: the 3 clients start once the server is healthy" \
    test "$(grep -A2 "depends_on:" <<<"$n3" | grep -c -- "condition: service_healthy")" -eq 3
expect "N=3: every service hardened (read_only, cap_drop ALL, no-new-privileges, pids_limit)" test \
    "$(grep -cxE '    read_only: true|    cap_drop: \[ALL\]|    security_opt: \["no-new-privileges:true"\]|    pids_limit: [0-9]+' <<<"$n3")" -eq 16
expect "N=3: memory limits 96m (server) and 16m (clients)" test \
    "$(grep -c '^    mem_limit: 96m$' <<<"$n3") $(grep -c '^    mem_limit: 16m$' <<<"$n3")" = "1 3"
expect "N=3: bounded json-file logs on all 4 services" test \
    "$(grep -c 'max-size: "10m"' <<<"$n3") $(grep -c 'max-file: "3"' <<<"$n3")" = "4 4"
expect "N=3: the server's health check is '/server --health-check'" n3_has \
    '      test: ["CMD", "/server", "--health-check", "--config", "/etc/tp0/server.ini"]' "      timeout: 2s"

bad_args() { # ARGS...: usage on stderr, exit 2, no file
    local rc=0
    rm -f "$work/gen/bad.yaml"
    TP0_CONFIG_DIR="$work/etc" "$posix_sh" tools/generate-compose.sh "$@" >/dev/null 2>"$work/gen/bad.err" || rc=$?
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


same_as_bash() { # N: sh and bash write the same file and say the same
    local a b
    a=$(cd "$work/gen" && TP0_CONFIG_DIR="$work/etc" "$posix_sh" "$repo/tools/generate-compose.sh" same.yaml "$1" 2>&1; echo "exit $?"; cat same.yaml)
    b=$(cd "$work/gen" && TP0_CONFIG_DIR="$work/etc" bash "$repo/tools/generate-compose.sh" same.yaml "$1" 2>&1; echo "exit $?"; cat same.yaml)
    [ "$a" = "$b" ]
}
for n in 0 2 007; do
    expect "generate-compose.sh OUT $n: same file and output under $posix_sh and bash" same_as_bash "$n"
done
same_usage() { # ARGS...: sh and bash both refuse with the same usage and exit 2
    local a b
    a=$(TP0_CONFIG_DIR="$work/etc" "$posix_sh" tools/generate-compose.sh "$@" 2>&1; echo "exit $?")
    b=$(TP0_CONFIG_DIR="$work/etc" bash tools/generate-compose.sh "$@" 2>&1; echo "exit $?")
    [ "$a" = "$b" ] && [ "${a##*$'\n'}" = "exit 2" ]
}
expect "generate-compose.sh with N=x: same usage, exit 2 under $posix_sh and bash" same_usage "$work/gen/x.yaml" x
expect "generate-compose.sh with no arguments: same usage, exit 2 under $posix_sh and bash" same_usage

# ---- stack generator, Kubernetes config map ------------------------------------------------
step "generate-stack.sh and generate-k8s-config.sh under $posix_sh"
stack_gen() { # CLIENTS SERVERS
    TP0_CONFIG_DIR="$work/etc" "$posix_sh" tools/generate-stack.sh "$work/gen/stack.yaml" "$1" "$2" >/dev/null
}
expect "stack with 3 clients, 2 servers is written" stack_gen 3 2
stack=$(cat "$work/gen/stack.yaml" 2>/dev/null || true)
stack_has() { local line; for line in "$@"; do grep -qxF -- "$line" <<<"$stack" || return 1; done; }
expect "stack: dnsrr, 2 replicas, start-first one at a time, overlay attachable" stack_has \
    "      endpoint_mode: dnsrr" "      replicas: 2" "        order: start-first" "        parallelism: 1" \
    "    driver: overlay" "    attachable: true"
expect "stack: client ids from the task slot, restarted only on failure" stack_has \
    "      - CLI_ID={{.Task.Slot}}" "        condition: on-failure" "      replicas: 3"
expect "stack: no container_name, build, restart or depends_on" \
    eval '! grep -qE "^ +(container_name|build|restart|depends_on):" <<<"$stack"'
expect "stack: config names carry the content checksum" stack_has \
    "  server_ini_$(cksum <"$work/etc/server.ini" | awk '{ print $1 "_" $2 }'):"
expect "stack: server replicas spread over the nodes, as a preference (no max_replicas_per_node)" eval \
    'stack_has "        preferences:" "          - spread: node.id" && ! grep -qE "^ +max_replicas_per_node:" <<<"$stack"'
constrained_clients() {
    TP0_CLIENT_CONSTRAINT='node.role == manager' TP0_CONFIG_DIR="$work/etc" "$posix_sh" tools/generate-stack.sh \
        "$work/gen/stack-constrained.yaml" 3 2 >/dev/null &&
        grep -qxF '        constraints: ["node.role == manager"]' "$work/gen/stack-constrained.yaml" &&
        ! grep -qF 'constraints:' <<<"$stack"
}
expect "stack: TP0_CLIENT_CONSTRAINT places the clients, none by default" constrained_clients
stack_bad() { ! TP0_CONFIG_DIR="$work/etc" "$posix_sh" tools/generate-stack.sh "$work/gen/bad.yaml" "$@" 2>/dev/null; }
expect "stack: 0 servers, 'x' clients, a missing argument and a quote in TP0_CLIENT_CONSTRAINT are refused" \
    eval 'stack_bad 3 0 && stack_bad x 2 && stack_bad 3 && TP0_CLIENT_CONSTRAINT="a\"b" stack_bad 3 2'
k8s_config_current() {
    "$posix_sh" tools/generate-k8s-config.sh "$work/gen/configmap.yaml" && cmp -s "$work/gen/configmap.yaml" deploy/k8s/configmap.yaml
}
expect "deploy/k8s/configmap.yaml is generated from etc/ and up to date" k8s_config_current

# ---- Rust target -------------------------------------------------------------------------
step "Rust target triple: from the host, and from Docker's TARGETARCH"
host_triple=$(rustc -vV 2>/dev/null | sed -n 's/^host: //p')
expect "make rust-target prints rustc's host ($host_triple)" \
    test "$("$MAKE" --no-print-directory -s rust-target)" = "$host_triple"
printf '#!/bin/sh\necho "rustc 1.95.0"\necho "host: aarch64-unknown-linux-gnu"\n' >"$work/fake-rustc"
chmod +x "$work/fake-rustc"
expect "an ARM host's rustc gives aarch64-unknown-linux-gnu" \
    test "$(RUSTC="$work/fake-rustc" "$MAKE" --no-print-directory -s rust-target)" = aarch64-unknown-linux-gnu
expect "TARGETARCH amd64 -> x86_64, arm64 -> aarch64 (Dockerfile.multistage)" test \
    "$("$posix_sh" tools/rust-target.sh amd64) $("$posix_sh" tools/rust-target.sh arm64)" = \
    "x86_64-unknown-linux-gnu aarch64-unknown-linux-gnu"
expect "an unknown TARGETARCH is refused (exit 2)" eval '"$posix_sh" tools/rust-target.sh mips 2>/dev/null; [ $? -eq 2 ]'
expect "Dockerfile.multistage names no fixed architecture" \
    eval '! grep -v "^#" containers/Dockerfile.multistage | grep -q x86_64'
