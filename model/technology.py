"""Per-event energies, timings and leakage of the energy model as bands, each value with its source.

Ref: docs/architecture.md §7. Values live in ``model/data/tech_28nm.toml``: every entry is a band (low <= nominal
<= high) with the node it was published at, the operating point it belongs to and its source (a key of
docs/references.md). :func:`load_technology` scales each band to the target node (28 nm) with the file's stated rule
(energy and delay proportional to feature size, supply unchanged: a factor ``(target_nm / source_nm) ** exponent``)
and keeps the factor with the value (:class:`Constant`).

Three prices are derived rather than read, because they depend on where the chip runs (:class:`OperatingPoint`):

* the ADC energy per conversion, ``FOM_W * 2^ENOB`` with the Walden figure of merit of the published converters of
  ``model/data/adc_survey.csv`` near the tile's conversion rate and resolution (:meth:`Technology.adc_energy`);
* the wordline drive, ``C_WL V_read V_supply`` from the line's wire and cell load plus its driver
  (:meth:`Technology.wordline_drive`);
* the feature-map buffer per bit, an SRAM sized for what it holds (:meth:`Technology.buffer_bit`).

:meth:`Technology.prices` gives every per-event price at one :class:`Corner` of the bands.
"""

import csv
import enum
import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from neurophase.model.checks import check_int, check_positive

__all__ = ["Corner", "Band", "Constant", "OperatingPoint", "Prices", "SurveyAdc", "Technology", "load_technology",
           "TECH_PATH", "scale_factor"]

TECH_PATH = Path(__file__).resolve().parent / "data" / "tech_28nm.toml"
CORE_SUPPLY_V = 0.9


def scale_factor(source_nm, target_nm, exponent=1.0):
    """Factor that takes a value published at ``source_nm`` to ``target_nm``: ``(target / source) ** exponent``."""
    return (check_positive("target_nm", target_nm) / check_positive("source_nm", source_nm)) ** exponent


class Corner(enum.Enum):
    """Which end of every band an evaluation prices events at: LOW is the optimistic end (least energy)."""
    LOW = "low"
    NOMINAL = "nominal"
    HIGH = "high"


@dataclass(frozen=True)
class Band:
    """A value's range: ``low <= nominal <= high``."""
    low: float
    nominal: float
    high: float

    def __post_init__(self):
        if not self.low <= self.nominal <= self.high:
            raise ValueError(f"a band must have low <= nominal <= high, got {self.low:g}, {self.nominal:g}, "
                             f"{self.high:g}")

    def at(self, corner):
        return getattr(self, Corner(corner).value)

    def scaled(self, factor):
        return Band(self.low * factor, self.nominal * factor, self.high * factor)

    def __add__(self, other):
        return Band(self.low + other.low, self.nominal + other.nominal, self.high + other.high)


@dataclass(frozen=True)
class Constant:
    """One entry of the technology file at the target node: its band, unit, source, operating point, the node it was
    published at (None: node-independent) and the scale factor applied."""
    name: str
    band: Band
    unit: str
    source: str
    operating_point: str
    node_nm: float = None
    factor: float = 1.0


@dataclass(frozen=True)
class OperatingPoint:
    """Where the chip runs, for the derived prices: the ADC's resolution and conversion rate (Hz, from the cycle
    model), the cells on one wordline, and the feature-map buffer's capacity (bytes)."""
    b_adc: int
    adc_rate_hz: float
    wordline_cells: int = 256
    buffer_bytes: int = 8192

    def __post_init__(self):
        check_int("b_adc", self.b_adc, 1, 16)
        check_positive("adc_rate_hz", self.adc_rate_hz)
        check_int("wordline_cells", self.wordline_cells, 1)
        check_int("buffer_bytes", self.buffer_bytes, 1)


@dataclass(frozen=True)
class Prices:
    """Per-event prices at one corner (J, or W for leakage)."""
    wordline_drive: float            # one row driven with a 1 (bit-serial plane) or driven at all (PWM read)
    adc_conversion: float
    accumulator_add: float           # shift-and-add step or partial-sum add
    bn_output: float                 # one multiply and one add
    register_file_bit: float         # per bit written to a tile's activation register or read from BN registers
    buffer_bit: float                # per bit read from or written to the feature-map buffer
    router_bit: float
    leakage_per_device: float        # W


