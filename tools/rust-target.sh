#!/bin/sh
# Prints the Rust target triple of the static Linux build (POSIX sh).
#
#   tools/rust-target.sh            the host's triple, from `rustc -vV` (RUSTC overrides rustc)
#   tools/rust-target.sh ARCH       the triple for Docker's TARGETARCH (amd64, arm64, ...):
#                                   what Dockerfile.multistage builds for
#
# Exit status: 0 printed, 1 rustc missing or silent, 2 an architecture without a mapping.
set -eu

if [ "$#" -eq 0 ]; then
    triple=$("${RUSTC:-rustc}" -vV 2>/dev/null | sed -n 's/^host: //p') || true
    if [ -z "$triple" ]; then
        echo "$0: cannot read the host triple from '${RUSTC:-rustc} -vV'" >&2
        exit 1
    fi
    echo "$triple"
    exit 0
fi

# glibc targets: static glibc >= 2.34 resolves service names with no NSS modules
case $1 in
amd64) echo x86_64-unknown-linux-gnu ;;
arm64) echo aarch64-unknown-linux-gnu ;;
arm) echo armv7-unknown-linux-gnueabihf ;;
ppc64le) echo powerpc64le-unknown-linux-gnu ;;
riscv64) echo riscv64gc-unknown-linux-gnu ;;
s390x) echo s390x-unknown-linux-gnu ;;
*)
    echo "$0: no Rust target known for TARGETARCH '$1'" >&2
    exit 2
    ;;
esac
