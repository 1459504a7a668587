# Makefile — builds bin/tempo-adapter and bin/tracegen, runs the tests, the demo and benchmarks.
#
#   make            build (installs missing Debian packages first)
#   make run        build, start the adapter on its embedded store with demo traffic
#   make test       build, run unit (criterion) and integration tests
#   make asan       the same tests under AddressSanitizer + UndefinedBehaviorSanitizer
#   make tsan       the concurrency tests under ThreadSanitizer
#   make valgrind   unit tests under valgrind --leak-check=full
#   make bench      benchmarks (wrk over TLS, ingest, evaluation); figures printed as medians
#   make format     clang-format every C file;  make lint  checks formatting and banned calls
#   make image      the container image (Dockerfile) with docker or podman; IMAGE=name:tag

CC       ?= gcc
NPROC    := $(shell nproc 2>/dev/null || echo 2)
PYTHON   ?= /usr/bin/python3
SAN      ?=
BUILD    ?= build/$(if $(SAN),$(SAN),release)
BIN      ?= $(if $(SAN),$(BUILD)/bin,bin)

WARN     := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wvla \
            -Wformat=2 -Wno-format-nonliteral
CSTD     := -std=c17 -D_GNU_SOURCE
OPT      := -O2 -g
ifeq ($(SAN),asan)
OPT      := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined
endif
ifeq ($(SAN),tsan)
OPT      := -O1 -g -fsanitize=thread
endif
CFLAGS   ?=
CFLAGS   += $(CSTD) $(OPT) $(WARN) -I. -pthread -MMD -MP
SANLD_asan := -fsanitize=address,undefined
SANLD_tsan := -fsanitize=thread
LDFLAGS  += $(SANLD_$(SAN)) -pthread
LIBS     := -lmicrohttpd -lgnutls -lcurl -ljansson -lssl -lcrypto -lyaml -lz -lm

# LIB_SRC may be narrowed on the command line to build one module's tests alone, e.g.
#   make BUILD=build/mine LIB_SRC="$$(echo apis/base/*.c apis/*.c)" build/mine/tests/test_selector
LIB_SRC  ?= $(filter-out server/main.c,$(wildcard apis/base/*.c apis/*.c rules/*.c server/*.c))
LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/%.o) $(BUILD)/gen/embedded.o
TG_SRC   := $(wildcard hack/tracegen/*.c)
TG_OBJ   := $(TG_SRC:%.c=$(BUILD)/%.o)
UT_SRC   := $(wildcard tests/unit/test_*.c)
UT_BIN   := $(UT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
UT_HELP  := $(filter-out $(UT_SRC),$(wildcard tests/unit/*.c))
UT_HOBJ  := $(UT_HELP:%.c=$(BUILD)/%.o)
EMBED    := $(wildcard go-compatible-openapi/*.json rules/default.yaml)

.PHONY: all deps build run test unit integration asan tsan valgrind bench format lint clean image
.SECONDARY: # keep the test objects between runs
all: deps
	@$(MAKE) --no-print-directory -j$(NPROC) build

deps:
	@hack/install-deps.sh

build: $(BIN)/tempo-adapter $(BIN)/tracegen

$(BUILD)/libta.a: $(LIB_OBJ)
	@mkdir -p $(@D)
	$(AR) rcs $@ $^

$(BIN)/tempo-adapter: $(BUILD)/server/main.o $(BUILD)/libta.a
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS)

$(BIN)/tracegen: $(TG_OBJ) $(BUILD)/libta.a
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS)

$(BUILD)/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -c -o $@ $<

# Files compiled into the binary (OpenAPI documents, default rules): see hack/embed.sh.
$(BUILD)/gen/embedded.c: hack/embed.sh $(EMBED)
	@mkdir -p $(@D)
	hack/embed.sh $@ $(EMBED)

$(BUILD)/gen/embedded.o: $(BUILD)/gen/embedded.c
	$(CC) $(CFLAGS) -Wno-missing-prototypes -c -o $@ $<

$(BUILD)/tests/test_%: $(BUILD)/tests/unit/test_%.o $(UT_HOBJ) $(BUILD)/libta.a
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ -lcriterion $(LIBS)

run: all
	hack/run.sh

test: deps
	@$(MAKE) --no-print-directory -j$(NPROC) build $(UT_BIN)
	@$(MAKE) --no-print-directory -j1 unit
	@$(MAKE) --no-print-directory -j1 integration

unit: $(UT_BIN)
	@hack/run-unit.sh $(UT_BIN)

integration: build
	TA_BIN=$(abspath $(BIN)) TA_SAN=$(SAN) $(PYTHON) -m unittest discover -s tests/integration -t . $(if $(V),-v)

asan:
	@$(MAKE) --no-print-directory SAN=asan test

# Criterion cannot start under ThreadSanitizer (Snaipe/Criterion#274): the concurrent unit
# tests are compiled against tests/unit/tsan_shim instead, then the embedded-store integration
# tests run against a TSan build of the binary. Run once per change to the locking; not in CI.
TSAN_UNIT := test_cache test_store
tsan:
	@$(MAKE) --no-print-directory SAN=tsan build
	@mkdir -p build/tsan/tests
	@for t in $(TSAN_UNIT); do \
	  $(CC) $(CSTD) -O1 -g -fsanitize=thread -I. -Itests/unit/tsan_shim -pthread \
	    -o build/tsan/tests/$$t-tsan tests/unit/$$t.c build/tsan/libta.a $(LIBS) && \
	  TSAN_OPTIONS=halt_on_error=1 build/tsan/tests/$$t-tsan || exit 1; done
	TSAN_OPTIONS=halt_on_error=1 TA_BIN=$(abspath build/tsan/bin) TA_SAN=tsan $(PYTHON) -m unittest \
	  tests.integration.test_metrics_embedded tests.integration.test_api

valgrind: $(UT_BIN)
	@hack/run-unit.sh --valgrind $(UT_BIN)

bench: all
	hack/bench.sh

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

lint:
	clang-format --dry-run --Werror $$(git ls-files '*.c' '*.h')
	hack/check-banned.sh

clean:
	rm -rf build bin

IMAGE    ?= tempo-adapter:0.1.0
image:
	@if command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; then \
	  echo "docker build -t $(IMAGE) ."; docker build -t $(IMAGE) .; \
	elif command -v podman >/dev/null 2>&1; then \
	  echo "podman build -t $(IMAGE) ."; podman build -t $(IMAGE) .; \
	elif command -v docker >/dev/null 2>&1; then \
	  echo "make image: the docker CLI is here but no Docker engine answers ('docker info' fails)." >&2; \
	  echo "  Start one (or set DOCKER_HOST to a remote engine), or install podman, then run" >&2; \
	  echo "  make image   (it runs: docker build -t $(IMAGE) .)" >&2; exit 1; \
	else \
	  echo "make image: neither docker nor podman is installed. Install one, then run" >&2; \
	  echo "  make image   (it runs: docker build -t $(IMAGE) .  or  podman build -t $(IMAGE) .)" >&2; exit 1; \
	fi

-include $(shell find build -name '*.d' 2>/dev/null)
