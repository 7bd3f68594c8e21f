"""cocotb testbench of the chip top (rtl/chip.py in tb/chip_harness.py): whole-network inference, bit for bit.

Ref: docs/architecture.md §4, §5, D7. The host compiler (model/host.py ``Host``) compiles the program segment by
segment; :class:`RtlExecutor` runs each segment through the chip's command interface and the golden executor
(model/executor.py) runs the very same segment, and every response word is compared. Python wakes once per
segment (the configuration, then one per layer and chunk of 32 images): it writes the command program and, per
tile, the golden model's current codes of every read and the expected wordlines (every bit-plane's, or every PWM
read's pulse widths, D8) into files, and the simulator runs the segment from memory (tb/hdl/chip_io.v). Components,
each with its own logger: :class:`SegmentWriter` (files), :class:`RtlExecutor` (drive and wait), :class:`Scoreboard`
(every layer's outputs, the logits against ``Chip.run``, wordline and plane checks).
"""

import json
import logging
import time

import cocotb
import numpy as np
from cocotb.triggers import FallingEdge, First, RisingEdge

from neurophase.model.adc import current_code
from neurophase.model.arith import bit_planes
from neurophase.model.interface import (BN_CTRL, CHIP_ID, CHIP_TARGET, ChipCtrl, ChipErr, ChipReg, InputEncoding, Op,
                                        TileReg, act_words, header)
from neurophase.model.executor import GoldenExecutor
from neurophase.model.host import Host, Segment
from neurophase.tb.chip_harness import CMD_FILE, RESP_FILE, icode_file, wl_file
from neurophase.tb.common import CLOCK_NS, reset, start_clock, timeout_ns
from neurophase.tb.functional_coverage import sample
from neurophase.tb.pwm_check import PwmWindow
from neurophase.tb.runner import params

__all__ = ["binary_rows", "read_hex", "drive"]


def binary_rows(bits):
    """The rows of ``bits`` (rows, width) uint8 0/1, bit 0 first (the least significant), as the bytes ``$fread``
    loads into a memory of ``width``-bit words: ceil(width / 8) bytes per row, the most significant first, zero bits
    above the width."""
    bits = np.asarray(bits, np.uint8)
    return np.packbits(bits, axis=1, bitorder="little")[:, ::-1].tobytes()


def lane_bits(values, bits):
    """Signed or unsigned lanes (rows, lanes) -> (rows, lanes * bits) two's complement bits, lane 0 lowest."""
    v = np.asarray(values, np.int64) & ((1 << bits) - 1)
    # Unpacked from the lanes' bytes: a shift per bit made an int64 per bit (300 MB for a segment's current codes).
    u = v.astype("<u2" if bits <= 16 else "<u4" if bits <= 32 else "<u8")
    return np.unpackbits(u.view(np.uint8).reshape(*u.shape, -1), axis=-1, bitorder="little")[..., :bits].reshape(
        v.shape[0], -1)


def _widened(bits, width):
    """``bits`` (rows, w <= width) with zero bits above w up to ``width``."""
    if bits.shape[1] == width:
        return bits
    out = np.zeros((bits.shape[0], width), np.uint8)
    out[:, :bits.shape[1]] = bits
    return out


def read_hex(path):
    """Words of a $writememh file (address and comment lines skipped)."""
    with open(path) as f:
        words = [int(tok, 16) for line in f for tok in line.split("//")[0].split() if not tok.startswith("@")]
    return np.array(words, np.uint64).astype(np.uint32)


