"""Event counts, energy and latency of a mapped network, and the check of the paper's headline figures.

Ref: docs/architecture.md §2, §4, §7.

**Event counts** (:class:`EventCounts`, per image) are integers that the analytic counter (:func:`count_events`, from
a mapping) and an RTL simulation both fill, so a test can compare them field by field (:meth:`EventCounts.diff`).
For a layer of ``M`` MVMs per image, fan-in ``K`` rows split into ``nR`` row tiles, fan-out ``N`` columns split into
``nC`` column tiles, and ``P`` read pulses per MVM (``B_in`` bit-planes when bit-serial, 1 when pulse-width
modulated):

* tile MVMs ``M nR nC``; plane reads ``M nR nC P``;
* wordline pulses ``M P K nC`` (every mapped row is driven on every pulse: the driver slot is spent whatever the bit);
* ADC conversions ``M P N nR``; shift-and-add steps: one per conversion when bit-serial, none for PWM;
* partial-sum adds ``M N (nR - 1)`` (row tiles added before BN); BN outputs ``M N``;
* bits moved: activations in ``M K nC B_in`` (each column tile receives its rows), out ``M N B_in`` (``out_bits`` for
  a last layer), partial sums ``M N (nR - 1) acc_bits``;
* clock cycles: the chip's CYCLES count of the layer's command segment, from its first command word to its last
  response word (:meth:`CycleModel.segment_cycles`, which follows the chip's command decoder and the tile
  controller's sequencing): the tiles of a layer work in parallel, layers one after another.

**Energy** multiplies the counts by the per-event energies of :mod:`.technology`, plus the PCM read energy from the
bitline currents, ``sum V_read * I * t`` over every device and pulse, i.e. ``V_read^2 t sum_i w_i sum_j G_ij`` with
``w_i`` the number of pulses row i receives (the popcount of its activation when bit-serial, the activation itself
in LSB durations when PWM). :func:`tile_read_energy` takes the conductances of a programmed golden-model tile;
:func:`statistical_read_energy` takes a mean device conductance and activation statistics, for networks too large to
program (ResNet-50), with the assumptions stated in :func:`gaussian_weight_conductance` and
:func:`relu_activation_stats`.

**Claims** (:func:`check_claims`) tests each headline figure of the paper against the others and against the
twin's estimate, computing every verdict from its inputs.
"""

import math
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np

from neurophase.model.arith import PeripheryFormat, bit_planes
from neurophase.model.checks import check_int, check_nonnegative, check_positive, check_unsigned_array

__all__ = ["ENCODINGS", "MatrixWork", "LayerWork", "CycleModel", "EventCounts", "count_events", "COMPONENTS",
           "energy_breakdown", "works_from_mapping", "tile_read_energy", "read_energy", "statistical_read_energy",
           "gaussian_weight_conductance", "relu_activation_stats", "ActivationStats", "Evaluation", "evaluate", "Claim",
           "check_claims", "load_published", "PUBLISHED_PATH"]

ENCODINGS = ("bit-serial", "pwm")
PUBLISHED_PATH = Path(__file__).resolve().parent / "data" / "published.toml"


def _check_encoding(encoding):
    if encoding not in ENCODINGS:
        raise ValueError(f"encoding must be one of {ENCODINGS}, got {encoding!r}")
    return encoding


class MatrixWork:
    """Weights and multiply-accumulates per image of a layer that applies a ``fan_in x fan_out`` matrix ``mvms``
    times per image: the one definition of both, for a class with ``fan_in``, ``fan_out`` and ``mvms`` attributes
    (:class:`LayerWork`, :class:`neurophase.model.resnet50.ConvLayer`)."""

    @property
    def weights(self):
        return self.fan_in * self.fan_out

    @property
    def macs(self):
        return self.weights * self.mvms


