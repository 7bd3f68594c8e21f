"""Energy and throughput of a mapped network on the chip, per image, by component, at each corner of the bands.

Ref: docs/architecture.md §2, §4, §7. :func:`evaluate` counts each layer's events (model/events.py) and cycles
(model/cycles.py), prices the events at one :class:`~neurophase.model.technology.Corner` of the technology's bands
(model/technology.py, at the chip's :func:`operating_point`; :func:`energy_breakdown`), adds the PCM read energy
that a caller computes from the bitline currents (model/read_energy.py) and the leakage over the image's latency;
the :class:`Evaluation` gives energy per image, TOPS/W, latency, frame rates and power. :func:`evaluate_bands`
evaluates every corner and :func:`band_of` turns a figure of the evaluations into a low / nominal / high band. The
paper's claims are checked against the bands in model/claims.py.
"""

from dataclasses import dataclass, field

from neurophase.model.arith import PeripheryFormat
from neurophase.model.checks import check_int, check_nonnegative
from neurophase.model.cycles import CycleModel
from neurophase.model.events import EventCounts, count_events
from neurophase.model.interface import InputEncoding, sar_conversion_cycles
from neurophase.model.technology import Band, Corner, OperatingPoint

__all__ = ["COMPONENTS", "energy_breakdown", "operating_point", "Evaluation", "evaluate", "evaluate_bands",
           "band_of", "DEVICES_PER_TILE"]

COMPONENTS = ("pcm_read", "wordline_drivers", "adc", "shift_add", "partial_sum_add", "bn", "register_file", "buffer",
              "router", "leakage")
DEVICES_PER_TILE = 256 * 256


def energy_breakdown(events, pcm_read_j, *, prices, fmt=PeripheryFormat(), leakage_j=0.0):
    """Energy (J) by component of ``events`` at ``prices`` (model/technology.py ``Prices``). Only rows driven with a
    1 cost a wordline drive; the register files are written with every activation a tile receives and read for the
    BN parameters of every output; the feature-map buffer is read for every activation a tile receives and written
    for every output; the router carries what tiles receive and the partial sums between tiles."""
    return {
        "pcm_read": float(pcm_read_j),
        "wordline_drivers": events.wordline_ones * prices.wordline_drive,
        "adc": events.adc_conversions * prices.adc_conversion,
        "shift_add": events.shift_add_ops * prices.accumulator_add,
        "partial_sum_add": events.partial_sum_adds * prices.accumulator_add,
        "bn": events.bn_ops * prices.bn_output,
        "register_file": events.register_file_bits(fmt) * prices.register_file_bit,
        "buffer": events.buffer_bits * prices.buffer_bit,
        "router": (events.activation_in_bits + events.partial_sum_bits) * prices.router_bit,
        "leakage": float(leakage_j),
    }