class SegmentWriter:
    """Writes a segment's command program and its tiles' crossbar replay files into the simulator's directory."""

    def __init__(self, golden, icode_bits, b_in):
        self.golden, self.icode_bits, self.b_in = golden, icode_bits, b_in
        self.window = PwmWindow(b_in)
        self.log = logging.getLogger("tb.chip.files")

    @staticmethod
    def write_commands(seg):
        """The segment's command program: its 32-bit words as ``$fread`` loads them, the most significant byte
        first."""
        with open(CMD_FILE, "wb") as f:
            f.write(np.asarray(seg.words, ">u4").tobytes())

    def write(self, seg):
        """Write the files; returns {tile: (reads, reads by PWM)} of the tiles that run MVMs in ``seg``."""
        self.write_commands(seg)
        reads = {}
        for n, (x, currents) in self.golden.last_mvms.items():
            # Every column the tile's weights hold: COLS_USED may change between the segment's MVMs.
            cols = currents.shape[2]
            codes = current_code(currents, self.golden.tile(n).adc)                   # (reads, mvms, cols)
            per_read = codes.transpose(1, 0, 2).reshape(-1, cols)
            pwm = self.golden.encoding(n) is InputEncoding.PWM
            # Per read, the expected wordlines: a bit-plane, or a PWM read's pulse widths bit-sliced (LSB first).
            expected = self.window.width_planes(x) if pwm else bit_planes(x, self.b_in).transpose(1, 0, 2)
            # Each entry as wide as the stand-in's memory word (the tile's every column and wordline).
            config = self.golden.tile(n).config
            with open(icode_file(n), "wb") as f:
                f.write(binary_rows(_widened(lane_bits(per_read, self.icode_bits), config.columns * self.icode_bits)))
            with open(wl_file(n), "wb") as f:
                f.write(binary_rows(_widened(expected.reshape(-1, x.shape[1]), config.rows)))
            reads[n] = (len(per_read), pwm)
        return reads


class Scoreboard:
    """Counts response words that differ from the golden executor's, per segment name."""

    def __init__(self):
        self.log = logging.getLogger("tb.chip.scoreboard")
        self.mismatches = {}
        self.checked = 0

    def check(self, seg, got, want):
        if len(got) != len(want):
            self.log.error("%s: %d response words, golden %d", seg.name, len(got), len(want))
            bad = max(len(got), len(want))
        else:
            diff = np.flatnonzero(got != want)
            bad = len(diff)
            for i in diff[:5]:
                self.log.error("%s word %d: RTL %#x, golden %#x", seg.name, i, got[i], want[i])
        self.mismatches[seg.name] = self.mismatches.get(seg.name, 0) + bad
        self.checked += len(want)

    @property
    def total(self):
        return sum(self.mismatches.values())


