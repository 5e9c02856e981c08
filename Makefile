# workerfleet: a serverless EC2 worker provisioner.
#
# `make` or `make help` lists the everyday targets (their `## target:` lines below).
# SAM calls the build-<LogicalId> targets (BuildMethod: makefile) with ARTIFACTS_DIR set;
# they refuse to run without it.

SHELL := /bin/bash
.DEFAULT_GOAL := help
GO ?= go
CACHE_DIR ?= $(or $(WORKERFLEET_CACHE),$(HOME)/.cache/workerfleet)
export WORKERFLEET_CACHE := $(CACHE_DIR)

# Lambda builds: a static arm64 bootstrap for provided.al2023, without the RPC shim,
# stamped with the source's git revision (-dirty with uncommitted changes), which
# __version__ reports. sam build runs these targets in a copy of the source without
# .git: make deploy passes the revision in WORKERFLEET_REVISION.
REVISION     ?= $(or $(WORKERFLEET_REVISION),$(shell r=$$(git rev-parse HEAD 2>/dev/null) && { git diff --quiet HEAD 2>/dev/null || r=$$r-dirty; echo $$r; }))
LAMBDA_ENV   := GOOS=linux GOARCH=arm64 CGO_ENABLED=0
LAMBDA_FLAGS := -tags lambda.norpc -trimpath -ldflags="-s -w -buildid= -X github.com/workerfleet/workerfleet/shared/version.revision=$(REVISION)"

# SAM sets ARTIFACTS_DIR; without it the bootstrap would land in /.
require-artifacts-dir = test -n "$(ARTIFACTS_DIR)" || { echo "$@ is for sam build (it sets ARTIFACTS_DIR); use make build" >&2; exit 2; }

.PHONY: build-AwsProvisionerApiFunction build-SecretsApiFunction build-WorkerManagerApiFunction \
	build-RegistrationFunction build-ProvisionerFunction build-Ec2EventsFunction build-StatusPageFunction \
	build-ReactionFunction

build-AwsProvisionerApiFunction:
	@$(require-artifacts-dir)
	$(LAMBDA_ENV) $(GO) build $(LAMBDA_FLAGS) -o $(ARTIFACTS_DIR)/bootstrap ./functions/aws-provisioner-api

build-SecretsApiFunction:
	@$(require-artifacts-dir)
	$(LAMBDA_ENV) $(GO) build $(LAMBDA_FLAGS) -o $(ARTIFACTS_DIR)/bootstrap ./functions/secrets-api

build-WorkerManagerApiFunction:
	@$(require-artifacts-dir)
	$(LAMBDA_ENV) $(GO) build $(LAMBDA_FLAGS) -o $(ARTIFACTS_DIR)/bootstrap ./functions/worker-manager-api

build-RegistrationFunction:
	@$(require-artifacts-dir)
	$(LAMBDA_ENV) $(GO) build $(LAMBDA_FLAGS) -o $(ARTIFACTS_DIR)/bootstrap ./functions/registration

build-ProvisionerFunction:
	@$(require-artifacts-dir)
	$(LAMBDA_ENV) $(GO) build $(LAMBDA_FLAGS) -o $(ARTIFACTS_DIR)/bootstrap ./functions/provisioner

build-Ec2EventsFunction:
	@$(require-artifacts-dir)
	$(LAMBDA_ENV) $(GO) build $(LAMBDA_FLAGS) -o $(ARTIFACTS_DIR)/bootstrap ./functions/ec2-events

build-StatusPageFunction:
	@$(require-artifacts-dir)
	$(LAMBDA_ENV) $(GO) build $(LAMBDA_FLAGS) -o $(ARTIFACTS_DIR)/bootstrap ./functions/status-page

build-ReactionFunction:
	@$(require-artifacts-dir)
	$(LAMBDA_ENV) $(GO) build $(LAMBDA_FLAGS) -o $(ARTIFACTS_DIR)/bootstrap ./functions/reaction

# ---------------------------------------------------------------- everyday commands
.PHONY: help run test test-go test-compat lint invoke coldstart api status bench deploy build clean client sim

## help: list these targets (also what a bare make does); changes nothing.
help:
	@echo "make <target>, with:"
	@sed -n 's/^## \([a-z-]*\): \(.*\)/  \1\t\2/p' $(firstword $(MAKEFILE_LIST)) | expand -t 12
	@echo "Settings (PORT, SEED, CLOUD, LOG_LEVEL, ...) are in docs/local-stack.md."

# One per clone (named by its folder), so two clones never run each other's.
LOCAL_BIN := $(CACHE_DIR)/bin/workerfleet-local-$(shell printf '%s' '$(CURDIR)' | cksum | cut -d' ' -f1)

$(LOCAL_BIN): FORCE
	@mkdir -p $(dir $@)
	@$(GO) build -o $@ ./shared/dev/cmd/local

FORCE:

# A failing everyday command has said what is wrong in one line ("error: ..."); make
# would add "make: *** [Makefile:NN: run] Error 1" and exit 2. So a failing recipe ends
# make itself with SIGPIPE, the one fatal signal make has no handler for and shells do
# not announce: the exit status is 141 and the command's line is the only one.
# ($(LOCAL_BIN) itself exits 1.) Usage: @cmd || { $(quiet-failure); }
quiet-failure = rc=$$?; kill -PIPE $$PPID; exit $$rc
usage-failure = kill -PIPE $$PPID; exit 2