@dataclass(frozen=True)
class SurveyAdc:
    """One published converter of model/data/adc_survey.csv."""
    row: int
    fs_hz: float
    node_nm: float
    energy_j: float
    enob: float

    @property
    def fom_walden(self):
        """J per conversion step: P / (f_s 2^ENOB)."""
        return self.energy_j / 2 ** self.enob


def read_survey(path):
    """The converters of a survey file (comment lines start with #)."""
    with open(path) as f:
        rows = list(csv.DictReader(line for line in f if not line.startswith("#")))
    return [SurveyAdc(int(r["row"]), float(r["fs_hz"]), float(r["node_nm"]), float(r["energy_pj"]) * 1e-12,
                      float(r["enob"])) for r in rows]


@dataclass
class Technology:
    """Bands of per-event energies (J), leakage (W per device) and timings (s) at the target node, and the
    published converters the ADC band is drawn from. See the module docstring for the derived prices."""
    constants: dict
    survey: list
    adc_rules: dict
    sram: dict
    node_nm: float = 28.0
    scaling_rule: str = ""
    sources: dict = field(default_factory=dict)

    def band(self, name):
        return self.constants[name].band

    @property
    def sar_step(self):
        return self.band("sar_step").nominal

    @property
    def t_pulse(self):
        return self.band("t_pulse").nominal

    @property
    def clock_hz(self):
        """Clock of the digital periphery: one SAR step per cycle."""
        return 1.0 / self.sar_step

    # -- derived prices -----------------------------------------------------------------------------------------------
    def adc_converters(self, b_adc, rate_hz):
        """The survey converters near ``rate_hz`` and the ENOB of a ``b_adc``-bit conversion (see the file)."""
        enob = b_adc - self.band("enob_loss").nominal
        r = self.adc_rules
        return [a for a in self.survey if rate_hz / r["rate_window"] <= a.fs_hz <= rate_hz * r["rate_window"]
                and abs(a.enob - enob) <= r["enob_window"] and a.node_nm <= r["max_node_nm"]]

    def adc_fom(self, b_adc, rate_hz):
        """Band of the Walden figure of merit (J per step): best, median, ``high_percentile`` of the converters."""
        chosen = self.adc_converters(check_int("b_adc", b_adc, 1, 16), check_positive("adc rate (Hz)", rate_hz))
        if not chosen:
            r = self.adc_rules
            raise ValueError(f"adc operating point must have published converters within a factor "
                             f"{r['rate_window']:g} of {rate_hz / 1e6:.3g} MS/s and {r['enob_window']:g} bits of "
                             f"ENOB {b_adc - self.band('enob_loss').nominal:g}, found none")
        foms = np.array([a.fom_walden for a in chosen])
        return Band(float(foms.min()), float(np.median(foms)),
                    float(np.percentile(foms, self.adc_rules["high_percentile"])))

    def adc_energy(self, b_adc, rate_hz):
        """Band of J per conversion: ``FOM_W * 2^(b_adc - enob_loss)``."""
        return self.adc_fom(b_adc, rate_hz).scaled(2 ** (b_adc - self.band("enob_loss").nominal))

    def wordline_capacitance(self, cells):
        """F of a wordline across ``cells`` cells: wire over their pitch plus each cell's load (nominal)."""
        per_cell = self.band("cell_pitch").nominal * self.band("wire_cap").nominal + self.band("cell_load").nominal
        return check_int("wordline cells", cells, 1) * per_cell

    def wordline_drive(self, cells, v_read=0.2):
        """Band of J per drive: ``C_WL V_read V_supply`` plus the driver (a logical-effort buffer chain at the core
        supply; ISAAC's whole 1-bit DAC at the high end)."""
        c = self.wordline_capacitance(cells)
        line = self.band("supply").scaled(c * check_positive("v_read (V)", v_read))
        chain = self.band("driver_overhead").nominal * c * CORE_SUPPLY_V ** 2
        return Band(line.low + chain, line.nominal + chain, line.high + self.band("isaac_dac").high)

    def sram_bit(self, capacity_bytes):
        """J per bit of an SRAM access, log-log interpolated in capacity over the file's points (clamped to them: a
        larger buffer is banks of the largest)."""
        caps, values = self.sram["capacity_bytes"], self.sram["value"]
        c = min(max(check_positive("buffer capacity (bytes)", capacity_bytes), caps[0]), caps[-1])
        e = math.exp(np.interp(math.log(c), np.log(caps), np.log(values)))
        return e / self.sram["word_bits"]

    def buffer_bit(self, capacity_bytes):
        """Band of J per bit of the feature-map buffer: eDRAM (ISAAC's) at the low end, an SRAM of the capacity it
        needs at the nominal, one array of the largest capacity at the high end."""
        edram = self.band("edram_bit").nominal
        return Band(min(edram, self.sram_bit(capacity_bytes)), self.sram_bit(capacity_bytes),
                    self.sram_bit(self.sram["capacity_bytes"][-1]))

    def prices(self, point, corner=Corner.NOMINAL):
        """:class:`Prices` at ``corner`` for a chip running at ``point`` (:class:`OperatingPoint`)."""
        corner = Corner(corner)
        bn = self.band("bn_multiply") + self.band("bn_add")
        return Prices(
            wordline_drive=self.wordline_drive(point.wordline_cells).at(corner),
            adc_conversion=self.adc_energy(point.b_adc, point.adc_rate_hz).at(corner),
            accumulator_add=self.band("accumulator_add").at(corner),
            bn_output=bn.at(corner),
            register_file_bit=self.band("register_file_bit").at(corner),
            buffer_bit=self.buffer_bit(point.buffer_bytes).at(corner),
            router_bit=self.band("router_bit").at(corner),
            leakage_per_device=self.band("leakage").at(corner))

    def table(self):
        """Rows (name, low, nominal, high, unit, scale factor, operating point, source) for a report."""
        return [(c.name, c.band.low, c.band.nominal, c.band.high, c.unit, c.factor, c.operating_point, c.source)
                for c in self.constants.values()]