class RtlExecutor:
    """Runs segments through the chip: files, ``load``, wait for ``seg_done``, ``dump``, read the responses."""

    def __init__(self, dut, golden, icode_bits, b_in, depths=None):
        self.dut, self.golden, self.depths = dut, golden, depths
        self.files = SegmentWriter(golden, icode_bits, b_in)
        self.scoreboard = Scoreboard()
        self.log = logging.getLogger("tb.chip.exec")
        self.wl_errors = 0
        self.plane_errors = 0
        self.wall_python = 0.0      # wall seconds in segments outside the simulator's run: of them golden executor
        self.wall_golden = 0.0      # and replay files (written, then read by the simulator at ``load``)
        self.wall_files = 0.0
        self.wall_sim = 0.0
        self.cycles = {}
        self.resp_words = {}
        self.wl_ones = {}           # layer -> wordlines driven with a 1 (in a read's pulse cycle), counted by the
        #                             crossbar stand-ins

    def idle(self):
        d = self.dut
        d.load.value = 0
        d.dump.value = 0
        d.xbar_load.value = 0
        d.xbar_pwm.value = 0
        d.cmd_count.value = 0
        d.resp_expected.value = 0

    async def _wait_done(self, seg):
        """Wait for ``seg_done``; fail when the harness's watchdog raises ``stalled`` (a hang)."""
        d = self.dut
        if d.seg_done.value:
            return
        stalled = RisingEdge(d.stalled)
        if await First(RisingEdge(d.seg_done), stalled) is stalled:
            raise AssertionError(f"{seg.name}: chip stalled (no command or response word moved for the watchdog's "
                                 f"cycles) at command word {d.cmd_sent.value.to_unsigned()} of {len(seg.words)}, "
                                 f"{d.resp_count.value.to_unsigned()} of {seg.n_resp} responses")

    async def run(self, seg, *, golden=True, expected=None):
        """The RTL's response words of ``seg``; with ``golden`` the golden executor runs it too (or has run it and
        answered ``expected``) and every word is scored."""
        w0 = time.perf_counter()
        if self.depths and (len(seg.words) > self.depths["cmd"] or seg.n_resp > self.depths["resp"]):
            raise AssertionError(f"{seg.name}: {len(seg.words)} command and {seg.n_resp} response words; the "
                                 f"harness holds {self.depths['cmd']} and {self.depths['resp']}")
        want = expected if expected is not None else self.golden.execute(seg) if golden else None
        w_files = time.perf_counter()
        self.wall_golden += w_files - w0
        reads = self.files.write(seg) if golden else {}
        entries = {n: count * (self.files.window.width_bits if pwm else 1) for n, (count, pwm) in reads.items()}
        if self.depths and entries and max(entries.values()) > self.depths["planes"]:
            raise AssertionError(f"{seg.name}: {max(entries.values())} wordline entries for a tile; the harness holds "
                                 f"{self.depths['planes']}")
        if not golden:
            self.files.write_commands(seg)
        d = self.dut
        await FallingEdge(d.clk)
        d.load.value = 1
        d.cmd_count.value = len(seg.words)
        d.resp_expected.value = seg.n_resp
        d.xbar_load.value = sum(1 << n for n in reads)
        d.xbar_pwm.value = sum(1 << n for n, (_, pwm) in reads.items() if pwm)
        for n, (count, _) in reads.items():
            getattr(d, f"xbar_planes__{n}").value = count
        c0 = cocotb.utils.get_sim_time(unit="ns") // CLOCK_NS
        await FallingEdge(d.clk)
        d.load.value = 0
        d.xbar_load.value = 0
        await FallingEdge(d.clk)        # the harness registers its inputs: the load acts, and seg_done falls, now
        w1 = time.perf_counter()
        self.wall_files += w1 - w_files
        await self._wait_done(seg)
        self.wall_sim += time.perf_counter() - w1
        c1 = cocotb.utils.get_sim_time(unit="ns") // CLOCK_NS
        self.cycles[seg.name] = self.cycles.get(seg.name, 0) + int(c1 - c0)
        await FallingEdge(d.clk)
        d.dump.value = 1
        await FallingEdge(d.clk)
        d.dump.value = 0
        await FallingEdge(d.clk)        # the registered dump writes the file
        w2 = time.perf_counter()
        got = read_hex(RESP_FILE) if seg.n_resp else np.zeros(0, np.uint32)
        assert not d.resp_overflow.value, f"{seg.name}: response memory overflow"
        self.resp_words[seg.name] = self.resp_words.get(seg.name, 0) + len(got)
        if golden:
            self.scoreboard.check(seg, got, want)
            for n, (count, _) in reads.items():
                ones = getattr(d, f"wl_ones__{n}").value.to_unsigned()
                self.wl_ones[seg.layer] = self.wl_ones.get(seg.layer, 0) + ones
                wl_err = getattr(d, f"wl_errors__{n}").value.to_unsigned()
                done = getattr(d, f"planes__{n}").value.to_unsigned()
                self.wl_errors += wl_err
                if wl_err:
                    self.log.error("%s: tile %d drove wrong wordlines in %d reads", seg.name, n, wl_err)
                if done != count:
                    self.plane_errors += 1
                    self.log.error("%s: tile %d made %d reads, expected %d", seg.name, n, done, count)
                rng = self.golden.tiles[n].regs[TileReg.ADC_RANGE]
                if getattr(d, f"adc_range__{n}").value.to_unsigned() != rng:
                    self.plane_errors += 1
                    self.log.error("%s: tile %d ADC range pin %d, register %d", seg.name, n,
                                   getattr(d, f"adc_range__{n}").value.to_unsigned(), rng)
        self.wall_python += (w1 - w0) + (time.perf_counter() - w2)
        return got


def _kick_comb_processes(handle):
    """Icarus only: write 1 to every Yosys start-up trigger register (``$auto$verilog_backend...``) in the design.

    Yosys gives every ``always @*`` process a dummy trigger initialised to 0 so that it runs once at time zero;
    Icarus applies that initialiser before the processes wait on it, so a process whose real inputs never change
    (an idle tile's output mux, the command decoder before its first command) keeps X outputs. Changing the
    trigger once after time zero runs every process."""
    for child in handle:
        name = child._name
        if name.startswith("$auto$verilog_backend"):
            child.value = 1
        elif isinstance(child, cocotb.handle.HierarchyObject):
            _kick_comb_processes(child)


