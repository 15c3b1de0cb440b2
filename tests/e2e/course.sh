# Part of tests/e2e.sh (sourced; uses its helpers): the course's own calls, from a copy of the
# checkout in a directory that is not called tp0: generate, then a plain `compose -f ... up -d`
# with and without `-p tp0`, the scripts under the course's names (copied and linked), and
# make docker-compose-up running what the code is now after a log line is edited (in the copy).
# ---- the copy ---------------------------------------------------------------------------
course_copy=$work/course/mi-tp0-copia
if [ ! -d "$course_copy" ]; then
    mkdir -p "$course_copy/target"
    # tracked and new files, as a fresh clone would have them (plus what is not committed yet)
    git ls-files -co --exclude-standard -z | tar -c --null -T - | tar -x -C "$course_copy"
    # the static build, so that cargo in the copy is incremental as it is in a checkout
    triple=$(sh tools/rust-target.sh)
    [ ! -d "target/$triple" ] || cp -a "target/$triple" "$course_copy/target/"
    # the static busybox is fetched once and not committed
    mkdir -p "$course_copy/containers/netcat/build"
    cp containers/netcat/build/busybox "$course_copy/containers/netcat/build/" 2>/dev/null || true
fi
course_file=$course_copy/docker-compose-dev.yaml
in_copy=(env -C "$course_copy") # a command, not a function: `run` calls it through timeout
network_exists() { docker network inspect "$network" >/dev/null 2>&1; }


# course_way NAME GENERATOR CHECKER [-p tp0]: generate with GENERATOR, a plain up -d, the
# echo check with CHECKER; GENERATOR and CHECKER are the course's names at the copy's root
course_way() {
    local label=$1 generator=$2 checker=$3 out ours rc=0
    shift 3
    out=$("${in_copy[@]}" "$posix_sh" "$generator" docker-compose-dev.yaml 2 2>&1) || rc=$?
    cp "$course_file" "$work/course/by-course-name.yaml"
    ours=$("${in_copy[@]}" "$posix_sh" tools/generate-compose.sh docker-compose-dev.yaml 2 2>&1)
    expect "$label: $generator exit 0, says what tools/generate-compose.sh says ('$out')" \
        test "$rc" -eq 0 -a "$out" = "$ours"
    expect "$label: $generator wrote the same file as tools/generate-compose.sh" \
        cmp -s "$course_file" "$work/course/by-course-name.yaml"
    expect "$label: $COMPOSE $* -f docker-compose-dev.yaml up -d" \
        run "course-up-$(now_ms)" 180 "${in_copy[@]}" "${compose[@]}" "$@" -f docker-compose-dev.yaml up -d
    expect "$label: network $network exists" network_exists
    expect "$label: the containers belong to project $project" test \
        "$(state '(index .Config.Labels "com.docker.compose.project")' server)" = "$project"
    expect "$label: server healthy within 30 s" wait_until 30 eval \
        '[ "$(state .State.Health.Status server)" = healthy ]'
    local check_out check_rc=0 tool_out tool_rc=0
    check_out=$("${in_copy[@]}" timeout 60 "$posix_sh" "$checker" 2>&1) || check_rc=$?
    tool_out=$("${in_copy[@]}" timeout 60 "$posix_sh" tools/echo-check.sh 2>&1) || tool_rc=$?
    echo "   $checker: '$check_out' (exit $check_rc)"
    expect "$label: sh $checker: success, exit 0" \
        test "$check_out" = "action: test_echo_server | result: success" -a "$check_rc" -eq 0
    expect "$label: sh tools/echo-check.sh says the same" test "$tool_out $tool_rc" = "$check_out $check_rc"
    expect "$label: down" run "course-down-$(now_ms)" 120 \
        "${in_copy[@]}" "${compose[@]}" -f docker-compose-dev.yaml down -t 1 --remove-orphans
    expect "$label: no container of project $project left" \
        test -z "$(docker ps -aq --filter "label=com.docker.compose.project=$project")"
}

step "course's calls in a copy: plain up -d (no -p, -p tp0), generar/validar scripts"
docker rm -f "$mock" "$idle" >/dev/null 2>&1 || true
down >/dev/null || true
rm -f "$course_copy/generar-compose.sh" "$course_copy/validar-echo-server.sh"
cp "$course_copy/tools/generate-compose.sh" "$course_copy/generar-compose.sh"
ln -s tools/echo-check.sh "$course_copy/validar-echo-server.sh"
course_way "copied generator, linked check, no -p" generar-compose.sh validar-echo-server.sh
rm -f "$course_copy/generar-compose.sh" "$course_copy/validar-echo-server.sh"
ln -s tools/generate-compose.sh "$course_copy/generar-compose.sh"
cp "$course_copy/tools/echo-check.sh" "$course_copy/validar-echo-server.sh"
course_way "linked generator, copied check, -p tp0" generar-compose.sh validar-echo-server.sh -p "$project"

# ---- make docker-compose-up rebuilds ------------------------------------------------------
step "make docker-compose-up in the copy: no change, then an edited log line"
edited_server=tp0-e2e-server:edited
edited_client=tp0-e2e-client:edited
copy_up() { # LOG: make docker-compose-up in the copy, with images of its own
    run "$1" 600 "${in_copy[@]}" "$MAKE" --no-print-directory docker-compose-up CLIENTS=1 \
        SERVER_IMAGE="$edited_server" CLIENT_IMAGE="$edited_client"
}
copy_timed_up() { # NAME: copy_up, and say how long it took
    local t0 rc=0
    t0=$(now_ms)
    copy_up "$1" || rc=$?
    echo "   make docker-compose-up ($1): $(secs $(($(now_ms) - t0))) s"
    return "$rc"
}
compiled() { grep -q 'Compiling tp0' "$work/$1.log"; }
expect "make docker-compose-up (first in this copy)" copy_timed_up "copy-up-first-$compose_version"
before=$(image_id "$edited_server")
expect "make docker-compose-up again, nothing changed" copy_timed_up "copy-up-same-$compose_version"
expect "nothing changed: cargo compiled nothing" eval "! compiled copy-up-same-$compose_version"
expect "nothing changed: the server image is the same" test "$(image_id "$edited_server")" = "$before"
edit="edited in e2e under $compose_label"
# (a second version's run finds the first one's note there: it replaces it)
sed -i -E "s/\"action: listen \\| result: success \\| address: \\{([a-z_]*)\\}[^\"]*\"/\"action: listen | result: success | address: {\\1} | note: $edit\"/" \
    "$course_copy/src/bin/server.rs"
expect "the copy's src/bin/server.rs has the edited log line" grep -qF "note: $edit" "$course_copy/src/bin/server.rs"
expect "make docker-compose-up after the edit" copy_timed_up "copy-up-edited-$compose_version"
expect "after the edit: cargo compiled the crate" compiled "copy-up-edited-$compose_version"
expect "after the edit: a new server image" test "$(image_id "$edited_server")" != "$before"
expect "the running server logs the edited line" wait_until 30 has_line "note: $edit" server
expect "make docker-compose-down in the copy" run "copy-down-$(now_ms)" 120 "${in_copy[@]}" "$MAKE" --no-print-directory \
    docker-compose-down SERVER_IMAGE="$edited_server" CLIENT_IMAGE="$edited_client"
docker rmi "$edited_server" "$edited_client" >/dev/null 2>&1 || true