@dataclass(frozen=True)
class LayerWork(MatrixWork):
    """One layer as the chip runs it: its matrix, its MVMs per image, and how a mapping split it over tiles.

    row_blocks : rows used in each row tile (sums to fan_in). col_blocks : logical columns used in each column tile
    (sums to fan_out). last : the layer emits signed ``out_bits`` outputs instead of B_in-bit activations.
    """
    name: str
    fan_in: int
    fan_out: int
    mvms: int
    row_blocks: tuple
    col_blocks: tuple
    last: bool = False

    def __post_init__(self):
        check_int(f"{self.name}: fan_in", self.fan_in, 1)
        check_int(f"{self.name}: fan_out", self.fan_out, 1)
        check_int(f"{self.name}: mvms", self.mvms, 0)
        for what, blocks, total in (("row_blocks", self.row_blocks, self.fan_in),
                                    ("col_blocks", self.col_blocks, self.fan_out)):
            if not blocks or any(check_int(f"{self.name}: {what} entry", b, 1) != b for b in blocks) \
                    or sum(blocks) != total:
                raise ValueError(f"{self.name}: {what} must be positive block sizes summing to {total}, "
                                 f"got {blocks}")

    @property
    def tiles(self):
        return len(self.row_blocks) * len(self.col_blocks)