async def begin(dut):
    """Start the clock (once per simulation); under Icarus, run every combinational process once."""
    await start_clock(dut)
    if cocotb.SIM_NAME.lower().startswith("icarus"):
        _kick_comb_processes(dut)


async def start(dut, executor):
    await begin(dut)
    executor.idle()
    await reset(dut)


async def drive(session, execute):
    """Run a :class:`~neurophase.model.host.Host` session with the coroutine ``execute(segment)`` -> response
    words (cocotb's counterpart of model/host.py ``run_program``); returns the session's result."""
    seg = next(session)
    while True:
        resp = await execute(seg)
        try:
            seg = session.send(resp)
        except StopIteration as stop:
            return stop.value


def read_segment(reads):
    """A segment of READ commands ((tile, address), ...), one response word each (RTL only: counters)."""
    return Segment("reads", np.array([header(Op.READ, t, int(a)) for t, a in reads], np.uint32), len(reads))


# The chip's event counters read after every segment, CYCLES first: a READ is counted only after its own value.
LAYER_COUNTERS = {"cycles": ChipReg.CYCLES, "acts": ChipReg.ACTS, "planes": ChipReg.PLANES,
                  "tile_beats": ChipReg.TILE_BEATS, "out_words": ChipReg.OUT_WORDS, "psum_adds": ChipReg.PSUM_ADDS}


def counter_segment(n_tiles):
    """READ the chip's :data:`LAYER_COUNTERS`, every tile's MVM_COUNT, the reducer's and every tile's BN_CTRL (which
    BN mode made the segment's outputs), then clear the chip's counters (CTRL bit 0; it waits until no MVM is
    outstanding), so the next segment's counts are its own: CYCLES then holds the cycles from the segment's first
    command word to its last response word (rtl/chip.py)."""
    words = [header(Op.READ, CHIP_TARGET, r) for r in LAYER_COUNTERS.values()]
    words += [header(Op.READ, n, TileReg.MVM_COUNT) for n in range(n_tiles)]
    words += [header(Op.READ, CHIP_TARGET, ChipReg.RED_BN_CTRL)]
    words += [header(Op.READ, n, TileReg.BN_CTRL) for n in range(n_tiles)]
    words += [header(Op.WRITE, CHIP_TARGET, ChipReg.CTRL), ChipCtrl.CLEAR_COUNTERS]
    return Segment("counters", np.array(words, np.uint32), len(LAYER_COUNTERS) + 2 * n_tiles + 1)


def wide_outputs(bn_ctrls, mapping, layer):
    """Whether the chip made ``layer``'s outputs in the BN unit's last mode (signed ``out_bits``), as its registers
    read after the layer's segment say: ``bn_ctrls`` the reducer's BN_CTRL, then every tile's. A layer of one row
    tile is normalised by its tiles' BN units, a reduction group by the reducer's."""
    first = mapping.layer_tiles(layer)[0].tile
    word = bn_ctrls[0] if len(mapping.reduction_group(first)) > 1 else bn_ctrls[1 + first]
    return bool(BN_CTRL.decode(word).last)


def rtl_event_counts(counters, out_words, wl_ones, fmt, wide, encoding):
    """model/events.py EventCounts from the chip's counters of a layer read with ``encoding`` (:data:`LAYER_COUNTERS`
    and ``mvms``), its ``out_words`` response words (signed ``out_bits`` each when the chip made them ``wide``, in the
    BN unit's last mode: :func:`wide_outputs`; ``b_in`` otherwise) and the ``wl_ones`` wordlines its tiles drove with
    a 1 (the crossbar stand-ins count them on the tiles' ``wl`` outputs in every read's pulse cycle; every other slot
    of the activations the tiles received, one per read, was held at 0). Every tile output beat took one conversion
    per read of each column; shift-and-add steps, one per conversion, only bit-serial (a PWM read's code is the
    accumulator)."""
    from neurophase.model.events import EventCounts
    reads = encoding.reads(fmt.b_in)
    conversions = counters["tile_beats"] * reads
    return EventCounts(
        mvms=counters["mvms"], plane_reads=counters["planes"],
        wordline_ones=wl_ones, wordline_zeros=counters["acts"] * reads - wl_ones,
        adc_conversions=conversions, shift_add_ops=conversions if encoding is InputEncoding.BIT_SERIAL else 0,
        partial_sum_adds=counters["psum_adds"], bn_ops=counters["out_words"],
        activation_in_bits=counters["acts"] * fmt.b_in,
        activation_out_bits=out_words * (fmt.out_bits if wide else fmt.b_in),
        partial_sum_bits=counters["psum_adds"] * fmt.acc_bits, cycles=counters["cycles"])


