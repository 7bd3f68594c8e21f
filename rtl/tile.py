# Ref: docs/architecture.md §2 (tile), §4 (digital contract), §5 (RTL periphery), D8 (PWM inputs).
from amaranth.hdl import Cat, Module, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out, flipped

from neurophase.model.arith import PeripheryFormat
from neurophase.model.checks import check_int
from neurophase.model.interface import TILE_OUTPUT_CREDITS
from neurophase.rtl.adc_sar import SarAdcArray
from neurophase.rtl.bn_unit import BnUnit
from neurophase.rtl.params import validating
from neurophase.rtl.shift_add import ShiftAdd
from neurophase.rtl.regfile import RegisterBus
from neurophase.rtl.tile_ctrl import ALL_ENCODINGS, TileController

__all__ = ["Tile"]


class Tile(wiring.Component):
    """One NeuroPhase tile's digital periphery: controller, SAR ADC array, shift-and-add and BN unit.

    Behaviour: the :class:`TileController` (registers, activation buffer, input encoder, sequencing, output queue;
    its docstring has the register map) drives the analog side through ``wl``/``pulse`` and the ADC array's
    ``dac_code`` / ``col_sel``, reading back one ``comparator`` bit per ADC. The crossbar itself is not RTL: the
    analog side (a testbench stand-in in simulation) must present each read's column currents to the comparators
    while the ADCs convert: a bit-plane's from its ``pulse`` cycle until the ADC finishes, a PWM read's integrated
    charge (as the window's mean current, D8) from the cycle after its window. Each read's codes go through
    :class:`ShiftAdd`; after the last read the used columns pass through :class:`BnUnit` (or, in RAW mode, straight
    out) onto ``out``. MODE selects the input encoding among ``encodings``.

    Latency: the reads from the MVM start, bit-serial ``b_in * (columns_per_adc * b_adc + 2)`` cycles, PWM
    ``(2^b_in - 1) * lsb_cycles + columns_per_adc * b_adc + 2``; then the readout: the first output beat
    ``bn_latency + 2`` cycles after the last read (2 in RAW mode; see :class:`TileController`), then one beat per
    cycle (``out.ready`` high).
    Throughput: one MVM per (reads' cycles) ``+ COLS_USED + 1`` cycles back to back (the readout of one MVM overlaps
    the input of the next; measured 94 cycles bit-serial for 8-bit inputs, 8-bit ADCs, 13 columns); model/cycles.py
    ``CycleModel.mvm_cycles`` gives it for either encoding.

    Parameters
    ----------
    rows : wordlines (1..4096; 256 on the chip).
    columns : logical columns (1..256; 128 on the chip).
    columns_per_adc : columns sharing one SAR ADC (divides ``columns``).
    fmt : :class:`neurophase.model.arith.PeripheryFormat`.
    acts_per_beat : activations per input-stream beat.
    range_bits, adc_range_init : ADC_RANGE register width and reset value.
    encodings : the input encodings the tile implements (:class:`TileController`; default: bit-serial and PWM).

    Members
    -------
    bus : In(RegisterBus)
        Register interface (:class:`neurophase.model.interface.TileReg`; the map in rtl/tile_ctrl.py).
    act : In(stream.Signature(ArrayLayout(unsigned(b_in), acts_per_beat)))
        Input activations, row 0 first.
    out : Out(stream.Signature(StructLayout(data, channel, last)))
        One channel's BN output (or raw accumulator) per beat.
    done : Out(1)
        Pulse: the last output beat of an MVM was accepted.
    error : Out(1)
        An error flag is set (ERRORS register).
    active : Out(1)
        The tile's state can change at the next clock edge (:class:`TileController`, *Activity*): a chip may stop
        the tile's clock while it is low, keeping it running ``SETTLE_CYCLES`` edges after it falls
        (rtl/tile_ctrl.py).
    wl : Out(rows)
        Wordline enables of the current read (analog side).
    pulse : Out(1)
        Strobe at the start of each read: a bit-plane, or a PWM read's window (analog side).
    adc_range : Out(range_bits)
        ADC full-scale setting (analog side).
    dac_code : Out(unsigned(b_adc)).array(columns // columns_per_adc)
        SAR trial code of each ADC, one port each (analog side).
    col_sel : Out(range(columns_per_adc))
        Only when ``columns_per_adc > 1``: column mux select of every ADC (analog side).
    comparator : In(1).array(columns // columns_per_adc)
        Comparator decision of each ADC (analog side).
    """

    def __init__(self, *, rows=256, columns=128, columns_per_adc=1, fmt=PeripheryFormat(), acts_per_beat=16,
                 range_bits=16, adc_range_init=1000, encodings=ALL_ENCODINGS):
        with validating(self):
            signature = self.signature_for(rows=rows, columns=columns, columns_per_adc=columns_per_adc, fmt=fmt,
                                           acts_per_beat=acts_per_beat, range_bits=range_bits)
            # One SarAdcArray per ADC (each converting its columns_per_adc columns): every ADC's logic is then its
            # own small process in the Verilog. One array for all ADCs puts every ADC's next state in one process,
            # which an event-driven simulator (Icarus) re-runs on each of the n_adc comparator changes per cycle:
            # quadratic in the ADC count (about 40 cycles/s for 128 ADCs). The logic is the same.
            self.adcs = [SarAdcArray(columns=columns_per_adc, columns_per_adc=columns_per_adc, b_adc=fmt.b_adc)
                         for _ in range(columns // columns_per_adc)]
            self.n_adc = len(self.adcs)
            self.adc_latency = self.adcs[0].latency
            # Likewise one single-lane ShiftAdd per column: one process per accumulator.
            self.lanes = [ShiftAdd(lanes=1, b_adc=fmt.b_adc, acc_bits=fmt.acc_bits) for _ in range(columns)]
            self.bn = BnUnit(channels=columns, fmt=fmt)
            self.ctrl = TileController(rows=rows, columns=columns, fmt=fmt, acts_per_beat=acts_per_beat,
                                       bn_latency=self.bn.latency, range_bits=range_bits,
                                       adc_range_init=adc_range_init, encodings=encodings)
            # The cycle model (model/cycles.py) reads the output queue's depth from the interface.
            assert self.ctrl.out_depth == TILE_OUTPUT_CREDITS
        self.rows, self.columns, self.columns_per_adc, self.fmt = rows, columns, columns_per_adc, fmt
        self.acts_per_beat = acts_per_beat
        super().__init__(signature)

    @staticmethod
    def signature_for(*, rows=256, columns=128, columns_per_adc=1, fmt=PeripheryFormat(), acts_per_beat=16,
                      range_bits=16):
        """The tile's ports (the Members above) for these parameters, whose tile-level rules it checks (rows,
        columns, columns_per_adc, fmt; its blocks check the rest when the tile is built).

        The one definition of the tile's ports: the tile uses it, and the chip takes its tiles' ports from it
        without building a tile (it instantiates the tile's exported module by name).
        """
        check_int("rows", rows, 1, 4096)
        check_int("columns", columns, 1, 256)
        check_int("columns_per_adc", columns_per_adc, 1, columns)
        if columns % columns_per_adc:
            raise ValueError(f"columns_per_adc must divide columns={columns}, got {columns_per_adc}")
        if not isinstance(fmt, PeripheryFormat):
            raise ValueError(f"fmt must be a PeripheryFormat, got {fmt!r}")
        n_adc = columns // columns_per_adc
        members = {
            "bus": In(RegisterBus()),
            "act": In(stream.Signature(data.ArrayLayout(unsigned(fmt.b_in), acts_per_beat))),
            "out": Out(stream.Signature(TileController.output_layout(columns, fmt))),
            "done": Out(1),
            "error": Out(1),
            "active": Out(1),
            "wl": Out(rows),
            "pulse": Out(1),
            "adc_range": Out(range_bits),
            # One port per ADC rather than one wide bus: an event-driven simulator re-reads a whole bus for every
            # element that changes, which made every SAR step quadratic in the ADC count.
            "dac_code": Out(unsigned(fmt.b_adc)).array(n_adc),
            "comparator": In(1).array(n_adc),
        }
        if columns_per_adc > 1:
            members["col_sel"] = Out(range(columns_per_adc))
        return wiring.Signature(members)

    def elaborate(self, platform):
        m = Module()
        m.submodules.ctrl = ctrl = self.ctrl
        for k, adc in enumerate(self.adcs):
            m.submodules[f"adc{k}"] = adc
        for j, lane in enumerate(self.lanes):
            m.submodules[f"shift_add{j}"] = lane
            cpa = self.columns_per_adc
            m.d.comb += [lane.code[0].eq(self.adcs[j // cpa].code[j % cpa]),
                         lane.valid.eq(ctrl.sa_valid), lane.clear.eq(ctrl.sa_clear)]
        m.submodules.bn = bn = self.bn

        wiring.connect(m, host=flipped(self.bus), ctrl=ctrl.bus)
        wiring.connect(m, source=flipped(self.act), ctrl=ctrl.act)
        wiring.connect(m, ctrl=ctrl.out, sink=flipped(self.out))
        wiring.connect(m, ctrl=ctrl.bn, bn=bn)
        # An ADC whose columns are all unused is not started (power gating); ADC 0 always converts.
        adc_in_use = [ctrl.col_mask[k * self.columns_per_adc] for k in range(self.n_adc)]
        m.d.comb += [
            self.done.eq(ctrl.done), self.error.eq(ctrl.error), self.active.eq(ctrl.active),
            self.wl.eq(ctrl.wl), self.pulse.eq(ctrl.pulse), self.adc_range.eq(ctrl.adc_range),
            # ADCs: the used ones are started together and finish together; codes into the shift-and-add
            ctrl.adc_done.eq(Cat(adc.done | ~in_use for adc, in_use in zip(self.adcs, adc_in_use)).all()),
            ctrl.adc_start_err.eq(Cat(adc.start_err for adc in self.adcs).any()),
            ctrl.adc_rail_low.eq(Cat(adc.rail_low for adc in self.adcs)),
            ctrl.adc_rail_high.eq(Cat(adc.rail_high for adc in self.adcs)),
            ctrl.sa_saturated.eq(Cat(lane.saturated for lane in self.lanes)),
            ctrl.acc.eq(Cat(lane.acc for lane in self.lanes)),
        ]
        for k, adc in enumerate(self.adcs):
            m.d.comb += [adc.start.eq(ctrl.adc_start & adc_in_use[k]),
                         adc.comparator.eq(self.comparator[k]), self.dac_code[k].eq(adc.dac_code[0])]
        if self.columns_per_adc > 1:
            m.d.comb += self.col_sel.eq(self.adcs[0].col_sel)
        return m
