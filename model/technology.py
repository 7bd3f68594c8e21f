"""Per-event energies and timings of the energy model, read from one data file with each value's published source.

Ref: docs/architecture.md §7. Values live in ``model/data/tech_28nm.toml`` (energies in joules per event, timings in
seconds), each with the node it was published at and its source. :func:`load_technology` scales every value to the
target node (28 nm) with the file's stated rule: energy and delay proportional to feature size, supply voltage
unchanged, i.e. a factor ``(target_nm / source_nm) ** exponent``. The factors used are kept in
:attr:`Technology.scale_factors` so a report can print them beside the values.
"""

import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from neurophase.model.checks import check_int, check_positive

__all__ = ["Technology", "load_technology", "TECH_PATH", "scale_factor"]

TECH_PATH = Path(__file__).resolve().parent / "data" / "tech_28nm.toml"


def scale_factor(source_nm, target_nm, exponent=1.0):
    """Factor that takes a value published at ``source_nm`` to ``target_nm``: ``(target / source) ** exponent``."""
    return (check_positive("target_nm", target_nm) / check_positive("source_nm", source_nm)) ** exponent


@dataclass(frozen=True)
class Technology:
    """Per-event energies (J) and timings (s) at the target node.

    adc_energy : {bits: J per conversion} of the SAR ADC.
    wordline_driver, shift_add, partial_sum_add, bn : J per event.
    buffer_access, buffer_word_bits : J per activation-buffer access of ``buffer_word_bits`` bits.
    router, flit_bits : J per router flit of ``flit_bits`` bits.
    sar_step : s per SAR step (one sampling step plus one per bit makes a conversion); also the clock period.
    t_pulse : s per bit-serial wordline read pulse.
    node_nm : target node. sources : {name: source text}. scale_factors : {name: factor applied}.
    """
    adc_energy: dict
    wordline_driver: float
    shift_add: float
    partial_sum_add: float
    bn: float
    buffer_access: float
    buffer_word_bits: int
    router: float
    flit_bits: int
    sar_step: float
    t_pulse: float
    node_nm: float = 28.0
    sources: dict = field(default_factory=dict, compare=False)
    scale_factors: dict = field(default_factory=dict, compare=False)
    scaling_rule: str = ""

    def __post_init__(self):
        for bits, e in self.adc_energy.items():
            check_int("adc_energy bits", bits, 1, 16)
            check_positive(f"adc_energy[{bits}] (J)", e)
        for name in ("wordline_driver", "shift_add", "partial_sum_add", "bn", "buffer_access", "router",
                     "sar_step", "t_pulse", "node_nm"):
            check_positive(name, getattr(self, name))
        check_int("buffer_word_bits", self.buffer_word_bits, 1, 1 << 16)
        check_int("flit_bits", self.flit_bits, 1, 1 << 16)

    @property
    def clock_hz(self):
        """Clock of the digital periphery: one SAR step per cycle."""
        return 1.0 / self.sar_step

    def adc_conversion_energy(self, bits):
        """J per conversion of a ``bits``-bit SAR ADC. Between tabulated widths the energy is interpolated linearly;
        outside the table it is an error rather than an extrapolation."""
        bits = check_int("adc bits", bits, 1, 16)
        table = sorted(self.adc_energy.items())
        lo, hi = table[0][0], table[-1][0]
        if not lo <= bits <= hi:
            raise ValueError(f"adc bits must be in [{lo}, {hi}] (the published table), got {bits}")
        if bits in self.adc_energy:
            return self.adc_energy[bits]
        (b0, e0), (b1, e1) = max((t for t in table if t[0] < bits)), min((t for t in table if t[0] > bits))
        return e0 + (e1 - e0) * (bits - b0) / (b1 - b0)

    def sar_conversion_time(self, bits):
        """Seconds per SAR conversion: (log2 L + 1) steps for L = 2^bits levels (NeuroSim)."""
        bits = check_int("adc bits", bits, 1, 16)
        return (math.log2(1 << bits) + 1) * self.sar_step

    def table(self):
        """Rows (name, value at the target node, unit, scale factor applied, source) for a report."""
        rows = [(f"adc_{b}b", e, "J/conversion", self.scale_factors["adc"], self.sources["adc"])
                for b, e in sorted(self.adc_energy.items())]
        for name, unit in (("wordline_driver", "J/drive"), ("shift_add", "J/op"), ("partial_sum_add", "J/add"),
                           ("bn", "J/output"), ("buffer_access", f"J/{self.buffer_word_bits}-bit access"),
                           ("router", f"J/{self.flit_bits}-bit flit"), ("sar_step", "s"), ("t_pulse", "s")):
            rows.append((name, getattr(self, name), unit, self.scale_factors[name], self.sources[name]))
        return rows


def load_technology(path=TECH_PATH):
    """Read a technology file and scale each value to its target node (see module docstring)."""
    with open(path, "rb") as f:
        d = tomllib.load(f)
    target = d["target"]["node_nm"]
    e_exp, t_exp = d["scaling"]["energy_exponent"], d["scaling"]["delay_exponent"]
    sources, factors = {}, {}

    def scaled(section, name, exponent):
        entry = d[section][name]
        # A value without a node (an analog design choice such as the pulse width) is not scaled.
        factors[name] = scale_factor(entry["node_nm"], target, exponent) if "node_nm" in entry else 1.0
        sources[name] = entry["source"]
        return entry

    adc = scaled("energy", "adc", e_exp)
    if len(adc["bits"]) != len(adc["value"]):
        raise ValueError(f"energy.adc: bits and value must have the same length in {path}")
    kw = {"adc_energy": {int(b): v * factors["adc"] for b, v in zip(adc["bits"], adc["value"])}}
    for name in ("wordline_driver", "shift_add", "partial_sum_add", "bn", "buffer_access", "router"):
        kw[name] = scaled("energy", name, e_exp)["value"] * factors[name]
    kw["buffer_word_bits"] = d["energy"]["buffer_access"]["word_bits"]
    kw["flit_bits"] = d["energy"]["router"]["flit_bits"]
    for name in ("sar_step", "t_pulse"):
        kw[name] = scaled("timing", name, t_exp)["value"] * factors[name]
    return Technology(node_nm=target, sources=sources, scale_factors=factors, scaling_rule=d["scaling"]["rule"],
                      **kw)
