"""Functional coverage of the chip runs: named bins of what matters (modes, input encodings, ReLU, last layer, shift
values, ADC rails, saturation in each block, each error kind, reduction group sizes, column blocks, back-to-back MVMs,
reset in each controller state), filled from what the golden executor saw while it answered the same command words as
the RTL (``GoldenExecutor.coverage`` and ``error_events``), which the chip testbenches write into their result files.

Ref: docs/architecture.md §4, D4, D7. A bin is hit or explained: :data:`EXPLAINED` gives, for each bin no command
stream can reach, why, and where else it is covered.
"""

from collections import Counter

from neurophase.model.interface import ChipErr, InputEncoding, TileErr

__all__ = ["BINS", "EXPLAINED", "sample", "report"]


def _any(*keys):
    return lambda c: sum(c.get(k, 0) for k in keys)


BINS = {
    "mode RAW": _any("raw"), "mode BN": _any("bn"),
    **{f"input encoding {e.label}": _any(f"encoding_{e.label}") for e in InputEncoding},
    "ReLU on": _any("relu_True"), "ReLU off": _any("relu_False"),
    "last layer (signed output)": _any("last_True"), "hidden layer": _any("last_False"),
    "shift 0": _any("shift_0"), "shift 1-15": _any(*(f"shift_{r}" for r in range(1, 16))),
    "shift 16-31": _any(*(f"shift_{r}" for r in range(16, 32))),
    "ADC low rail": _any("adc_rail_low"), "ADC high rail": _any("adc_rail_high"),
    "saturation: shift-and-add": _any("sat_shift_add"), "saturation: partial-sum reduction": _any("sat_reduce"),
    "saturation: tile BN": _any("sat_bn_tile"), "saturation: reducer BN": _any("sat_bn_reducer"),
    "reduction group of 1": _any("group_1"), "reduction group of 2": _any("group_2"),
    "all columns used": _any("columns_all"), "part of the columns used": _any("columns_part"),
    "several column blocks (routes) in one segment": _any("column_blocks"),
    "back-to-back MVMs of a tile": _any("back_to_back"),
    **{f"error {e.name}": _any(f"error {e.name}") for e in ChipErr},
    **{f"tile error {e.name}": _any(f"error tile {e.name}") for e in TileErr},
    **{f"reset in state {s}": _any(f"reset_{s}") for s in ("IDLE", "READ", "READOUT")},
}

EXPLAINED = {
    "error REDUCE_MISMATCH": "a fault of the chip, not of a command: the tiles of a group issue the same channels in "
                             "the same order (the reducer's channel/last comparison is covered by its block test)",
    "tile error ADC_START_ERROR": "a fault of the chip: formal/tile_ctrl.py proves the controller never starts the "
                                  "ADCs while they convert (adc_sequencing); the SAR's flag has its own block test",
    "saturation: partial-sum reduction": "needs two tiles' accumulators summing past +-2^19: the reference network's "
                                         "only group never does, and storms route single tiles; formal/reducer.py "
                                         "proves the saturation for every input",
    "saturation: shift-and-add": "the reference network's accumulators stay far inside 20 bits; formal/shift_add.py "
                                 "proves the saturation for every code sequence and tests/test_rtl_tile.py's "
                                 "in4_cpa4_last case (8-bit accumulator) saturates it in the tile RTL",
    "all columns used": "the reference network maps 10-64 of a tile's 128 columns and storms keep COLS_USED within "
                        "them; tests/test_rtl_tile.py's in4_cpa4_last case uses all 16 of its 16 columns",
    **{f"reset in state {s}": "reset is not a command: tests/test_rtl_reset.py resets the controller in each "
                              "state, and every formal/ proof takes reset as a free input in every cycle"
       for s in ("IDLE", "READ", "READOUT")},
}


def sample(golden):
    """The counts a result file stores: the executor's coverage and its error events (``error <kind>``)."""
    return {**golden.coverage, **{f"error {k}": v for k, v in golden.error_events.items()}}


def report(counts):
    """[(bin, hits, explanation or None)] over the merged ``counts`` of the runs."""
    c = Counter()
    for run in counts:
        c.update(run)
    return [(name, int(hits(c)), None if hits(c) else EXPLAINED.get(name, "NOT HIT")) for name, hits in BINS.items()]
