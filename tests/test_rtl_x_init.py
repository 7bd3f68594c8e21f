"""Unknowns: Verilator runs in which every register and memory starts at a random value, as in silicon (the
exported Verilog without its init values, ``--x-assign unique --x-initial unique``, ``+verilator+rand+reset+2``)
give, from a few seeds, the same results as the plain run: the tile's MVMs with their cycles and counters
(tests/test_rtl_tile.py's workload) and the chip's command errors (tb/chip_tb.py). Only reset gives a state its value."""

import re

import pytest

from neurophase.model.arith import PeripheryFormat

X_SEEDS = (1, 2, 3)


def test_randomised_runs_simulate_verilog_without_register_or_memory_init_values():
    from neurophase.rtl.bn_unit import BnUnit
    from neurophase.rtl.export import to_verilog
    from neurophase.tb.runner import without_initial_values
    text = to_verilog(BnUnit(channels=4), "np_bn_unit")   # registers and a parameter memory, each with init values
    stripped = without_initial_values(text)
    declarations = re.compile(r"^\s*reg\b.*;$", re.M)
    assert re.search(r"^\s*reg\b[^;]*=", text, re.M) and "initial begin" in text
    assert not re.search(r"^\s*reg\b[^;]*=", stripped, re.M) and "initial" not in stripped
    assert len(declarations.findall(stripped)) == len(declarations.findall(text))
    assert re.search(r"^\s*reg \\\S+ ;$", stripped, re.M), "an escaped name keeps the space that ends it"


@pytest.mark.parametrize("value", ["0", "-1", "one"])
def test_a_bad_x_seed_is_rejected(monkeypatch, value):
    from neurophase.tb.runner import run_cocotb
    monkeypatch.setenv("NEUROPHASE_X_SEED", value)
    with pytest.raises(ValueError, match=re.escape(f"NEUROPHASE_X_SEED must be an integer >= 1, got {value!r}")):
        run_cocotb(component=None, toplevel="np_x", test_module="x", sim="verilator", parameters={})


# Each builds the design a second time without its init values (a tile: about 1 min of CPU): in the slow set.
@pytest.mark.sim
@pytest.mark.slow
def test_tile_results_do_not_depend_on_initial_values(monkeypatch, tmp_path):
    from neurophase.tb.tile_sim import run_workload
    from neurophase.tb.tile_workload import random_workload
    wl = random_workload(seed=3, rows=32, columns=16, columns_per_adc=1, acts_per_beat=8, rows_used=27, cols_used=13,
                         fmt=PeripheryFormat(), mvms=5)
    keys = ("mvms", "outputs_checked", "mismatches", "cycles", "counters")
    plain = run_workload(wl, sim="verilator", case="in8_cpa1", workdir=tmp_path / "plain")
    for x_seed in X_SEEDS:
        monkeypatch.setenv("NEUROPHASE_X_SEED", str(x_seed))
        r = run_workload(wl, sim="verilator", case="in8_cpa1", workdir=tmp_path / f"x{x_seed}")
        assert {k: r.get(k) for k in keys} == {k: plain.get(k) for k in keys}, f"X seed {x_seed}"


@pytest.mark.sim
@pytest.mark.slow
def test_chip_command_errors_do_not_depend_on_initial_values(monkeypatch):
    from neurophase.tb.chip_sim import run_command_errors
    for x_seed in X_SEEDS:
        monkeypatch.setenv("NEUROPHASE_X_SEED", str(x_seed))
        run_command_errors("verilator")
