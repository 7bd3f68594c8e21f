"""Published DNN+NeuroSim results, and event counts in NeuroSim's configuration, for the energy cross-check.

Ref: docs/energy_crosscheck.md. :func:`load_neurosim` reads model/data/neurosim.toml (each result with its source and
configuration). :func:`neurosim_conversions` counts the ADC conversions of a network mapped as NeuroSim maps it:
weights of ``weight_bits`` bits on ``cells_per_weight`` one-bit cells side by side, fan-in split into sub-arrays of
``subarray_rows`` rows, inputs applied bit-serially, every column converted once per input bit and sub-array (the
columns sharing an ADC take turns); with that count a published ADC energy becomes an energy per conversion.
"""

import tomllib
from pathlib import Path

from neurophase.model.checks import check_int

__all__ = ["NEUROSIM_PATH", "load_neurosim", "neurosim_conversions"]

NEUROSIM_PATH = Path(__file__).resolve().parent / "data" / "neurosim.toml"


def load_neurosim(path=NEUROSIM_PATH):
    """The published NeuroSim results (model/data/neurosim.toml)."""
    with open(path, "rb") as f:
        return tomllib.load(f)


def neurosim_conversions(layers, *, subarray_rows, cells_per_weight, input_bits):
    """ADC conversions per image of ``layers`` (``fan_in``, ``fan_out``, ``mvms``) in NeuroSim's mapping:
    ``mvms x input_bits x ceil(fan_in / subarray_rows) x fan_out x cells_per_weight`` summed over the layers."""
    rows = check_int("subarray_rows", subarray_rows, 1)
    cells = check_int("cells_per_weight", cells_per_weight, 1)
    bits = check_int("input_bits", input_bits, 1)
    return sum(l.mvms * bits * -(-l.fan_in // rows) * l.fan_out * cells for l in layers)
