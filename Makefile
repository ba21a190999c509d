# Two commands for a fresh Debian 12 machine: `make run` and `make test`.
# Every target first installs the missing Debian packages (scripts/install-deps.sh), then configures and builds.
BUILD_DIR ?= build
JOBS      ?= $(shell nproc)
DATA_DIR  ?= ./var
ADDR      ?= 127.0.0.1:50051
METRICS_PORT ?= 9464

.PHONY: deps configure build run test bench demo clean

deps:
	@./scripts/install-deps.sh

configure: deps
	@cmake -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=Release >/dev/null

build: configure
	@cmake --build $(BUILD_DIR) -j $(JOBS) -- --no-print-directory

run: build
	@./scripts/run-server.sh $(BUILD_DIR) $(DATA_DIR) $(ADDR) $(METRICS_PORT)

test: build
	@cd $(BUILD_DIR) && ctest --output-on-failure --timeout 1200

bench: build
	@./scripts/bench.sh $(BUILD_DIR)

demo: build
	@./scripts/demo.sh $(BUILD_DIR)

clean:
	@rm -rf $(BUILD_DIR)
