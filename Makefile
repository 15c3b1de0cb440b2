# Entry points of the project; `make help` lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help

CARGO ?= cargo

.PHONY: help build run test lint

help: ## List the targets
	@grep -hE '^[a-zA-Z0-9_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-22s %s\n", $$1, $$2}'

build: ## Build the server and client (release)
	$(CARGO) build --release --bins

run: build ## Run a server and one client on this machine (Ctrl-C stops the server)
	@SERVER_IP=127.0.0.1 target/release/server --config etc/server.ini & server=$$!; \
	trap 'kill -TERM $$server 2>/dev/null; wait $$server' EXIT INT TERM; \
	CLI_SERVER_ADDRESS=127.0.0.1:12345 target/release/client --config etc/client.ini; \
	echo "client exited with $$?; the server keeps running until Ctrl-C"; wait $$server

lint: ## rustfmt and clippy, warnings are errors
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --all-targets -- -D warnings

test: lint ## Unit and integration tests against the real binaries (installs cargo-nextest if missing)
	@$(CARGO) nextest --version >/dev/null 2>&1 || $(CARGO) install cargo-nextest --locked
	$(CARGO) nextest run --release --no-fail-fast

# ---- Docker ---------------------------------------------------------------------------------
# Everything below works with no image registry: the images are `scratch` plus files from the
# build context. Compose is the v2 plugin (`docker compose`) when it answers, else the v1
# program (`docker-compose`); detected once, when a recipe first needs it. Override: COMPOSE=...
COMPOSE ?= $(eval COMPOSE := $$(shell docker compose version >/dev/null 2>&1 && echo 'docker compose' || echo docker-compose))$(COMPOSE)
# project name on the command line (v1 rejects a top-level `name:`): network tp0_testing_net
PROJECT ?= tp0
CLIENTS ?= 1
# directory with server.ini and client.ini, mounted read-only into the containers
CONFIG_DIR ?= etc
COMPOSE_DEV ?= docker-compose-dev.yaml
SERVER_IMAGE ?= server:latest
CLIENT_IMAGE ?= client:latest
# tp0-netcat:latest is built here from Debian's busybox-static; any other value (e.g. a stock
# busybox:1.36 where a registry is reachable) is used as is and not built
NETCAT_IMAGE ?= tp0-netcat:latest
NETCAT_LOCAL := tp0-netcat:latest
# offline: cargo on this host builds static binaries, copied onto `scratch` (default)
# multistage: the build runs in RUST_IMAGE (needs a registry; no Rust toolchain on the host)
DOCKER_BUILD ?= offline
RUST_IMAGE ?= rust:1-bookworm
RUST_TARGET ?= x86_64-unknown-linux-gnu
# directory with prebuilt static `server` and `client` (e.g. from CI); empty: cargo builds them
BIN_DIR ?=
STATIC_BIN_DIR = $(if $(BIN_DIR),$(BIN_DIR),target/$(RUST_TARGET)/release)
# what the multistage build context holds (streamed with tar, so no .dockerignore is needed)
CRATE_FILES = $(wildcard Cargo.toml Cargo.lock build.rs .cargo src tests benches bench examples)
COMPOSE_RUN = $(COMPOSE) -p $(PROJECT) -f $(COMPOSE_DEV)

.PHONY: docker-image docker-image-offline docker-image-multistage docker-static-bins \
	docker-netcat-image docker-compose-up docker-compose-down docker-compose-logs e2e

docker-image: $(if $(filter multistage,$(DOCKER_BUILD)),docker-image-multistage,docker-image-offline) docker-netcat-image ## Build images server:latest, client:latest, tp0-netcat:latest with no registry (DOCKER_BUILD=multistage: build in a rust image)

docker-image-offline: docker-static-bins
	docker build -t $(SERVER_IMAGE) containers/server
	docker build -t $(CLIENT_IMAGE) containers/client

docker-image-multistage:
	tar -c --exclude=target $(CRATE_FILES) containers/Dockerfile.multistage | docker build \
	  --build-arg RUST_IMAGE=$(RUST_IMAGE) -f containers/Dockerfile.multistage --target server -t $(SERVER_IMAGE) -
	tar -c --exclude=target $(CRATE_FILES) containers/Dockerfile.multistage | docker build \
	  --build-arg RUST_IMAGE=$(RUST_IMAGE) -f containers/Dockerfile.multistage --target client -t $(CLIENT_IMAGE) -

# Static glibc binaries (glibc >= 2.34 resolves compose service names without NSS modules).
# --target keeps RUSTFLAGS away from build scripts and out of target/release.
docker-static-bins:
ifeq ($(BIN_DIR),)
	RUSTFLAGS='-C target-feature=+crt-static' $(CARGO) build --release --target $(RUST_TARGET) --bins
