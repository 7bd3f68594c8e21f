"""Event counts of a layer on the chip: what the energy model prices and an RTL run counts.

Ref: docs/architecture.md §2, §4, §7. :class:`EventCounts` (per image) are integers that the analytic counter
(:func:`count_events`, from a model/workload.py ``LayerWork``) and an RTL simulation (tb/chip_tb.py, from the chip's
counters) both fill, so a test can compare them field by field (:meth:`EventCounts.diff`). For a layer of ``M`` MVMs
per image, fan-in ``K`` rows split into ``nR`` row tiles, fan-out ``N`` columns split into ``nC`` column tiles, and
``P`` read pulses per MVM (``InputEncoding.reads``: ``B_in`` bit-planes when bit-serial, 1 when pulse-width
modulated):

* tile MVMs ``M nR nC``; plane reads ``M nR nC P``;
* wordline drives, split by what switches: of the ``M P K nC`` (row, read) slots, ``wordline_ones`` rows are driven
  with a 1 (bit-serial: a set bit of the row's activation in that plane; PWM: a nonzero activation, driven once for
  its duration) and ``wordline_zeros`` are held at 0. The ones are ``M K nC`` times the activations' mean drives per
  row (model/activity.py ``ActivationStats.drives``), rounded: exact when the statistics were measured on the very
  vectors counted;
* ADC conversions ``M P N nR``; shift-and-add steps: one per conversion when bit-serial, none for PWM;
* partial-sum adds ``M N (nR - 1)`` (row tiles added before BN); BN outputs ``M N``;
* bits moved: activations in ``M K nC B_in`` (each column tile receives its rows: read from the feature-map buffer
  and written into the tile's activation register file), out ``M N B_in`` (``out_bits`` for a last layer; written to
  the buffer), partial sums ``M N (nR - 1) acc_bits``; register-file reads of the BN parameters, ``scale_bits +
  bias_bits`` per BN output (:meth:`EventCounts.register_file_bits`);
* clock cycles: the chip's CYCLES count of the layer's command segment, from its first command word to its last
  response word (model/cycles.py ``CycleModel.segment_cycles``, which follows the chip's command decoder and the tile
  controller's sequencing): the tiles of a layer work in parallel, layers one after another.
"""

from dataclasses import asdict, dataclass, fields

from neurophase.model.arith import PeripheryFormat
from neurophase.model.checks import check_int
from neurophase.model.cycles import CycleModel
from neurophase.model.interface import InputEncoding

__all__ = ["EventCounts", "count_events"]


@dataclass
class EventCounts:
    """Countable events of running a workload on the chip (the module docstring defines each)."""
    mvms: int = 0
    plane_reads: int = 0
    wordline_ones: int = 0
    wordline_zeros: int = 0
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
    def wordline_slots(self):
        """(row, read) slots of the mapped rows: ones plus zeros."""
        return self.wordline_ones + self.wordline_zeros

    @property
    def buffer_bits(self):
        """Bits read from (activations in) and written to (activations out) the feature-map buffer."""
        return self.activation_in_bits + self.activation_out_bits

    def register_file_bits(self, fmt):
        """Bits written to the tiles' activation registers plus BN parameter bits read (``fmt``: widths)."""
        return self.activation_in_bits + self.bn_ops * (fmt.scale_bits + fmt.bias_bits)

    @property
    def bytes_moved(self):
        """Activations in and out plus partial sums, in bytes."""
        return (self.activation_in_bits + self.activation_out_bits + self.partial_sum_bits) / 8

    def diff(self, other):
        """{field: (self, other)} for every field where the two counts differ (empty when they agree exactly)."""
        return {f.name: (getattr(self, f.name), getattr(other, f.name)) for f in fields(self)
                if getattr(self, f.name) != getattr(other, f.name)}


def count_events(work, *, activity, encoding=InputEncoding.BIT_SERIAL, fmt=PeripheryFormat(),
                 cycle_model=CycleModel(), images=1):
    """Analytic event counts of one layer (model/workload.py ``LayerWork``) for ``images`` images run as one command
    segment (the host compiler's chunk; one image by default), its activations described by ``activity``
    (model/activity.py ``ActivationStats``): every count is ``images`` times one image's but the cycles, which
    include the segment's set-up and drain once (:meth:`CycleModel.segment_cycles`), and the wordline 1-drives,
    which follow the activations."""
    encoding = InputEncoding.parse(encoding)
    m, k, n = work.mvms * check_int("images", images, 1), work.fan_in, work.fan_out
    n_r, n_c = len(work.row_blocks), len(work.col_blocks)
    pulses = encoding.reads(fmt.b_in)
    conversions = m * pulses * n * n_r
    slots = m * pulses * k * n_c
    ones = round(m * k * n_c * activity.drives(encoding))
    if not 0 <= ones <= slots:
        raise ValueError(f"activity must give at most {pulses} drives per row and MVM, got "
                         f"{activity.drives(encoding):g}")
    return EventCounts(
        mvms=m * n_r * n_c,
        plane_reads=m * n_r * n_c * pulses,
        wordline_ones=ones,
        wordline_zeros=slots - ones,
        adc_conversions=conversions,
        shift_add_ops=conversions if encoding is InputEncoding.BIT_SERIAL else 0,
        partial_sum_adds=m * n * (n_r - 1),
        bn_ops=m * n,
        activation_in_bits=m * k * n_c * fmt.b_in,
        activation_out_bits=m * n * (fmt.out_bits if work.last else fmt.b_in),
        partial_sum_bits=m * n * (n_r - 1) * fmt.acc_bits,
        cycles=cycle_model.segment_cycles(work, m, encoding, fmt),
    )
