# shellcheck shell=sh disable=SC2034 # the variables are read by the scripts that source this
# Sourced by the generators (POSIX sh): what every service gets, in one place, so the
# compose file and the swarm stack file cannot drift apart.
#
# Limits, sized from measurement (NOTES.md "Past one host"): an idle server holds about
# 2 MiB, and 37 MiB at most with 1000 peers that send and never read (its buffer budget,
# SERVER_MAX_BUFFERED, is 32 MiB); a client under 1 MiB. pids: the server is one thread, the client two (its name lookups run
# off the loop), plus one for a health probe while it runs.
SERVER_MEM_LIMIT=${TP0_SERVER_MEM_LIMIT:-96m}
SERVER_PIDS_LIMIT=${TP0_SERVER_PIDS_LIMIT:-16}
CLIENT_MEM_LIMIT=${TP0_CLIENT_MEM_LIMIT:-16m}
CLIENT_PIDS_LIMIT=${TP0_CLIENT_PIDS_LIMIT:-16}
# json-file logs: rotated at 10 MiB, 3 files kept per container
LOG_MAX_SIZE=${TP0_LOG_MAX_SIZE:-10m}
LOG_MAX_FILE=${TP0_LOG_MAX_FILE:-3}

# The probe is `/server --health-check` (the images have no shell): the empty message on
# loopback, decided within 1 s by the probe itself; one INFO line (the accept) in the server
# log per probe. The engine's timeout is longer only to absorb starting the process in the
# container on a loaded host. The first probe runs one interval after the start: clients
# wait about that long.
HEALTH_INTERVAL=${TP0_HEALTH_INTERVAL:-2s}
HEALTH_TIMEOUT=2s
HEALTH_RETRIES=3
HEALTH_START_PERIOD=10s

# log_options: the bounded json-file driver (Compose and Swarm alike)
log_options() {
    cat <<EOT
    logging:
      driver: json-file
      options:
        max-size: "$LOG_MAX_SIZE"
        max-file: "$LOG_MAX_FILE"
EOT
}

# hardening MEM PIDS: service-level keys for Compose (v1 reads mem_limit/pids_limit, not
# deploy.resources, unless run with --compatibility)
hardening() {
    cat <<EOT
    read_only: true
    cap_drop: [ALL]
    security_opt: ["no-new-privileges:true"]
    mem_limit: $1
    pids_limit: $2
EOT
    log_options
}

server_healthcheck() {
    cat <<EOT
    healthcheck:
      test: ["CMD", "/server", "--health-check", "--config", "/etc/tp0/server.ini"]
      interval: $HEALTH_INTERVAL
      timeout: $HEALTH_TIMEOUT
      retries: $HEALTH_RETRIES
      start_period: $HEALTH_START_PERIOD
EOT
}