def operating_point(works, *, cycle_model, fmt, clock_hz, wordline_cells=256):
    """Where the chip runs a network: the ADC's conversion rate (one SAR step per clock, ``columns_per_adc`` columns
    per conversion cycle), the cells on a wordline, and a feature-map buffer holding two consecutive layers'
    outputs (the largest layer output twice, ``B_in`` bits per activation)."""
    cpa = cycle_model.columns_per_adc
    rate = cpa * clock_hz / sar_conversion_cycles(cpa, fmt.b_adc)
    largest = max(w.mvms * w.fan_out for w in works)
    return OperatingPoint(fmt.b_adc, rate, wordline_cells, -(-2 * largest * fmt.b_in // 8))


@dataclass
class Evaluation:
    """Energy and throughput of one network on the chip for one input encoding (all figures per image)."""
    encoding: InputEncoding
    layers: list                 # [(LayerWork, EventCounts, {component: J})], leakage left out
    events: EventCounts
    energy: dict                 # {component: J}, leakage over the image's latency included
    clock_hz: float
    tiles_available: int
    corner: Corner = Corner.NOMINAL
    leakage_w: float = 0.0       # static power of the chips needed
    point: OperatingPoint = None
    assumptions: dict = field(default_factory=dict)

    @property
    def energy_j(self):
        return sum(self.energy.values())

    @property
    def macs(self):
        return sum(w.macs for w, _, _ in self.layers)

    @property
    def ops(self):
        """Operations, counted as 2 x MACs (NeuroSim's and the paper's convention)."""
        return 2 * self.macs

    @property
    def weights(self):
        return sum(w.weights for w, _, _ in self.layers)

    @property
    def tiles_needed(self):
        return sum(w.tiles for w, _, _ in self.layers)

    @property
    def chips_needed(self):
        """Chips (or reprogramming passes of one chip) to hold every layer's weights once."""
        return -(-self.tiles_needed // self.tiles_available)

    @property
    def fits(self):
        return self.tiles_needed <= self.tiles_available

    @property
    def tops_per_w(self):
        return self.ops / self.energy_j / 1e12

    @property
    def latency_s(self):
        """One image, layers one after another, the tiles of each layer in parallel."""
        return self.events.cycles / self.clock_hz

    @property
    def fps_sequential(self):
        return 1.0 / self.latency_s

    @property
    def fps_pipelined(self):
        """Every layer on its own tiles, images in flight: the slowest layer sets the rate."""
        return self.clock_hz / max(ev.cycles for _, ev, _ in self.layers)

    @property
    def dynamic_energy_j(self):
        return self.energy_j - self.energy["leakage"]

    def power_w(self, fps):
        """Power (W) at ``fps`` frames per second: dynamic energy per image x fps plus the chips' leakage (on all
        the time)."""
        return self.dynamic_energy_j * check_nonnegative("fps", fps) + self.leakage_w

    def summary(self):
        return {
            "encoding": self.encoding.label, "corner": self.corner.value, "weights": self.weights, "macs": self.macs,
            "ops": self.ops,
            "tiles_needed": self.tiles_needed, "tiles_available": self.tiles_available, "fits": self.fits,
            "chips_or_passes": self.chips_needed, "energy_per_image_j": self.energy_j,
            "energy_breakdown_j": self.energy, "tops_per_w": self.tops_per_w, "latency_s": self.latency_s,
            "fps_sequential": self.fps_sequential, "fps_pipelined": self.fps_pipelined,
            "power_at_fps_sequential_w": self.power_w(self.fps_sequential),
            "power_at_fps_pipelined_w": self.power_w(self.fps_pipelined),
            "clock_hz": self.clock_hz, "leakage_w": self.leakage_w, "events": self.events.as_dict(),
            "bytes_moved": self.events.bytes_moved, "operating_point": self.point.__dict__ if self.point else None,
            "assumptions": self.assumptions,
        }


def evaluate(works, *, encoding, tech, pcm_read, activity, corner=Corner.NOMINAL, fmt=PeripheryFormat(),
             cycle_model=None, tiles_available=144, wordline_cells=256, assumptions=None):
    """Count events, energy and timing of a list of model/workload.py ``LayerWork`` at one corner of the bands.

    ``pcm_read(work, encoding, t_unit) -> J`` gives a layer's PCM read energy per image (from programmed tiles or
    from statistics), ``t_unit`` being the conduction time per pulse count (:meth:`CycleModel.read_time_unit`);
    ``activity(work)`` its activations' statistics (model/activity.py ``ActivationStats``). ``cycle_model``
    defaults to :meth:`CycleModel.from_technology`. Leakage: the technology's static power per device times the
    devices of the chips needed, over the image's latency.
    """
    encoding, corner = InputEncoding.parse(encoding), Corner(corner)
    cycle_model = cycle_model or CycleModel.from_technology(tech)
    tiles_available = check_int("tiles_available", tiles_available, 1)
    point = operating_point(works, cycle_model=cycle_model, fmt=fmt, clock_hz=tech.clock_hz,
                            wordline_cells=wordline_cells)
    prices = tech.prices(point, corner)
    t_unit = cycle_model.read_time_unit(encoding, fmt, tech.clock_hz)
    layers, total, energy = [], EventCounts(), dict.fromkeys(COMPONENTS, 0.0)
    for w in works:
        ev = count_events(w, activity=activity(w), encoding=encoding, fmt=fmt, cycle_model=cycle_model)
        e = energy_breakdown(ev, pcm_read(w, encoding, t_unit), prices=prices, fmt=fmt)
        layers.append((w, ev, e))
        total = total + ev
        energy = {k: energy[k] + e[k] for k in COMPONENTS}
    chips = -(-sum(w.tiles for w in works) // tiles_available)
    leakage_w = prices.leakage_per_device * DEVICES_PER_TILE * tiles_available * chips
    energy["leakage"] = leakage_w * total.cycles / tech.clock_hz
    return Evaluation(encoding, layers, total, energy, tech.clock_hz, tiles_available, corner, leakage_w, point,
                      dict(assumptions or {}))


def evaluate_bands(works, **kw):
    """{Corner: Evaluation} of :func:`evaluate` at every corner (same keywords, ``corner`` excluded)."""
    return {c: evaluate(works, corner=c, **kw) for c in Corner}


def band_of(evals, figure):
    """Band (lowest, nominal, highest) of ``figure(evaluation)`` over the corners of ``evals`` (from
    :func:`evaluate_bands`): the optimistic corner gives the highest TOPS/W and the lowest energy."""
    values = [figure(e) for e in evals.values()]
    return Band(min(values), figure(evals[Corner.NOMINAL]), max(values))