def chip_config(p):
    """The chip configuration of a run from its parameters: the input encoding of every tile (``encoding``, a label)
    and the exceptions (``tile_encodings``, [[tile, label], ...]); model/chip.py ``ChipConfig``."""
    from neurophase.model.chip import ChipConfig
    return ChipConfig(encoding=p.get("encoding", InputEncoding.BIT_SERIAL.label),
                      tile_encodings=tuple((n, e) for n, e in p.get("tile_encodings", [])))


async def run_network(dut, chip, test, t, seed, icode_bits, depths=None):
    """Inference of the inputs of ``test`` (a LabelledSet) on the programmed ``chip`` through the chip RTL at ``t``
    with read-noise ``seed``, each tile reading with the encoding its MODE register holds: every response word against
    the golden executor, the logits against ``Chip.run``, the chip's event counters of every layer against
    model/events.py ``count_events`` (cycles from ``CycleModel``). ``depths``: the harness's replay memories
    ({"cmd": words, "resp": words, "planes": wordline entries}), checked before each segment. Resets the chip first
    (the clock runs: :func:`begin`); returns the report (``mismatches`` sums every kind)."""
    from neurophase.model.events import EventCounts
    from neurophase.tb.chip_networks import expected_layer_events, layer_encoding
    golden = GoldenExecutor(chip, t, seed)
    ex = RtlExecutor(dut, golden, icode_bits, chip.config.fmt.b_in, depths)
    ex.idle()
    await reset(dut)
    pixels, labels = test.x, test.y
    host = Host(chip)
    wall0 = time.perf_counter()
    n_tiles = host.mapping.tiles_needed
    layer_counters, layer_wide, mvms_seen = {}, {}, [0]

    async def run_and_count(seg):
        """Run ``seg``, then read and clear the chip's counters and add them to the segment's layer."""
        resp = await ex.run(seg)
        vals = [int(v) for v in await ex.run(counter_segment(n_tiles), golden=False)]
        n = len(LAYER_COUNTERS)
        mvms = sum(vals[n:n + n_tiles])
        if seg.layer is not None:
            totals = layer_counters.setdefault(seg.layer, dict.fromkeys([*LAYER_COUNTERS, "mvms"], 0))
            for name, v in zip([*LAYER_COUNTERS, "mvms"], vals[:n] + [mvms - mvms_seen[0]]):
                totals[name] += v
            layer_wide.setdefault(seg.layer, set()).add(wide_outputs(vals[n + n_tiles:], host.mapping, seg.layer))
        mvms_seen[0] = mvms
        return resp

    result = await drive(host.session(pixels), run_and_count)
    wall = time.perf_counter() - wall0
    # The segments' parts of ``wall``, before the check's own register reads add to them.
    parts = dict(wall_sim_s=ex.wall_sim, wall_python_s=ex.wall_python, wall_golden_s=ex.wall_golden,
                 wall_files_s=ex.wall_files)
    reference, expected = expected_layer_events(chip, pixels, t, seed)
    logit_mismatches = int(np.count_nonzero(result.logits != reference))
    regs = [(CHIP_TARGET, ChipReg.ERRORS)] + [(n, TileReg.ERRORS) for n in range(n_tiles)]
    vals = [int(v) for v in await ex.run(read_segment(regs), golden=False)]
    chip_errors, tile_errors = vals[0], vals[1:]
    # One BN mode per layer: segments of one layer that disagree are an error of their own.
    mixed = {name for name, modes in layer_wide.items() if len(modes) != 1}
    layer_events = {name: rtl_event_counts(c, ex.resp_words[name], ex.wl_ones.get(name, 0), host.fmt,
                                           True in layer_wide[name], layer_encoding(chip, name))
                    for name, c in layer_counters.items()}
    event_diffs = {name: ev.diff(expected[name]) for name, ev in layer_events.items() if ev.diff(expected[name])}
    event_diffs.update({name: "no counts from the RTL" for name in expected if name not in layer_events})
    event_diffs.update({name: "segments in both BN modes" for name in mixed})
    events = sum(layer_events.values(), start=EventCounts())
    layer_cycles = events.cycles
    # A network's outputs may be maps (a block without a classifier): its "class" is the largest output.
    top = lambda y: np.argmax(np.asarray(y).reshape(len(pixels), -1), axis=1)
    acc = float(np.mean(top(result.logits) == labels))
    return dict(images=len(pixels), encodings={a.tile: chip.encoding(a.tile).label for a in chip.mapping.tiles},
                mismatches=ex.scoreboard.total + logit_mismatches + ex.wl_errors +
                ex.plane_errors + len(event_diffs) + (chip_errors != 0) + sum(e != 0 for e in tile_errors),
                output_mismatches=ex.scoreboard.mismatches, logit_mismatches=logit_mismatches,
                words_checked=ex.scoreboard.checked, wordline_errors=ex.wl_errors, plane_errors=ex.plane_errors,
                event_mismatches=event_diffs,
                accuracy=acc, golden_accuracy=float(np.mean(top(reference) == labels)),
                cycles=layer_cycles, cycles_model=sum(e.cycles for e in expected.values()),
                cycles_per_image=layer_cycles / len(pixels),
                harness_cycles=sum(c for name, c in ex.cycles.items() if name not in ("config", "counters", "reads")),
                wall_s=wall, **parts, wall_check_s=time.perf_counter() - wall0 - wall,
                images_per_s=len(pixels) / wall, chip_errors=chip_errors, tile_errors=tile_errors,
                counters=layer_counters, events=events.as_dict(),
                layer_events={name: ev.as_dict() for name, ev in layer_events.items()},
                coverage=sample(golden))