def _constant(name, entry, target, exponent, where):
    for key in ("low", "nominal", "high", "unit", "source", "operating_point"):
        if key not in entry:
            raise ValueError(f"{where}: every value needs low, nominal, high, unit, source and operating_point; "
                             f"{key} is missing")
    node = entry.get("node_nm")
    factor = scale_factor(node, target, exponent) if node is not None else 1.0
    band = Band(entry["low"], entry["nominal"], entry["high"]).scaled(factor)
    return Constant(name, band, entry["unit"], entry["source"], entry["operating_point"], node, factor)


def load_technology(path=TECH_PATH):
    """Read a technology file, scale each band to the target node and read the ADC survey it names.

    A file that is not TOML, or lacks a table or key of the layout of model/data/tech_28nm.toml, raises ValueError
    naming it."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            d = tomllib.load(f)
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"technology file {path} is not valid TOML ({e})") from None
    try:
        return _technology(path, d)
    except (KeyError, TypeError) as e:
        what = f"key {e.args[0]!r}" if isinstance(e, KeyError) else f"the expected layout ({e})"
        raise ValueError(f"technology file {path} lacks {what}: give a file laid out as model/data/tech_28nm.toml"
                         ) from None


def _technology(path, d):
    target = d["target"]["node_nm"]
    e_exp, t_exp = d["scaling"]["energy_exponent"], d["scaling"]["delay_exponent"]
    constants = {}
    entries = [("enob_loss", d["adc"]["enob_loss"], e_exp, "adc.enob_loss")]
    entries += [(k, v, e_exp, f"wordline.{k}") for k, v in d["wordline"].items()]
    entries += [(k, v, e_exp, f"energy.{k}") for k, v in d["energy"].items() if k != "sram"]
    entries += [("leakage", d["leakage"], e_exp, "leakage")]
    entries += [(k, v, t_exp, f"timing.{k}") for k, v in d["timing"].items()]
    for name, entry, exponent, where in entries:
        # Entries without a node (capacitances, lengths, voltages given at 28 nm; leakage) are not scaled.
        constants[name] = _constant(name, entry, target, exponent, f"{path.name} {where}")
    sram = dict(d["energy"]["sram"])
    factor = scale_factor(sram["node_nm"], target, e_exp)
    sram["value"] = [v * factor for v in sram["value"]]
    adc = d["adc"]
    rules = {k: adc[k] for k in ("rate_window", "enob_window", "max_node_nm", "high_percentile")}
    sources = {"adc": adc["source"], "sram": sram["source"]}
    return Technology(constants, read_survey(path.parent / adc["survey"]), rules, sram, node_nm=target,
                      scaling_rule=d["scaling"]["rule"], sources=sources)
