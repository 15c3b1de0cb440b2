# shellcheck shell=sh disable=SC2034 # the variables are read by the scripts that source this
# Sourced by the generators (POSIX sh) after they set `tools`: the inputs they share and
# how they write, so the compose file, the stack file and the ConfigMap read the same
# config files and never leave a half-written output behind.

config_dir=${TP0_CONFIG_DIR:-$tools/../etc}
server_image=${TP0_SERVER_IMAGE:-server:latest}
client_image=${TP0_CLIENT_IMAGE:-client:latest}
stop_grace=${TP0_STOP_GRACE:-2s}

# number VALUE: a decimal integer of at most 4 digits (docker names are client1..client9999),
# printed without leading zeros (decimal, not octal); fails on anything else
number() {
    case $1 in
    '' | *[!0-9]* | ?????*) return 1 ;;
    esac
    n=$(printf '%s' "$1" | sed 's/^0*//')
    echo "${n:-0}"
}

# require_config_files: both files must exist (a missing one would be bind-mounted as an
# empty directory); config_dir becomes absolute, as the outputs name it
require_config_files() {
    for f in server.ini client.ini; do
        if [ ! -f "$config_dir/$f" ]; then
            echo "$0: config file $config_dir/$f not found (set TP0_CONFIG_DIR?)" >&2
            exit 1
        fi
    done
    config_dir=$(cd "$config_dir" && pwd)
}

# write_output OUTPUT: what the caller's `write` prints goes to OUTPUT whole, or not at all
write_output() {
    tmp=$1.tmp.$$
    if ! write >"$tmp"; then
        rm -f "$tmp"
        exit 1
    fi
    mv -f "$tmp" "$1"
}