@dataclass(frozen=True)
class CycleModel:
    """Clock cycles of tile MVMs (rtl/tile_ctrl.py) and of whole layers on the chip (rtl/chip.py).

    **A tile alone** (:meth:`mvm_cycles`). A read holds the wordlines while the ADCs convert (there is no
    sample-and-hold): a bit-serial plane takes ``max(pulse_cycles, conversion) + 1`` cycles, where ``conversion =
    columns_per_adc * b_adc + 1`` (one comparator decision per bit and column, one sampling step: NeuroSim's log2 L +
    1) and the extra cycle is the start strobe. A pulse-width-modulated read takes ``(2^B_in - 1) * pwm_lsb_cycles``
    cycles of integration, then the conversion and the strobe. After the reads two things run side by side, and the
    next MVM starts when both are done:

    * readout: ``issue = ceil(cols_used / bn_lanes)`` cycles issuing channels to the BN unit (the controller's
      output FIFO takes one beat per cycle while the output is accepted), plus the pass through IDLE: ``issue + 1``;
    * loading the next vector: ``ceil(rows_used / acts_per_beat)`` beats, plus the pass through IDLE.

    Measured on the tile RTL (tests/test_energy_rtl.py), e.g. 8-bit, 13 of 16 columns, 27 rows at 8 per beat:
    80 + 13 + 1 = 94 cycles per MVM; 200 rows: 80 + 25 + 1 = 106.

    **A layer on the chip** (:meth:`segment_cycles`): the cycles the chip's CYCLES counter gives for one command
    segment of the host runtime (model/runtime.py ``Host.layer_segment``), from its first command word to its last
    response word, with the host offering a command word in every cycle the chip takes one and taking every response
    word at once. Per column block (a route of ``s`` row-block tiles, run one after another) the segment holds: for
    ``s > 1`` the reducer's BN registers (``2 + 2 cols`` chip WRITEs), then a ROUTE, then per MVM one ACT per tile
    in tile order. Times below are cycles; each term is the RTL's:

    * a WRITE takes 3 cycles (header, data word, the write), a ROUTE 2 (header, the switch); the first WRITE or the
      ROUTE of a block waits in its last cycle until the previous block has no MVM outstanding (``settled``);
    * an ACT of ``K`` activations is ``w = ceil(K / acts_per_word)`` data words in ``b = ceil(w / words_per_beat)``
      beats (``words_per_beat = acts_per_beat / acts_per_word``). The decoder takes its header in cycle ``H`` and
      the words of the first beat (``f = min(w, words_per_beat)``) in the next ``f`` cycles; the beat is offered from
      ``H + f + 1`` and taken by the tile in cycle ``A``, no earlier than the tile accepts input (for its second and
      later vectors: the READOUT of its previous MVM, ``R``; the buffer takes nothing while the wordlines are
      driven). The decoder takes no word while a beat waits, so every later beat costs its words plus one cycle:
      the last beat is taken at ``L = A + (w - f) + (b - 1)``, and the next header at ``L + 1``;
    * the tile is full from ``L + 1`` and starts its planes (PLANE) in ``P = max(L + 1, E) + 1``, ``E`` being the
      first IDLE cycle after its previous readout; READOUT starts at ``R = P + planes``, ``planes = reads x
      read_cycles``, and issues one channel per cycle for ``c = ceil(cols / bn_lanes)`` cycles, so ``E = R + c``;
    * a tile's output beat is offered ``bn_latency + 1`` cycles after its issue (BN pipeline, output FIFO), or 1
      cycle in RAW mode (the tiles of a reduction group); the chip takes a channel when every tile of the route
      offers it, so the group's last tile to read out (``R_max``) paces the others: a tile may hold at most
      ``bn_latency + 2`` beats not taken (its output FIFO's credits), so with ``c`` above that its last issue is no
      earlier than ``R_max + 1 + c - (bn_latency + 2)``, and ``E = max(R + c, R_max + c - bn_latency)``;
    * the chip takes channel ``j`` of the block's last MVM at ``X = R_max + a + j`` (``a`` = the tile's offer delay
      above) and writes it into its response FIFO directly, or ``bn_latency`` cycles later through its own BN unit
      (a reduction), where it is read 2 cycles later (SyncFIFOBuffered); no MVM is outstanding from the cycle after
      the last channel's FIFO write;
    * the segment ends with the read of its last response word: ``R_max + a + c - 1 + (0 or bn_latency) + 2``.

    The MVMs repeat the same recurrence; once every time of the state (decoder, each tile's ``R`` and ``E``) has moved
    by the same period from one MVM to the next, the rest follow by that period, so a layer of any size costs a few
    MVMs of arithmetic. ``bn_lanes > 1`` is a design option the RTL does not have (the model then widens the chip's
    output path to match).
    """
    pulse_cycles: int = 8
    columns_per_adc: int = 1
    pwm_lsb_cycles: int = 1
    bn_lanes: int = 1
    acts_per_beat: int = 16
    word_bits: int = 32          # the chip's command word (model/runtime.py WORD_BITS)
    bn_latency: int = 3          # rtl/bn_unit.py BnUnit.latency

    def __post_init__(self):
        check_int("pulse_cycles", self.pulse_cycles, 1)
        check_int("columns_per_adc", self.columns_per_adc, 1, 128)
        check_int("pwm_lsb_cycles", self.pwm_lsb_cycles, 1)
        check_int("bn_lanes", self.bn_lanes, 1, 256)
        check_int("acts_per_beat", self.acts_per_beat, 1, 4096)
        check_int("word_bits", self.word_bits, 1, 1024)
        check_int("bn_latency", self.bn_latency, 0, 16)

    @classmethod
    def from_technology(cls, tech, **kw):
        """The shortest wordline pulse in whole cycles of the technology's clock (one SAR step per cycle)."""
        return cls(pulse_cycles=math.ceil(tech.t_pulse / tech.sar_step - 1e-9), **kw)

    def conversion_cycles(self, b_adc):
        return self.columns_per_adc * b_adc + 1

    def read_cycles(self, encoding, fmt):
        """Cycles of one read (the wordlines are driven for all of them): one plane, or the whole PWM read."""
        conv = self.conversion_cycles(fmt.b_adc)
        if _check_encoding(encoding) == "bit-serial":
            return max(self.pulse_cycles, conv) + 1
        return ((1 << fmt.b_in) - 1) * self.pwm_lsb_cycles + conv + 1

    def plane_cycles(self, encoding, fmt):
        """Cycles of all the reads of one MVM (the tile's PLANE state)."""
        reads = fmt.b_in if _check_encoding(encoding) == "bit-serial" else 1
        return reads * self.read_cycles(encoding, fmt)

    def mvm_cycles(self, encoding, fmt, rows_used, cols_used):
        """Cycles from one MVM's start to the next's on a tile alone using ``rows_used`` x ``cols_used``."""
        readout = -(-cols_used // self.bn_lanes) + 1
        load = -(-rows_used // self.acts_per_beat) + 1
        return self.plane_cycles(encoding, fmt) + max(readout, load)

    def read_time_unit(self, encoding, fmt, clock_hz):
        """Seconds a wordline conducts per unit of its pulse count: a whole plane read (bit-serial), one LSB (PWM)."""
        cycles = self.read_cycles(encoding, fmt) if encoding == "bit-serial" else self.pwm_lsb_cycles
        return cycles / check_positive("clock_hz", clock_hz)

    def segment_cycles(self, work, mvms, encoding, fmt):
        """Cycles of the chip's command segment running ``mvms`` vectors of layer ``work`` (:class:`LayerWork`)."""
        if check_int("mvms", mvms, 0) == 0:
            return 0
        apw = self.word_bits // fmt.b_in
        if self.acts_per_beat % apw:
            raise ValueError(f"acts_per_beat must be a multiple of {apw} (activations per command word), "
                             f"got {self.acts_per_beat}")
        wpb = self.acts_per_beat // apw
        planes = self.plane_cycles(encoding, fmt)
        credits = self.bn_latency + 2
        s = len(work.row_blocks)
        words = [-(-k // apw) for k in work.row_blocks]
        acts = [(w, min(w, wpb), -(-w // wpb)) for w in words]           # (words, first-beat words, beats)
        offer = 1 if s > 1 else self.bn_latency + 1                      # issue -> beat offered to the chip
        to_fifo = self.bn_latency if s > 1 else 0                        # take -> response FIFO write
        free, settle, end = 0, None, 0      # decoder's next header cycle; cycle the previous block settles
        for cols in work.col_blocks:
            c = -(-cols // self.bn_lanes)
            if s > 1:
                last = free + 2 if settle is None else max(free + 2, settle)     # first WRITE's write cycle
                free = last + 1 + 3 * (2 * cols + 1)                             # the other WRITEs
                free += 2                                                        # ROUTE (settled)
            else:
                last = free + 1 if settle is None else max(free + 1, settle)     # ROUTE's switch cycle
                free = last + 1
            r = e = None
            history = []
            i = 0
            while i < mvms:
                new_r = []
                for g, (w, f, b) in enumerate(acts):
                    take = free + f + 1 if r is None else max(free + f + 1, r[g])
                    done = take + (w - f) + (b - 1)
                    p = done + 2 if e is None else max(done + 1, e[g]) + 1
                    new_r.append(p + planes)
                    free = done + 1
                r_max = max(new_r)
                if s > 1 and c > credits:
                    e = [max(rg + c, r_max + offer + c - credits + 1) for rg in new_r]
                else:
                    e = [rg + c for rg in new_r]
                r = new_r
                i += 1
                state = (free, *r, *e)
                history.append(state)
                if len(history) >= 2:
                    steps = {a - b for a, b in zip(history[-1], history[-2])}
                    if len(steps) == 1 and i < mvms:
                        # Every time moved by the same period: the remaining MVMs repeat it exactly.
                        (period,) = steps
                        k = mvms - i
                        free += k * period
                        r = [x + k * period for x in r]
                        e = [x + k * period for x in e]
                        i = mvms
                    history = history[-1:]
            x_last = max(r) + offer + c - 1                  # the chip takes the block's last channel
            settle = x_last + to_fifo + 1
            end = x_last + to_fifo + 2
        return end + 1


@dataclass
class EventCounts:
    """Countable events of running a workload on the chip (see the module docstring for each definition)."""
    mvms: int = 0
    plane_reads: int = 0
    wordline_pulses: int = 0
    adc_conversions: int = 0
    shift_add_ops: int = 0
    partial_sum_adds: int = 0
    bn_ops: int = 0
    activation_in_bits: int = 0
    activation_out_bits: int = 0
    partial_sum_bits: int = 0
    cycles: int = 0

    def __add__(self, other):
        return EventCounts(**{f.name: getattr(self, f.name) + getattr(other, f.name) for f in fields(self)})

    def as_dict(self):
        return asdict(self)

    @property
    def bytes_moved(self):
        """Activations in and out plus partial sums, in bytes."""
        return (self.activation_in_bits + self.activation_out_bits + self.partial_sum_bits) / 8

    def diff(self, other):
        """{field: (self, other)} for every field where the two counts differ (empty when they agree exactly)."""
        return {f.name: (getattr(self, f.name), getattr(other, f.name)) for f in fields(self)
                if getattr(self, f.name) != getattr(other, f.name)}


def works_from_mapping(mapping, last=None):
    """:class:`LayerWork` list, in layer order, from a :class:`model.mapper.Mapping` (its tile assignments).
    ``last`` names the layer with signed outputs (default: the final layer)."""
    by_layer = {}
    for t in mapping.tiles:
        by_layer.setdefault((t.layer_index, t.layer), []).append(t)
    if not by_layer:
        raise ValueError("mapping must hold at least one tile")
    keys = sorted(by_layer)
    last = keys[-1][1] if last is None else last
    works = []
    for key in keys:
        ts, name = by_layer[key], key[1]
        rows = {t.row_block: t.rows for t in ts}
        cols = {t.col_block: t.columns for t in ts}
        works.append(LayerWork(name, sum(rows.values()), sum(cols.values()), ts[0].mvms_per_image,
                               tuple(rows[k] for k in sorted(rows)), tuple(cols[k] for k in sorted(cols)),
                               last=name == last))
    return works


def count_events(work, *, encoding="bit-serial", fmt=PeripheryFormat(), cycle_model=CycleModel(), images=1):
    """Analytic event counts of one layer (:class:`LayerWork`) for ``images`` images run as one command segment
    (the host runtime's chunk; one image by default): every count is ``images`` times one image's but the cycles,
    which include the segment's set-up and drain once (:meth:`CycleModel.segment_cycles`)."""
    _check_encoding(encoding)
    m, k, n = work.mvms * check_int("images", images, 1), work.fan_in, work.fan_out
    n_r, n_c = len(work.row_blocks), len(work.col_blocks)
    pulses = fmt.b_in if encoding == "bit-serial" else 1
    conversions = m * pulses * n * n_r
    return EventCounts(
        mvms=m * n_r * n_c,
        plane_reads=m * n_r * n_c * pulses,
        wordline_pulses=m * pulses * k * n_c,
        adc_conversions=conversions,
        shift_add_ops=conversions if encoding == "bit-serial" else 0,
        partial_sum_adds=m * n * (n_r - 1),
        bn_ops=m * n,
        activation_in_bits=m * k * n_c * fmt.b_in,
        activation_out_bits=m * n * (fmt.out_bits if work.last else fmt.b_in),
        partial_sum_bits=m * n * (n_r - 1) * fmt.acc_bits,
        cycles=cycle_model.segment_cycles(work, m, encoding, fmt),
    )


# -- PCM read energy ------------------------------------------------------------------------------------------------

def _pulse_weights(x, encoding, b_in):
    """Pulses (in pulse durations) each row receives: popcount of its code (bit-serial) or the code (PWM)."""
    _check_encoding(encoding)
    x = check_unsigned_array("activations", x, b_in)
    if encoding == "pwm":
        return x.astype(np.float64)
    return bit_planes(x, b_in).sum(axis=0, dtype=np.int64).astype(np.float64)


def read_energy(conductances, x, *, v_read, t_unit, encoding="bit-serial", b_in=8):
    """PCM read energy (J) of MVMs of activations ``x`` (batch, rows) on devices ``conductances`` (rows, bitlines):
    ``sum over pulses and devices of V * I * t = V^2 t_unit sum_i w_i sum_j G_ij``."""
    g = np.asarray(conductances, dtype=np.float64)
    x = np.atleast_2d(np.asarray(x))
    if x.shape[-1] != g.shape[0]:
        raise ValueError(f"activations must have {g.shape[0]} entries per vector (one per row), got {x.shape[-1]}")
    v_read = check_positive("v_read (V)", v_read)
    t_unit = check_positive("t_unit (s)", t_unit)
    w = _pulse_weights(x, encoding, b_in)
    return float(v_read ** 2 * t_unit * (w @ g.sum(axis=1)).sum())


def tile_read_energy(tile, x, t, *, t_unit, encoding="bit-serial"):
    """PCM read energy (J) of a golden-model :class:`~.tile.CrossbarTile` running MVMs on ``x`` (batch, rows_used)
    ``t`` seconds after time 0: drifted conductances of every device in the used rows (read noise averages out)."""
    g = tile.pcm.conductance_at(tile.devices, check_nonnegative("t (s)", t))[:tile.weight_shape[0]]
    return read_energy(g, x, v_read=tile.config.v_read, t_unit=t_unit, encoding=encoding, b_in=tile.fmt.b_in)


@dataclass(frozen=True)
class ActivationStats:
    """Mean pulses per row per MVM: ``mean_popcount`` (bit-serial) and ``mean_code`` (PWM, in LSB durations)."""
    mean_popcount: float
    mean_code: float
    assumption: str = ""

    def pulses(self, encoding):
        return self.mean_popcount if _check_encoding(encoding) == "bit-serial" else self.mean_code


def _phi(z):
    return 0.5 * (1.0 + math.erf(z / math.sqrt(2.0)))


def relu_activation_stats(b_in=8, clip_sigmas=4.0):
    """Activation statistics assumed for a network the twin cannot run: pre-activations standard normal, ReLU, then
    uniform quantisation to ``b_in`` bits with the full scale at ``clip_sigmas`` standard deviations (round to
    nearest, clamp). Exact expectations over the code distribution (no sampling)."""
    b_in = check_int("b_in", b_in, 1, 16)
    clip_sigmas = check_positive("clip_sigmas", clip_sigmas)
    top = (1 << b_in) - 1
    step = clip_sigmas / top
    # code q collects z in [(q - 1/2) step, (q + 1/2) step); q = 0 also takes every z < step / 2 (ReLU zeros).
    edges = [-math.inf] + [(q + 0.5) * step for q in range(top)] + [math.inf]
    p = [_phi(edges[q + 1]) - _phi(edges[q]) for q in range(top + 1)]
    mean_code = sum(q * pq for q, pq in enumerate(p))
    mean_pop = sum(bin(q).count("1") * pq for q, pq in enumerate(p))
    return ActivationStats(mean_pop, mean_code,
                           f"ReLU(N(0,1)) quantised to {b_in} bits, full scale at {clip_sigmas:g} sigma")


def gaussian_weight_conductance(g_max, rows=256, grid=20000):
    """Mean conductance (S) of one device of a differential pair, assumed for a network the twin cannot program:
    weights i.i.d. normal, each column scaled so its largest |w| of ``rows`` maps to ``g_max`` (docs/architecture.md
    D5), one device of the pair at ``g_max |w| / max|w|`` and the other at 0. Uses E|w| / E max|w| (numerical
    integration of the maximum's distribution) for E[|w| / max|w|]; programming noise and drift are left out."""
    g_max = check_positive("g_max (S)", g_max)
    rows = check_int("rows", rows, 1)
    t = np.linspace(0.0, 12.0, grid)
    cdf_abs = np.array([math.erf(v / math.sqrt(2.0)) for v in t])        # P(|w| <= t)
    tail = 1.0 - cdf_abs ** rows
    e_max = float(np.sum((tail[1:] + tail[:-1]) * np.diff(t)) / 2)       # E max = integral of P(max > t)
    e_abs = math.sqrt(2.0 / math.pi)
    return 0.5 * g_max * e_abs / e_max


def statistical_read_energy(work, *, g_mean, stats, v_read, t_unit, encoding="bit-serial"):
    """Expected PCM read energy (J) of one layer per image: ``V^2 t_unit g_mean (2 K N) M E[pulses per row]`` over
    the layer's used devices (2 per weight)."""
    g_mean = check_positive("g_mean (S)", g_mean)
    return v_read ** 2 * t_unit * g_mean * 2 * work.macs * stats.pulses(encoding)


# -- energy and performance -----------------------------------------------------------------------------------------

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
    encoding: str
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
            "encoding": self.encoding, "weights": self.weights, "macs": self.macs, "ops": self.ops,
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
    """Count events, energy and timing of a list of :class:`LayerWork`.

    ``pcm_read(work, encoding, t_unit) -> J`` gives a layer's PCM read energy per image (from programmed tiles or
    from statistics), ``t_unit`` being the conduction time per pulse count (:meth:`CycleModel.read_time_unit`).
    ``cycle_model`` defaults to :meth:`CycleModel.from_technology`.
    """
    _check_encoding(encoding)
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


# -- the paper's claims ---------------------------------------------------------------------------------------------

def load_published(path=PUBLISHED_PATH):
    """The paper's claims, the battery and the comparison chips (model/data/published.toml)."""
    import tomllib
    with open(path, "rb") as f:
        return tomllib.load(f)


@dataclass(frozen=True)
class Claim:
    """One headline figure tested against the others: what was claimed, what the inputs imply (both in ``unit``), and
    whether it holds within the relative tolerance (or the stated inequality)."""
    name: str
    claimed: float
    computed: float
    unit: str
    holds: bool
    detail: str

    def as_dict(self):
        return asdict(self)


def _close(a, b, rel_tol):
    return abs(a - b) <= rel_tol * abs(b)


SECONDS_PER_YEAR = 365.25 * 86400


def check_claims(paper, battery, chips, *, ops_per_frame, weights, devices_per_weight=2, devices_per_tile=65536,
                 twins=(), rel_tol=0.10):
    """Test the paper's headline figures against each other and against each of ``twins`` (:class:`Evaluation`).

    ``paper``: tops_per_w, digital_advantage, power_w, frames_per_s, battery_years, tiles, devices.
    ``battery``: capacity_ah, voltage_v. ``chips``: [{name, kind, tops_per_w}]. Two figures agree when within
    ``rel_tol`` of each other. Returns a list of :class:`Claim`.
    """
    rel_tol = check_nonnegative("rel_tol", rel_tol)
    ops_per_frame = check_positive("ops_per_frame", ops_per_frame)
    fps, power, tpw = paper["frames_per_s"], paper["power_w"], paper["tops_per_w"]
    claims = []

    implied = fps * ops_per_frame / power / 1e12
    claims.append(Claim(
        "TOPS/W from frames/s x ops/frame / power", tpw, implied, "TOPS/W", _close(implied, tpw, rel_tol),
        f"{fps:g} fps x {ops_per_frame / 1e9:.3g} G ops / {power * 1e3:g} mW = {implied:.1f} TOPS/W; at {tpw:g} "
        f"TOPS/W, {power * 1e3:g} mW gives {tpw * 1e12 * power / ops_per_frame:.1f} fps and {fps:g} fps needs "
        f"{fps * ops_per_frame / (tpw * 1e12) * 1e3:.1f} mW"))

    on_chip = paper["tiles"] * devices_per_tile
    claims.append(Claim(
        "devices = tiles x 256 x 256", paper["devices"], on_chip, "devices", _close(on_chip, paper["devices"], rel_tol),
        f"{paper['tiles']} tiles x {devices_per_tile} devices = {on_chip / 1e6:.2f} M"))

    needed = weights * devices_per_weight
    claims.append(Claim(
        "ResNet-50 fits on the chip (devices on chip vs needed)", on_chip, needed, "devices", needed <= on_chip,
        f"{weights / 1e6:.2f} M weights x {devices_per_weight} devices = {needed / 1e6:.1f} M devices needed, "
        f"{on_chip / 1e6:.2f} M on chip ({needed / on_chip:.1f}x too few)" if needed > on_chip else
        f"{needed / 1e6:.1f} M devices needed, {on_chip / 1e6:.2f} M on chip"))

    energy_j = battery["capacity_ah"] * battery["voltage_v"] * 3600
    life_years = energy_j / power / SECONDS_PER_YEAR
    year_power = energy_j / (paper["battery_years"] * SECONDS_PER_YEAR)
    claims.append(Claim(
        f"{battery['name']} lasts {paper['battery_years']:g} year at the claimed power", paper["battery_years"],
        life_years, "years", life_years >= paper["battery_years"],
        f"{battery['capacity_ah'] * 1e3:g} mAh x {battery['voltage_v']:g} V = {energy_j / 3600:.3f} Wh "
        f"({energy_j:.0f} J); at {power * 1e3:g} mW it lasts {life_years * 365.25:.1f} days; a year needs an average "
        f"{year_power * 1e6:.0f} uW, i.e. {fps * year_power / power:.2f} fps at the claimed energy per frame "
        f"(assumes the full nominal capacity is usable, no self-discharge, the chip alone)"))

    baseline = tpw / paper["digital_advantage"]
    digital = [c for c in chips if c["kind"] == "digital"]
    ratios = {c["name"]: tpw / c["tops_per_w"] for c in digital}
    matching = [n for n, r in ratios.items() if _close(r, paper["digital_advantage"], rel_tol)]
    best = min(ratios.items(), key=lambda kv: abs(kv[1] - paper["digital_advantage"]))
    claims.append(Claim(
        f"{paper['digital_advantage']:g}x a digital accelerator", paper["digital_advantage"], best[1], "x",
        bool(matching),
        f"{tpw:g} / {paper['digital_advantage']:g} = {baseline:.3f} TOPS/W baseline; against the listed digital "
        "accelerators the advantage is " + ", ".join(f"{r:.1f}x ({n})" for n, r in ratios.items())))

    for twin in twins:
        # The twin prices dynamic energy only, so its TOPS/W is an upper bound: a claim holds if within its reach.
        claims.append(Claim(
            f"TOPS/W on ResNet-50 within the twin's estimate ({twin.encoding})", tpw, twin.tops_per_w, "TOPS/W",
            twin.tops_per_w >= tpw * (1 - rel_tol),
            f"twin: {twin.ops / 1e9:.2f} G ops / {twin.energy_j * 1e6:.1f} uJ per image = "
            f"{twin.tops_per_w:.1f} TOPS/W (dynamic energy only)"))
        p_twin = twin.power_w(fps)
        claims.append(Claim(
            f"power at {fps:g} fps within the twin's estimate ({twin.encoding})", power, p_twin, "W",
            p_twin <= power * (1 + rel_tol),
            f"twin: {twin.energy_j * 1e6:.1f} uJ/image x {fps:g} fps = {p_twin * 1e3:.1f} mW"))
        claims.append(Claim(
            f"{fps:g} frames/s on one chip ({twin.encoding})", fps, twin.fps_pipelined if twin.fits else 0.0, "fps",
            twin.fits and twin.fps_pipelined >= fps * (1 - rel_tol),
            f"one chip holds {twin.tiles_available} of the {twin.tiles_needed} tiles ResNet-50 needs, so it runs "
            f"only with {twin.chips_needed} chips (or reprogramming passes, each rewriting every device); "
            f"{twin.chips_needed} chips pipelined reach {twin.fps_pipelined:.0f} fps, "
            f"{twin.fps_sequential:.0f} fps with layers in sequence" if not twin.fits else
            f"twin: slowest layer sets {twin.fps_pipelined:.0f} fps pipelined, {twin.fps_sequential:.0f} fps with "
            f"layers in sequence"))
    return claims
