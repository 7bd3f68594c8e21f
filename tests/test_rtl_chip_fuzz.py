"""Command-stream fuzzing of the chip RTL (tb/chip_fuzz.py, tb/chip_fuzz_tb.py): storms of legal and illegal command
words on both simulators, answered word for word and error bit for error bit as the golden executor answers them, and
an image classified as the golden model does after each storm. A failing run prints the command that replays it;
NEUROPHASE_FUZZ_SEED / _STORMS / _WORDS override the seed and sizes."""

import os

import numpy as np
import pytest

# Storms per run and words per storm: Verilator simulates ~30k cycles/s, Icarus a few hundred to a few thousand.
SIZES = {"verilator": (4, 4000), "icarus": (2, 1500)}


def _sizes(sim):
    storms, words = SIZES[sim]
    return (int(os.environ.get("NEUROPHASE_FUZZ_STORMS", storms)), int(os.environ.get("NEUROPHASE_FUZZ_WORDS", words)))


# Icarus: its two storms and two images took 5 min 52 s of CPU (1 h wall at load 7-30): in the slow set; one storm
# (NEUROPHASE_FUZZ_STORMS=1) took 3 min 26 s of CPU, 19 min wall at load 12-15.
# Verilator: 211 s wall with the harness built (load 9-12); its cold build (shared with tests/test_rtl_chip.py) took
# about 15 minutes at load 10-17, past the 900 s default (with PWM tiles in the storms: 37 s of simulation, 7 min 7 s
# wall with the cold build at load 8-11).
@pytest.mark.sim
@pytest.mark.parametrize("sim", [pytest.param("icarus", marks=[pytest.mark.slow, pytest.mark.timeout(5400)]),
                                 pytest.param("verilator", marks=pytest.mark.timeout(2400))])
def test_command_storms_through_the_chip_rtl_answer_as_the_golden_executor(sim):
    from neurophase.tb.chip_fuzz import run_fuzz
    storms, words = _sizes(sim)
    seed = int(os.environ.get("NEUROPHASE_FUZZ_SEED", 1))
    r = run_fuzz(sim=sim, fuzz_seed=seed, storms=storms, words=words)
    assert "error" not in r and r["mismatches"] == 0 and r["pin_errors"] == 0, f"replay: {r['replay']}\n{r}"
    assert r["words"] >= storms * words
    assert all(i["logits_equal"] and i["rtl"] == i["golden"] for i in r["images"]), r["images"]


def test_a_storm_is_answered_by_the_golden_executor_and_reaches_every_kind_of_error():
    """Model side only: the golden executor answers a storm without refusing anything (one of its segments ends with
    a WRITE's header, the data word in the next), every chip and tile error that a command can cause is raised
    (REDUCE_MISMATCH and ADC_START_ERROR are faults of the chip, not of a command), and the same seed gives the same
    words."""
    from neurophase.model.chip import reference_chip
    from neurophase.model.executor import GoldenExecutor
    from neurophase.model.host import Host
    from neurophase.model.interface import ChipErr, Op, TileErr, decode_header
    from neurophase.tb.chip_fuzz import command_storm
    from neurophase.tb.chip_fuzz_tb import shadow_of
    chip = reference_chip(0)
    ex = GoldenExecutor(chip, 3600.0, 0)
    ex.execute(Host(chip).config_segment())
    segs = command_storm(5, shadow_of(chip, ex), 3000)
    assert sum(len(s.words) for s in segs) >= 3000
    again = command_storm(5, shadow_of(chip, ex), 3000)
    assert all(np.array_equal(a.words, b.words) for a, b in zip(segs, again))
    # one cut leaves a WRITE's header waiting for its data word in the next segment
    assert any(decode_header(int(s.words[-1])).op == Op.WRITE for s in segs[:-1])
    for s in segs:
        ex.execute(s)
    kinds = {e.name for e in ChipErr if e != ChipErr.REDUCE_MISMATCH} | \
        {f"tile {e.name}" for e in TileErr if e != TileErr.ADC_START_ERROR}
    assert set(ex.error_events) == kinds


def test_a_storm_reads_some_tiles_by_pwm_and_keeps_each_tiles_encoding():
    """Model side only: a storm opens by selecting PWM inputs for a nonempty set of tiles (bit-serial for the others)
    and its legal MODE writes keep each tile's encoding, so the golden executor runs MVMs of both encodings (it
    refuses a tile whose encoding changes between its MVMs of a segment)."""
    from neurophase.model.chip import reference_chip
    from neurophase.model.executor import GoldenExecutor
    from neurophase.model.host import Host
    from neurophase.model.interface import InputEncoding
    from neurophase.tb.chip_fuzz import command_storm
    from neurophase.tb.chip_fuzz_tb import shadow_of
    chip = reference_chip(0)
    ex = GoldenExecutor(chip, 3600.0, 0)
    ex.execute(Host(chip).config_segment())
    shadow = shadow_of(chip, ex)
    segs = command_storm(7, shadow, 3000)
    assert InputEncoding.PWM in shadow.encodings.values()
    for s in segs:
        ex.execute(s)
    assert {n: ex.encoding(n) for n in range(shadow.tiles)} == shadow.encodings
    assert ex.coverage["encoding_pwm"] > 0 and ex.coverage["encoding_bit-serial"] > 0
