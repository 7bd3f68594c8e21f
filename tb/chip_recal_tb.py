"""cocotb test of the chip top: global BN recalibration through the command interface, then inference, bit for bit.

Ref: docs/architecture.md §6 item 2, D6, D7; model/host.py ``Host.recalibration_session``. Same harness and
components as tb/chip_tb.py (one simulator build serves both): the host compiler's recalibration program runs on the
RTL (:class:`~.chip_tb.RtlExecutor`), the golden executor runs every segment too and every response word is scored.
The host computes each layer's new BN registers from the raw accumulators *the RTL* returned, writes them through
the command interface and reads them back; those registers must equal model/drift.py ``recalibrate_bn``'s (the
golden flow) bit for bit, and test images then classified by the RTL with them must give the golden logits.

Parameters (PARAM_*): ``calibration`` images (the first of the training split), ``images`` test images, ``t`` (s after
programming), ``seed`` (test images' read noise; calibration uses model/drift.py's CALIBRATION_SEED),
``chip_seed``, ``icode_bits``, ``result`` (JSON report written for the launcher, with the registers).
"""

import copy
import json
import logging
import time

import cocotb
import numpy as np

from neurophase.model.executor import GoldenExecutor
from neurophase.model.host import Host, register_mismatches
from neurophase.model.interface import CHIP_TARGET, ChipErr, ChipReg, TileReg
from neurophase.tb.chip_tb import RtlExecutor, chip_config, drive, read_segment, start
from neurophase.tb.common import timeout_ns
from neurophase.tb.runner import params

__all__ = ["registers_json"]


def registers_json(registers):
    """{(layer, column block): BnRegisters} as JSON: {"layer.block": [scale list, bias list, shift]}."""
    return {f"{name}.{cb}": [regs.scale.tolist(), regs.bias.tolist(), regs.shift]
            for (name, cb), regs in registers.items()}


@cocotb.test(timeout_time=timeout_ns(), timeout_unit="ns")
async def chip_bn_recalibration_matches_golden(dut):
    """Recalibration at ``t`` on ``calibration`` images through the chip RTL, then ``images`` test images."""
    from neurophase.model.chip import reference_chip
    from neurophase.model.drift import recalibrate_bn, record_reference
    p = params()
    log = logging.getLogger("tb.chip.recal")
    chip = reference_chip(p["chip_seed"], chip_config(p))
    reference = record_reference(chip, p["calibration"])
    golden_chip = copy.copy(chip)               # recalibrate_bn rewrites the registers of its chip
    want = recalibrate_bn(golden_chip, p["t"], reference)
    test = chip.network.test.first(p["images"])
    pixels, labels = test.x, test.y
    want_logits = golden_chip.run(pixels, p["t"], p["seed"])

    ex = RtlExecutor(dut, GoldenExecutor(chip, p["t"], p["seed"]), p["icode_bits"], chip.config.fmt.b_in)
    await start(dut, ex)
    wall0 = time.perf_counter()
    result = await drive(Host(chip).recalibration_session(reference, pixels), ex.run)
    wall = time.perf_counter() - wall0
    n_tiles = chip.mapping.tiles_needed
    vals = [int(v) for v in await ex.run(read_segment([(CHIP_TARGET, ChipReg.ERRORS)] +
                                                      [(n, TileReg.ERRORS) for n in range(n_tiles)]), golden=False)]
    chip_errors, tile_errors = vals[0], vals[1:]
    calibration_cycles = sum(c for name, c in ex.cycles.items() if name.endswith((".raw", ".registers")))
    logit_mismatches = int(np.count_nonzero(result.run.logits != want_logits))
    report = dict(
        calibration=p["calibration"], images=p["images"], t=p["t"],
        register_mismatches=register_mismatches(result.registers, want),
        readback_mismatches=result.readback_mismatches(),
        registers_changed=register_mismatches(result.registers, reference.registers),
        word_mismatches=ex.scoreboard.total, output_mismatches=ex.scoreboard.mismatches,
        words_checked=ex.scoreboard.checked, logit_mismatches=logit_mismatches,
        wordline_errors=ex.wl_errors, plane_errors=ex.plane_errors, chip_errors=chip_errors, tile_errors=tile_errors,
        accuracy=float(np.mean(np.argmax(result.run.logits, axis=1) == labels)),
        golden_accuracy=float(np.mean(np.argmax(want_logits, axis=1) == labels)),
        calibration_cycles=calibration_cycles, cycles=sum(ex.cycles.values()), wall_s=wall,
        wall_sim_s=ex.wall_sim, wall_python_s=ex.wall_python, registers=registers_json(result.registers))
    with open(p["result"], "w") as f:
        json.dump(report, f, indent=1)
    log.info("%s", {k: v for k, v in report.items() if k != "registers"})
    assert report["register_mismatches"] == 0, \
        f"{report['register_mismatches']} register values differ from model/drift.py recalibrate_bn's"
    assert report["readback_mismatches"] == 0, f"{report['readback_mismatches']} registers read back differently"
    assert report["word_mismatches"] == 0, f"response words differ from the golden executor's: " \
                                           f"{report['output_mismatches']}"
    assert logit_mismatches == 0, f"{logit_mismatches} logits differ from the recalibrated golden chip's"
    assert ex.wl_errors == 0 and ex.plane_errors == 0, f"crossbar: {ex.wl_errors} wordline, {ex.plane_errors} " \
                                                       f"plane errors"
    assert chip_errors == 0 and not any(tile_errors), f"errors: chip {ChipErr(chip_errors)!r}, tiles {tile_errors}"
