#!/bin/sh
# Pushes local images to a registry under a tag derived from their content (the first 12
# hex digits of the image id), so that a swarm of several hosts can pull them: an unchanged
# image keeps its reference, and its tasks, while a rebuilt one gets a new reference and
# rolls out. POSIX sh; pushes from the engine that DOCKER_HOST names, whose daemon must
# trust the registry (TLS, a registry on 127.0.0.0/8, or `insecure-registries`).
#
#   tools/push-images.sh REGISTRY IMAGE...        (what `make swarm-up REGISTRY=…` runs)
#
# Prints one reference REGISTRY/NAME:TAG per IMAGE on stdout, in the order given.
# Exit status: 0 all pushed, 1 an image missing or a push failed, 2 bad arguments.
set -eu

if [ "$#" -lt 2 ] || [ -z "$1" ]; then
    echo "usage: $0 REGISTRY IMAGE...   (REGISTRY is host:port, e.g. 10.77.0.1:5000)" >&2
    exit 2
fi
registry=${1%/}
shift
# a push that stalls (registry unreachable, not trusted) must not hang make
push_timeout=${TP0_PUSH_TIMEOUT:-120}

for image in "$@"; do
    if ! id=$(docker image inspect -f '{{.Id}}' "$image" 2>/dev/null); then
        echo "$0: image $image not found on this engine" >&2
        exit 1
    fi
    tag=$(echo "${id#sha256:}" | cut -c1-12)
    name=${image%:*}
    ref=$registry/${name##*/}:$tag
    docker tag "$image" "$ref"
    if ! timeout "$push_timeout" docker push -q "$ref" >/dev/null; then
        echo "$0: docker push $ref failed (does this engine's daemon trust $registry?" \
            "TLS, or \"insecure-registries\" in its daemon.json)" >&2
        exit 1
    fi
    echo "$ref"
done