endif
	mkdir -p containers/server/build containers/client/build
	cp $(STATIC_BIN_DIR)/server containers/server/build/server
	cp $(STATIC_BIN_DIR)/client containers/client/build/client

docker-netcat-image: $(if $(filter $(NETCAT_LOCAL),$(NETCAT_IMAGE)),containers/netcat/build/busybox)
ifeq ($(NETCAT_IMAGE),$(NETCAT_LOCAL))
	docker build -t $(NETCAT_IMAGE) containers/netcat
else
	@echo "NETCAT_IMAGE=$(NETCAT_IMAGE) is a stock image: not built here, docker pulls it on first use"
endif

# Debian's static busybox, fetched once and kept (the directory is gitignored); nothing is
# installed on the host. Elsewhere: put any static busybox at this path.
containers/netcat/build/busybox:
	mkdir -p $(@D)/deb
	@# a fresh machine may have no package lists yet: refresh them once (root only) and retry
	cd $(@D)/deb && { apt-get -q -o APT::Sandbox::User=root download busybox-static || \
	  { [ "$$(id -u)" = 0 ] && apt-get -q update >/dev/null && \
	    apt-get -q -o APT::Sandbox::User=root download busybox-static; }; } || { \
	  echo "cannot download busybox-static: run 'apt-get update', or put a static busybox at $@," \
	       "or use a stock image: NETCAT_IMAGE=busybox:1.36" >&2; exit 1; }
	rm -rf $(@D)/root && dpkg-deb -x "$(@D)/deb/$$(ls -t $(@D)/deb | head -n 1)" $(@D)/root
	cp $(@D)/root/bin/busybox $@ && rm -rf $(@D)/root

docker-compose-up: ## Start the server and CLIENTS=N clients (default 1) detached; builds only missing images
	TP0_CONFIG_DIR="$(CONFIG_DIR)" TP0_SERVER_IMAGE="$(SERVER_IMAGE)" TP0_CLIENT_IMAGE="$(CLIENT_IMAGE)" \
	  tools/generate-compose.sh $(COMPOSE_DEV) $(CLIENTS)
	@missing=; \
	for image in $(SERVER_IMAGE) $(CLIENT_IMAGE) $(filter $(NETCAT_LOCAL),$(NETCAT_IMAGE)); do \
	  docker image inspect $$image >/dev/null 2>&1 || missing="$$missing $$image"; \
	done; \
	if [ -n "$$missing" ]; then echo "missing image(s):$$missing"; $(MAKE) --no-print-directory docker-image; fi
	@# recreate every time: a changed etc/*.ini alone does not change the compose file
	$(COMPOSE_RUN) up -d --force-recreate --remove-orphans

docker-compose-down: ## Stop every container with SIGTERM (1 s grace), then remove them and the network
	@[ -f $(COMPOSE_DEV) ] || TP0_CONFIG_DIR="$(CONFIG_DIR)" tools/generate-compose.sh $(COMPOSE_DEV) 0
	@status=0; \
	$(COMPOSE_RUN) stop -t 1 || status=$$?; \
	$(COMPOSE_RUN) down -t 1 --remove-orphans || status=$$?; \
	exit $$status

docker-compose-logs: ## Follow the logs of the compose project
	$(COMPOSE_RUN) logs -f

e2e: ## End-to-end test on the Docker engine: images, compose, config, echo check, shutdown
	NETCAT_IMAGE="$(NETCAT_IMAGE)" MAKE="$(MAKE)" tests/e2e.sh

.PHONY: bench
bench: build ## Benchmark against C/tokio/thread baselines: one Markdown table, ~6 min (BENCH_ARGS=--help)
	python3 bench/run.py $(BENCH_ARGS)

# ---- Fuzzing ---------------------------------------------------------------------------------
# libFuzzer through cargo-fuzz, on the stable toolchain: RUSTC_BOOTSTRAP=1 lets it use the
# sanitizer flags that are otherwise nightly-only. One target at a time (the machine is
# shared); each stops by itself after FUZZ_SECONDS. Corpora and crashes stay in fuzz/ (ignored
# by git). Not part of `make test` or CI.
FUZZ_SECONDS ?= 60
FUZZ_TARGETS ?= escape duration framer config

.PHONY: fuzz
fuzz: ## Fuzz the parsers, FUZZ_SECONDS (default 60) per target, one at a time (installs cargo-fuzz)
	@$(CARGO) fuzz --version >/dev/null 2>&1 || $(CARGO) install cargo-fuzz --locked
	cd fuzz && for target in $(FUZZ_TARGETS); do \
	  RUSTC_BOOTSTRAP=1 $(CARGO) fuzz run -O $$target -- \
	    -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 || exit 1; \
	done
