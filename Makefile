# workerfleet: a serverless EC2 worker provisioner.
#
#   make run                            the whole system on this machine (see README)
#   make test                           every test (needs Java and npm; see README)
#   make lint                           gofmt, go vet, cfn-lint
#   make invoke FN=<function> EVENT=events/<file>.json
#   make coldstart                      init duration and bootstrap size of every function
#   make api ARGS='PUT /api/worker-manager/v1/worker-pool/a%2Fb @pool.json'
#   make client ARGS='create ci-bot -scope queue:*'  
#   make bench                          the benchmarks
#   make sim TRACE=<file> [POOL=<pool.json>] [OUT=<dir>]  a demand trace replayed against a pool
#   make deploy                         sam build && sam deploy
#
# SAM calls the build-<LogicalId> targets (BuildMethod: makefile) with ARTIFACTS_DIR set.

SHELL := /bin/bash
GO ?= go
CACHE_DIR ?= $(or $(WORKERFLEET_CACHE),$(HOME)/.cache/workerfleet)
export WORKERFLEET_CACHE := $(CACHE_DIR)

# Lambda builds: a static arm64 bootstrap for provided.al2023, without the RPC shim.
LAMBDA_ENV   := GOOS=linux GOARCH=arm64 CGO_ENABLED=0
LAMBDA_FLAGS := -tags lambda.norpc -trimpath -ldflags="-s -w -buildid="

.PHONY: build-AwsProvisionerApiFunction build-SecretsApiFunction build-WorkerManagerApiFunction \
	build-RegistrationFunction build-ProvisionerFunction build-Ec2EventsFunction

build-AwsProvisionerApiFunction:
	$(LAMBDA_ENV) $(GO) build $(LAMBDA_FLAGS) -o $(ARTIFACTS_DIR)/bootstrap ./functions/aws-provisioner-api

build-SecretsApiFunction:
	$(LAMBDA_ENV) $(GO) build $(LAMBDA_FLAGS) -o $(ARTIFACTS_DIR)/bootstrap ./functions/secrets-api

build-WorkerManagerApiFunction:
	$(LAMBDA_ENV) $(GO) build $(LAMBDA_FLAGS) -o $(ARTIFACTS_DIR)/bootstrap ./functions/worker-manager-api

build-RegistrationFunction:
	$(LAMBDA_ENV) $(GO) build $(LAMBDA_FLAGS) -o $(ARTIFACTS_DIR)/bootstrap ./functions/registration

build-ProvisionerFunction:
	$(LAMBDA_ENV) $(GO) build $(LAMBDA_FLAGS) -o $(ARTIFACTS_DIR)/bootstrap ./functions/provisioner

build-Ec2EventsFunction:
	$(LAMBDA_ENV) $(GO) build $(LAMBDA_FLAGS) -o $(ARTIFACTS_DIR)/bootstrap ./functions/ec2-events

# ---------------------------------------------------------------- everyday commands
.PHONY: run test test-go test-compat lint invoke coldstart api bench deploy build clean client sim

LOCAL_BIN := $(CACHE_DIR)/bin/workerfleet-local

$(LOCAL_BIN): FORCE
	@mkdir -p $(dir $@)
	@$(GO) build -o $@ ./shared/cmd/local

FORCE:

## run: the whole system on this machine, in the foreground; Ctrl-C stops all of it.
## TC_ROOT_URL, TC_CLIENT_ID and TC_ACCESS_TOKEN run it in Taskcluster mode (README).
run: $(LOCAL_BIN)
	@exec $(LOCAL_BIN) run

## invoke: run one function's built bootstrap once on a sample event under the Lambda Runtime Interface Emulator, against the local tables (IN_PROCESS=1: call the handler in-process).
invoke: $(LOCAL_BIN)
	@test -n "$(FN)" || { echo "usage: make invoke FN=<function> EVENT=events/<file>.json [IN_PROCESS=1]"; exit 2; }
	@test -n "$(EVENT)" || { echo "usage: make invoke FN=<function> EVENT=events/<file>.json [IN_PROCESS=1]"; exit 2; }
	@exec $(LOCAL_BIN) invoke -function "$(FN)" -event "$(EVENT)" $(if $(IN_PROCESS),-in-process)

## coldstart: per function, the median init duration of N (default 7) cold starts under the emulator, and the bootstrap sizes.
coldstart: $(LOCAL_BIN)
	@exec $(LOCAL_BIN) coldstart -n "$(or $(N),7)" $(if $(FN),-function "$(FN)")

## api: one API call signed with the running stack's root credentials (curl cannot sign Hawk).
api: $(LOCAL_BIN)
	@test -n "$(ARGS)" || { echo "usage: make api ARGS='METHOD PATH [BODY|@FILE|-]'"; exit 2; }
	@exec $(LOCAL_BIN) api $(ARGS)

## client: create an API client in the local stack's tables (or a deployment's; see README).
client: $(LOCAL_BIN)
	@exec $(LOCAL_BIN) client $(ARGS)

## sim: replay a demand trace against a worker pool, workerfleet vs worker-manager (SIM_ARGS: more options, see -h).
sim: $(LOCAL_BIN)
	@test -n "$(TRACE)" || { echo "usage: make sim TRACE=<file> [POOL=<pool.json>] [OUT=<dir>] [SIM_ARGS='-seed 2 ...']"; exit 2; }
	@exec $(LOCAL_BIN) sim -trace "$(TRACE)" $(if $(POOL),-pool "$(POOL)") $(if $(OUT),-out "$(OUT)") $(SIM_ARGS)

## test: every test: the module's, then the official-client compatibility module's.
test: test-go test-compat

test-go:
	$(GO) test -count=1 -timeout 20m ./...
	WORKERFLEET_TEST_STORE=memdb $(GO) test -count=1 -timeout 5m ./shared/store/ ./shared/provision/ ./shared/ec2events/

test-compat:
	cd shared/compattest && GONOSUMDB=github.com/taskcluster GOFLAGS=-mod=mod $(GO) test -count=1 -timeout 20m ./...

lint:
	@unformatted=$$(gofmt -l functions shared); if [ -n "$$unformatted" ]; then echo "gofmt would change:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...
	cd shared/compattest && GONOSUMDB=github.com/taskcluster GOFLAGS=-mod=mod $(GO) vet ./...
	@if command -v cfn-lint >/dev/null; then cfn-lint template.yaml && echo "cfn-lint: template.yaml ok"; \
	else echo "cfn-lint is not installed: pip install cfn-lint aws-sam-translator (then make lint again)"; exit 1; fi

bench:
	$(GO) test -run '^$$' -bench . -benchtime 1x ./shared/provision/
	$(GO) test -run '^$$' -bench . ./shared/auth/ ./shared/identity/ ./shared/cloud/fake/ ./shared/pool/
	$(GO) test -run '^$$' -bench ReplayProtection ./shared/app/

## build: build every function as SAM would, into .aws-sam/local/<LogicalId>/bootstrap.
build:
	@for fn in AwsProvisionerApiFunction SecretsApiFunction WorkerManagerApiFunction RegistrationFunction ProvisionerFunction Ec2EventsFunction; do \
		$(MAKE) --no-print-directory build-$$fn ARTIFACTS_DIR=.aws-sam/local/$$fn || exit 1; \
		echo "built .aws-sam/local/$$fn/bootstrap"; done

deploy:
	sam build
	sam deploy

clean:
	rm -rf .aws-sam
