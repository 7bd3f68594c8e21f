"""Energy and throughput of a mapped network on the chip, per image, by component.

Ref: docs/architecture.md §2, §4, §7. :func:`evaluate` counts each layer's events (model/events.py) and cycles
(model/cycles.py), prices the events with the per-event energies of model/technology.py (:func:`energy_breakdown`)
and adds the PCM read energy that a caller computes from the bitline currents (model/read_energy.py); the
:class:`Evaluation` gives energy per image, TOPS/W, latency, frame rates and power. The paper's claims are checked
against it in model/claims.py.
"""

from dataclasses import dataclass, field

from neurophase.model.arith import PeripheryFormat
from neurophase.model.checks import check_int, check_nonnegative
from neurophase.model.cycles import CycleModel
from neurophase.model.events import EventCounts, count_events
from neurophase.model.interface import InputEncoding

__all__ = ["COMPONENTS", "energy_breakdown", "Evaluation", "evaluate"]

COMPONENTS = ("pcm_read", "wordline_drivers", "adc", "shift_add", "partial_sum_add", "bn", "buffer", "router")


def energy_breakdown(events, pcm_read_j, *, tech, fmt=PeripheryFormat()):
    """Energy (J) by component of ``events``. The activation buffer is read for every activation a tile receives and
    written for every output; the router carries what tiles receive and the partial sums between tiles."""
    return {
        "pcm_read": float(pcm_read_j),
        "wordline_drivers": events.wordline_pulses * tech.wordline_driver,
        "adc": events.adc_conversions * tech.adc_conversion_energy(fmt.b_adc),
        "shift_add": events.shift_add_ops * tech.shift_add,
        "partial_sum_add": events.partial_sum_adds * tech.partial_sum_add,
        "bn": events.bn_ops * tech.bn,
        "buffer": (events.activation_in_bits + events.activation_out_bits) / tech.buffer_word_bits
        * tech.buffer_access,
        "router": (events.activation_in_bits + events.partial_sum_bits) / tech.flit_bits * tech.router,
    }


@dataclass
class Evaluation:
    """Energy and throughput of one network on the chip for one input encoding (all figures per image)."""
    encoding: InputEncoding
    layers: list                 # [(LayerWork, EventCounts, {component: J})]
    events: EventCounts
    energy: dict                 # {component: J}
    clock_hz: float
    tiles_available: int
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

    def power_w(self, fps):
        """Dynamic power (W) at ``fps`` frames per second (no leakage: the technology file has no source for it)."""
        return self.energy_j * check_nonnegative("fps", fps)

    def summary(self):
        return {
            "encoding": self.encoding.label, "weights": self.weights, "macs": self.macs, "ops": self.ops,
            "tiles_needed": self.tiles_needed, "tiles_available": self.tiles_available, "fits": self.fits,
            "chips_or_passes": self.chips_needed, "energy_per_image_j": self.energy_j,
            "energy_breakdown_j": self.energy, "tops_per_w": self.tops_per_w, "latency_s": self.latency_s,
            "fps_sequential": self.fps_sequential, "fps_pipelined": self.fps_pipelined,
            "power_at_fps_sequential_w": self.power_w(self.fps_sequential),
            "power_at_fps_pipelined_w": self.power_w(self.fps_pipelined),
            "clock_hz": self.clock_hz, "events": self.events.as_dict(), "bytes_moved": self.events.bytes_moved,
            "assumptions": self.assumptions,
        }


def evaluate(works, *, encoding, tech, pcm_read, fmt=PeripheryFormat(), cycle_model=None, tiles_available=144,
             assumptions=None):
    """Count events, energy and timing of a list of model/workload.py ``LayerWork``.

    ``pcm_read(work, encoding, t_unit) -> J`` gives a layer's PCM read energy per image (from programmed tiles or
    from statistics), ``t_unit`` being the conduction time per pulse count (:meth:`CycleModel.read_time_unit`).
    ``cycle_model`` defaults to :meth:`CycleModel.from_technology`.
    """
    encoding = InputEncoding.parse(encoding)
    cycle_model = cycle_model or CycleModel.from_technology(tech)
    t_unit = cycle_model.read_time_unit(encoding, fmt, tech.clock_hz)
    layers, total, energy = [], EventCounts(), dict.fromkeys(COMPONENTS, 0.0)
    for w in works:
        ev = count_events(w, encoding=encoding, fmt=fmt, cycle_model=cycle_model)
        e = energy_breakdown(ev, pcm_read(w, encoding, t_unit), tech=tech, fmt=fmt)
        layers.append((w, ev, e))
        total = total + ev
        energy = {k: energy[k] + e[k] for k in COMPONENTS}
    return Evaluation(encoding, layers, total, energy, tech.clock_hz, check_int("tiles_available",
                      tiles_available, 1), dict(assumptions or {}))