def _depths(p):
    return {k: p[f"{k}_depth"] for k in ("cmd", "resp", "planes")} if "cmd_depth" in p else None


@cocotb.test(timeout_time=timeout_ns(), timeout_unit="ns")
async def chip_inference_matches_golden(dut):
    """Whole-network inference of the first ``images`` test inputs of the ``network`` spec (tb/chip_networks.py)
    with the run's input encodings (:func:`chip_config`); every response word, the logits and every layer's event
    counts scored."""
    from neurophase.tb.chip_networks import DIGITS_SPEC, chip_for, network_inputs
    p = params()
    log = logging.getLogger("tb.chip")
    chip = chip_for(p.get("network", DIGITS_SPEC), p["chip_seed"], chip_config(p))
    await begin(dut)
    report = await run_network(dut, chip, network_inputs(chip, p["images"]), p["t"], p["seed"], p["icode_bits"],
                               _depths(p))
    with open(p["result"], "w") as f:
        json.dump(report, f, indent=1)
    log.info("%s", report)
    assert report["mismatches"] == 0, f"{report['mismatches']} mismatches with the golden model"


@cocotb.test(timeout_time=timeout_ns(), timeout_unit="ns")
async def random_networks_match_golden(dut):
    """model/random_network.py's networks of ``seeds`` on the regression chip (``chip``), one after another on one
    simulator build, each scored as :func:`run_network` does; the report lists every seed's, failing seeds too."""
    from neurophase.model.random_network import RegressionChip, network_features, random_chip
    p = params()
    log = logging.getLogger("tb.chip.regress")
    rc = RegressionChip(**p["chip"])
    reports = []
    await begin(dut)
    for seed in p["seeds"]:
        w0 = time.perf_counter()
        chip = random_chip(seed, rc)
        r = await run_network(dut, chip, chip.network.test, p["t"], seed, p["icode_bits"], _depths(p))
        r.update(seed=seed, features=network_features(chip), wall_total_s=time.perf_counter() - w0)
        log.info("seed %d: %d mismatches, %d words, %d cycles (model %d)", seed, r["mismatches"],
                 r["words_checked"], r["cycles"], r["cycles_model"])
        reports.append(r)
        with open(p["result"], "w") as f:       # after every seed: a later hang still leaves the earlier reports
            json.dump(reports, f, indent=1)
    failed = [r["seed"] for r in reports if r["mismatches"]]
    assert not failed, f"seeds with mismatches: {failed}"


