"""Clock cycles of a tile's MVMs and of a layer's command segment on the chip.

Ref: docs/architecture.md §5, §7, D7. :class:`CycleModel` follows the tile controller's sequencing (rtl/tile_ctrl.py)
and the chip's command decoder (rtl/chip.py) with the latencies model/interface.py defines; the chip's CYCLES
counter of an RTL run gives the same numbers (tests/test_rtl_chip.py, tests/test_energy_rtl.py).
"""

import math
from dataclasses import dataclass

from neurophase.model.checks import check_int, check_positive
from neurophase.model.interface import (BN_LATENCY, PWM_LSB_CYCLES, RESP_FIFO_LATENCY, ROUTE_CYCLES,
                                        TILE_OUTPUT_CREDITS, WRITE_CYCLES, InputEncoding, acts_per_word,
                                        sar_conversion_cycles)

__all__ = ["CycleModel"]


@dataclass(frozen=True)
class CycleModel:
    """Clock cycles of tile MVMs (rtl/tile_ctrl.py) and of whole layers on the chip (rtl/chip.py).

    The chip's latencies come from model/interface.py (``BN_LATENCY``, ``TILE_OUTPUT_CREDITS``,
    ``RESP_FIFO_LATENCY``, ``WRITE_CYCLES``, ``ROUTE_CYCLES``, the SAR conversion and the activations per command
    word); the fields below are the design options a study may vary.

    **A tile alone** (:meth:`mvm_cycles`). A read holds the wordlines while the ADCs convert (there is no
    sample-and-hold): a bit-serial plane takes ``max(pulse_cycles, conversion) + 1`` cycles, where ``conversion =
    sar_conversion_cycles(columns_per_adc, b_adc)`` and the extra cycle is the start strobe. A pulse-width-modulated
    read takes ``(2^B_in - 1) * pwm_lsb_cycles`` cycles of integration, then the conversion and the strobe. After the
    reads two things run side by side, and the next MVM starts when both are done:

    * readout: ``issue = ceil(cols_used / bn_lanes)`` cycles issuing channels to the BN unit (the controller's
      output FIFO takes one beat per cycle while the output is accepted), plus the pass through IDLE: ``issue + 1``;
    * loading the next vector: ``ceil(rows_used / acts_per_beat)`` beats, plus the pass through IDLE.

    Measured on the tile RTL (tests/test_energy_rtl.py), e.g. 8-bit, 13 of 16 columns, 27 rows at 8 per beat:
    80 + 13 + 1 = 94 cycles per MVM; 200 rows: 80 + 25 + 1 = 106.

    **A layer on the chip** (:meth:`segment_cycles`): the cycles the chip's CYCLES counter gives for one command
    segment of the host compiler (model/host.py ``Host.layer_segment``), from its first command word to its last
    response word, with the host offering a command word in every cycle the chip takes one and taking every response
    word at once. Per column block (a route of ``s`` row-block tiles, run one after another) the segment holds: for
    ``s > 1`` the reducer's BN registers (``2 + 2 cols`` chip WRITEs), then a ROUTE, then per MVM one ACT per tile
    in tile order. Times below are cycles; each term is the RTL's:

    * a WRITE takes ``WRITE_CYCLES`` (3: header, data word, the write), a ROUTE ``ROUTE_CYCLES`` (2: header, the
      switch); the first WRITE or the ROUTE of a block waits in its last cycle until the previous block has no MVM
      outstanding (``settled``);
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
    * a tile's output beat is offered ``BN_LATENCY + 1`` cycles after its issue (BN pipeline, output FIFO), or 1
      cycle in RAW mode (the tiles of a reduction group); the chip takes a channel when every tile of the route
      offers it, so the group's last tile to read out (``R_max``) paces the others: a tile may hold at most
      ``TILE_OUTPUT_CREDITS`` beats not taken (``BN_LATENCY + 2``, its output FIFO's credits), so with ``c`` above
      that its last issue is no earlier than ``R_max + 1 + c - TILE_OUTPUT_CREDITS``, and
      ``E = max(R + c, R_max + c - BN_LATENCY)``;
    * the chip takes channel ``j`` of the block's last MVM at ``X = R_max + a + j`` (``a`` = the tile's offer delay
      above) and writes it into its response FIFO directly, or ``BN_LATENCY`` cycles later through its own BN unit
      (a reduction), where it is read ``RESP_FIFO_LATENCY`` (2) cycles later; no MVM is outstanding from the cycle
      after the last channel's FIFO write;
    * the segment ends with the read of its last response word:
      ``R_max + a + c - 1 + (0 or BN_LATENCY) + RESP_FIFO_LATENCY``.

    The MVMs repeat the same recurrence; once every time of the state (decoder, each tile's ``R`` and ``E``) has moved
    by the same period from one MVM to the next, the rest follow by that period, so a layer of any size costs a few
    MVMs of arithmetic. ``bn_lanes > 1`` is a design option the RTL does not have (the model then widens the chip's
    output path to match).
    """
    pulse_cycles: int = 8
    columns_per_adc: int = 1
    pwm_lsb_cycles: int = PWM_LSB_CYCLES
    bn_lanes: int = 1
    acts_per_beat: int = 16

    def __post_init__(self):
        check_int("pulse_cycles", self.pulse_cycles, 1)
        check_int("columns_per_adc", self.columns_per_adc, 1, 128)
        check_int("pwm_lsb_cycles", self.pwm_lsb_cycles, 1)
        check_int("bn_lanes", self.bn_lanes, 1, 256)
        check_int("acts_per_beat", self.acts_per_beat, 1, 4096)

    @classmethod
    def from_technology(cls, tech, **kw):
        """The shortest wordline pulse in whole cycles of the technology's clock (one SAR step per cycle)."""
        return cls(pulse_cycles=math.ceil(tech.t_pulse / tech.sar_step - 1e-9), **kw)

    def read_cycles(self, encoding, fmt):
        """Cycles of one read (the wordlines are driven for all of them): one plane, or the whole PWM read."""
        conv = sar_conversion_cycles(self.columns_per_adc, fmt.b_adc)
        if InputEncoding.parse(encoding) is InputEncoding.BIT_SERIAL:
            return max(self.pulse_cycles, conv) + 1
        return ((1 << fmt.b_in) - 1) * self.pwm_lsb_cycles + conv + 1

    def plane_cycles(self, encoding, fmt):
        """Cycles of all the reads of one MVM (the tile's PLANE state)."""
        return InputEncoding.parse(encoding).reads(fmt.b_in) * self.read_cycles(encoding, fmt)

    def mvm_cycles(self, encoding, fmt, rows_used, cols_used):
        """Cycles from one MVM's start to the next's on a tile alone using ``rows_used`` x ``cols_used``."""
        readout = -(-cols_used // self.bn_lanes) + 1
        load = -(-rows_used // self.acts_per_beat) + 1
        return self.plane_cycles(encoding, fmt) + max(readout, load)

    def read_time_unit(self, encoding, fmt, clock_hz):
        """Seconds a wordline conducts per unit of its pulse count: a whole plane read (bit-serial), one LSB (PWM)."""
        bit_serial = InputEncoding.parse(encoding) is InputEncoding.BIT_SERIAL
        cycles = self.read_cycles(encoding, fmt) if bit_serial else self.pwm_lsb_cycles
        return cycles / check_positive("clock_hz", clock_hz)

    def segment_cycles(self, work, mvms, encoding, fmt):
        """Cycles of the chip's command segment running ``mvms`` vectors of layer ``work`` (:class:`LayerWork`)."""
        if check_int("mvms", mvms, 0) == 0:
            return 0
        apw = acts_per_word(fmt.b_in)
        if self.acts_per_beat % apw:
            raise ValueError(f"acts_per_beat must be a multiple of {apw} (activations per command word), "
                             f"got {self.acts_per_beat}")
        wpb = self.acts_per_beat // apw
        planes = self.plane_cycles(encoding, fmt)
        s = len(work.row_blocks)
        words = [-(-k // apw) for k in work.row_blocks]
        acts = [(w, min(w, wpb), -(-w // wpb)) for w in words]           # (words, first-beat words, beats)
        offer = 1 if s > 1 else BN_LATENCY + 1                           # issue -> beat offered to the chip
        to_fifo = BN_LATENCY if s > 1 else 0                             # take -> response FIFO write
        free, settle, end = 0, None, 0      # decoder's next header cycle; cycle the previous block settles
        for cols in work.col_blocks:
            c = -(-cols // self.bn_lanes)
            # The command that waits for the previous block to settle: the first BN WRITE, or the ROUTE.
            wait = WRITE_CYCLES - 1 if s > 1 else ROUTE_CYCLES - 1               # its last cycle, from its header
            last = free + wait if settle is None else max(free + wait, settle)
            free = last + 1
            if s > 1:
                free += WRITE_CYCLES * (2 * cols + 1) + ROUTE_CYCLES             # the other WRITEs, the ROUTE
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
                if s > 1 and c > TILE_OUTPUT_CREDITS:
                    e = [max(rg + c, r_max + offer + c - TILE_OUTPUT_CREDITS + 1) for rg in new_r]
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
            end = x_last + to_fifo + RESP_FIFO_LATENCY
        return end + 1