## run: the whole system on this machine, in the foreground; Ctrl-C stops all of it.
## TC_ROOT_URL, TC_CLIENT_ID and TC_ACCESS_TOKEN run it in Taskcluster mode (docs/taskcluster.md).
run: $(LOCAL_BIN)
	@$(LOCAL_BIN) run || { $(quiet-failure); }

## invoke: run one function's built bootstrap once on a sample event under the Lambda Runtime Interface Emulator, against the local tables (IN_PROCESS=1: call the handler in-process).
invoke: $(LOCAL_BIN)
	@test -n "$(FN)" || { echo "usage: make invoke FN=<function> EVENT=events/<file>.json [IN_PROCESS=1]" >&2; $(usage-failure); }
	@test -n "$(EVENT)" || { echo "usage: make invoke FN=<function> EVENT=events/<file>.json [IN_PROCESS=1]" >&2; $(usage-failure); }
	@$(LOCAL_BIN) invoke -function "$(FN)" -event "$(EVENT)" $(if $(IN_PROCESS),-in-process) || { $(quiet-failure); }

## coldstart: per function, the median init duration of N (default 7) cold starts under the emulator, and the bootstrap sizes.
coldstart: $(LOCAL_BIN)
	@$(LOCAL_BIN) coldstart -n "$(or $(N),7)" $(if $(FN),-function "$(FN)") || { $(quiet-failure); }

## api: one API call, Hawk-signed with the running stack's root credentials: ARGS='METHOD PATH|URL [JSON|@FILE|-]'.
# ARGS reaches the command through the environment (make puts command-line variables
# there), so the JSON's quotes survive; the command splits it itself. A non-2xx answer
# fails the call with status 141 and no line of make's (quiet-failure, above).
api: $(LOCAL_BIN)
	@test -n "$$ARGS" || { echo "usage: make api ARGS='METHOD PATH|URL [JSON|@FILE|-]'" >&2; $(usage-failure); }
	@$(LOCAL_BIN) api || { $(quiet-failure); }

## status: the fleet at a glance (pools, capacities, pending tasks, errors, last iteration), refreshing; the same as the page at the root URL.
status: $(LOCAL_BIN)
	@$(LOCAL_BIN) status $(ARGS) || { $(quiet-failure); }

## client: create an API client in the local stack's tables (or a deployment's; see README).
client: $(LOCAL_BIN)
	@$(LOCAL_BIN) client $(ARGS) || { $(quiet-failure); }

## sim: replay a demand trace against a worker pool, workerfleet vs worker-manager's baselines, seeds 1-3 (TRACE: the shipped linux-metal trace; POOL, OUT, SEEDS; SIM_ARGS: more options, see -h).
TRACE ?= shared/dev/sim/traces/gecko-t-t-linux-metal.dat
SEEDS ?= 1,2,3
sim: $(LOCAL_BIN)
	@exec $(LOCAL_BIN) sim -trace "$(TRACE)" -seeds "$(SEEDS)" $(if $(POOL),-pool "$(POOL)") $(if $(OUT),-out "$(OUT)") $(SIM_ARGS)

## test: every test: the module's, then the official-client compatibility module's.
test: test-go test-compat

test-go:
	$(GO) test -count=1 -timeout 20m ./...
	WORKERFLEET_TEST_STORE=memdb $(GO) test -count=1 -timeout 5m ./shared/store/ ./shared/provision/ ./shared/ec2events/

test-compat:
	cd shared/dev/compattest && GONOSUMDB=github.com/taskcluster GOFLAGS=-mod=mod $(GO) test -count=1 -timeout 20m ./...

## lint: gofmt, go vet (both modules), cfn-lint of template.yaml.
lint:
	@unformatted=$$(gofmt -l functions shared); if [ -n "$$unformatted" ]; then echo "gofmt would change:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...
	cd shared/dev/compattest && GONOSUMDB=github.com/taskcluster GOFLAGS=-mod=mod $(GO) vet ./...
	@if command -v cfn-lint >/dev/null; then cfn-lint template.yaml && echo "cfn-lint: template.yaml ok"; \
	else echo "cfn-lint is not installed: pip install cfn-lint aws-sam-translator (then make lint again)"; exit 1; fi

## bench: the benchmarks (docs/provisioning.md lists the numbers).
bench:
	$(GO) test -run '^$$' -bench . -benchtime 1x ./shared/provision/
	$(GO) test -run '^$$' -bench . ./shared/auth/ ./shared/identity/ ./shared/dev/fakecloud/ ./shared/pool/
	$(GO) test -run '^$$' -bench ReplayProtection ./shared/app/

## build: build every function as SAM would, into .aws-sam/local/<LogicalId>/bootstrap.
build:
	@for fn in AwsProvisionerApiFunction SecretsApiFunction WorkerManagerApiFunction RegistrationFunction ProvisionerFunction Ec2EventsFunction StatusPageFunction ReactionFunction; do \
		$(MAKE) --no-print-directory build-$$fn ARTIFACTS_DIR=.aws-sam/local/$$fn || exit 1; \
		echo "built .aws-sam/local/$$fn/bootstrap"; done

## deploy: sam build && sam deploy (see docs/deploying.md).
deploy:
	WORKERFLEET_REVISION=$(REVISION) sam build
	sam deploy

## clean: remove .aws-sam.
clean:
	rm -rf .aws-sam