@cocotb.test(timeout_time=timeout_ns(), timeout_unit="ns")
async def command_errors_are_flagged(dut):
    """Bad opcode, tile number, ACT count, ROUTE size, ACT outside the route, chip register: each flagged in
    ERRORS and on ``error``, and the decoder stays in step (the next command still works)."""
    p = params()
    b_in = 8
    ex = RtlExecutor(dut, None, p["icode_bits"], b_in)
    await start(dut, ex)
    n = p["tiles"]

    async def errors_after(words, cleanup=()):
        prog = list(words) + [header(Op.READ, CHIP_TARGET, ChipReg.ERRORS), header(Op.READ, CHIP_TARGET, ChipReg.ID)]
        got = await ex.run(Segment("errors", np.array(prog, np.uint32), 2), golden=False)
        assert int(got[1]) == CHIP_ID, f"decoder out of step: ID read {int(got[1]):#x}"
        flag = dut.error.value
        clear = list(cleanup) + [header(Op.WRITE, CHIP_TARGET, ChipReg.ERRORS), 0xFFFF_FFFF,
                 header(Op.READ, CHIP_TARGET, ChipReg.ERRORS)]
        after = await ex.run(Segment("clear", np.array(clear, np.uint32), 1), golden=False)
        assert int(after[0]) == 0 and dut.error.value == 0, "ERRORS not cleared by writing ones"
        return ChipErr(int(got[0])), flag

    cases = [
        ("no error", [header(Op.NOP, 0)], ChipErr(0)),
        ("bad opcode", [0xF000_0000], ChipErr.BAD_OPCODE),
        ("bad tile in WRITE", [header(Op.WRITE, n, TileReg.ROWS_USED), 1], ChipErr.BAD_TILE),
        ("bad tile in READ", [header(Op.READ, n, TileReg.ID)], ChipErr.BAD_TILE),
        ("bad tile in ACT", [header(Op.ACT, n, 5), 0, 0], ChipErr.BAD_TILE),
        ("ACT count 0", [header(Op.ACT, 0, 0)], ChipErr.BAD_VALUE),
        ("ACT count past the rows", [header(Op.ACT, 0, p["rows"] + 1)] + [0] * act_words(p["rows"] + 1, b_in),
         ChipErr.BAD_VALUE),
        ("ROUTE size 0", [header(Op.ROUTE, 0, 0)], ChipErr.BAD_VALUE),
        ("ROUTE past the last tile", [header(Op.ROUTE, n - 1, 2)], ChipErr.BAD_TILE),
        ("ACT outside the route", [header(Op.ROUTE, 0, 1), header(Op.ACT, 1, 3), 0], ChipErr.BAD_ROUTE),
        ("write to a read-only chip register", [header(Op.WRITE, CHIP_TARGET, ChipReg.ID), 0], ChipErr.CHIP_REG),
        ("chip BN channel out of range", [header(Op.WRITE, CHIP_TARGET, ChipReg.RED_BN_CHANNEL), 1 << 12],
         ChipErr.BAD_VALUE),
    ]
    for name, words, flag in cases:
        got, pin = await errors_after(words)
        assert got == flag, f"{name}: ERRORS {got!r}, expected {flag!r}"
        assert pin == bool(flag), f"{name}: error pin {pin}, expected {bool(flag)}"
    # A tile's own error (a bad register value) shows in the chip's ERRORS until the tile's flag is cleared.
    got, pin = await errors_after([header(Op.WRITE, 0, TileReg.ROWS_USED), 0],
                                  cleanup=[header(Op.WRITE, 0, TileReg.ERRORS), 0x1F])
    assert got == ChipErr.TILE_ERROR and pin, f"tile register error: ERRORS {got!r}"
