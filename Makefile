# natter — see README.md.
#   make run    the whole system in one process on :8080 (NATTER_HTTP_ADDR changes it)
#   make test   everything CI runs

GO       ?= go
PKGS     := ./proto/... ./kit/... ./services/gateway/... ./services/presence/... ./services/history/... ./cmd/natter/... ./test/e2e/... ./bench/...
FUZZTIME ?= 100000x
# FuzzChatEvents runs a connection to a whole in-process stack per input,
# about 1,000 a second on two cores: 20,000 by default, FUZZTIME when it
# is given on the command line.
CHAT_FUZZTIME ?= $(if $(filter command line,$(origin FUZZTIME)),$(FUZZTIME),20000x)

.PHONY: all build lint test test-go test-load test-storm test-deps fuzz run conformance clean \
	compose-up compose-down compose-logs cluster-up cluster-down bin/nats-server bench

all: build

build:
	$(GO) build -o bin/ ./cmd/natter ./services/gateway/cmd/... ./services/presence/cmd/... ./services/history/cmd/...

lint:
	@out=$$(gofmt -l proto kit services cmd test/e2e bench); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)

# The nats-server that the multi-process tests and cluster-up run: built from
# the module version kit/go.mod requires (the one the in-process tests embed),
# not the system's. Rebuilt only when that version changes.
bin/nats-server:
	bash scripts/nats-server.sh

# Tests need Node.js and the npm packages in test/client (installed by test-deps).
test: lint test-deps test-go test-load test-storm fuzz

test-deps:
	bash test/client/install.sh
	@bash test/install-browser.sh || echo "no Chromium: the browser tests will be skipped (CI installs it)"
	bash scripts/install-helm.sh


test-go:
	$(GO) test -race -count=1 -timeout 30m -skip '^TestSocketIOClientLoad$$' $(PKGS)

# 100 official clients x 10,000 acked emits per transport: alone, so that the
# other tests' processes do not starve its one Node process of CPU.
test-load:
	$(GO) test -race -count=1 -timeout 15m -run '^TestSocketIOClientLoad$$' ./services/gateway/internal/conformance

# 2,000 clients joining at once, without -race (under it the storm tests run
# 200): alone, like test-load. NATTER_STORM=10000 for the Scale issue's 10,000.
test-storm:
	$(GO) test -count=1 -timeout 10m -run '^(TestJoinStorm|TestNameStorm)$$' ./test/e2e

# Each fuzz target briefly: FUZZTIME executions (a count, not a duration: a
# duration can end while a worker runs an input, which go test reports as a
# failure). `make fuzz FUZZTIME=5m` for a long run.
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzDecodePayload$$' -fuzztime $(FUZZTIME) ./services/gateway/internal/engineio
	$(GO) test -run '^$$' -fuzz '^FuzzDecode$$' -fuzztime $(FUZZTIME) ./services/gateway/internal/socketio
	$(GO) test -run '^$$' -fuzz '^FuzzSplitArray$$' -fuzztime $(FUZZTIME) ./services/gateway/internal/socketio
	$(GO) test -run '^$$' -fuzz '^FuzzNormalizeName$$' -fuzztime $(FUZZTIME) ./proto
	$(GO) test -run '^$$' -fuzz '^FuzzValidateMessage$$' -fuzztime $(FUZZTIME) ./proto
	$(GO) test -run '^$$' -fuzz '^FuzzJSONTextValid$$' -fuzztime $(FUZZTIME) ./services/gateway
	$(GO) test -run '^$$' -fuzz '^FuzzChatEvents$$' -fuzztime $(CHAT_FUZZTIME) ./test/e2e

# One process: embedded NATS with JetStream (files under ./data), in-memory presence, history, gateway.
run:
	$(GO) run ./cmd/natter

# The app the protocol specifications' test suites run against (their settings).
conformance:
	NATTER_HTTP_ADDR=$${NATTER_HTTP_ADDR:-127.0.0.1:3000} $(GO) run ./services/gateway/cmd/conformance -ping-interval 300ms -ping-timeout 200ms

# The full stack in Docker: nginx on :8080 over four gateways, Grafana on
# 127.0.0.1:3000. The passwords (GRAFANA_ADMIN_PASSWORD, REDIS_PASSWORD) come
# from the environment, else from deploy/compose/.env, which the first
# compose-up fills with random ones (not in git).
COMPOSE_ENV := deploy/compose/.env
COMPOSE ?= docker compose -f deploy/compose/docker-compose.yml --env-file $(COMPOSE_ENV)

$(COMPOSE_ENV):
	@umask 077; { \
	  echo "# Local passwords of the compose stack, written by make (not in git)."; \
	  echo "GRAFANA_ADMIN_PASSWORD=$$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"; \
	  echo "REDIS_PASSWORD=$$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"; \
	} > $@
	@echo "wrote random passwords into $@"

compose-up: $(COMPOSE_ENV)
	$(COMPOSE) up -d --build
	@echo "natter: http://localhost:8080  Grafana: http://127.0.0.1:3000 (admin, GRAFANA_ADMIN_PASSWORD in $(COMPOSE_ENV) unless set)  Prometheus: http://127.0.0.1:9090"

compose-down: $(COMPOSE_ENV)
	$(COMPOSE) down

compose-logs: $(COMPOSE_ENV)
	$(COMPOSE) logs -f --tail=100

# The same topology as local processes (no Docker): nginx on NATTER_HTTP_ADDR
# (127.0.0.1:8080); PROMETHEUS=1 adds Prometheus. Files in ./data/cluster.
cluster-up:
	bash scripts/cluster.sh up

cluster-down:
	bash scripts/cluster.sh down

# natter against the seed's stack (socket.io + the Redis adapter) and a raw Go
# hub, each started in turn on 127.0.0.1 (scripts/bench.sh, about 15 minutes;
# BENCH_QUICK=1 for a smoke of about two): rewrites its table in
# docs/benchmarks.md. Not part of test.
bench:
	bash scripts/bench.sh

clean:
	rm -rf bin
