# Part of tests/e2e.sh (sourced; uses its helpers): make docker-image offline, the image
# sizes, and what is inside (a non-root user, the exec-form entrypoint, the binary alone).
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
