"""cocotb testbench: command storms through the chip (tb/chip_harness.py) against the golden executor, word for word
and error bit for error bit, each followed by an image that the chip must still classify as the golden model does.

Ref: docs/architecture.md D7. Storms come from tb/chip_fuzz.py (``command_storm``); the golden executor
(model/executor.py, with the error model of model/command_errors.py) answers them first, so each segment's response
count is known; tb/chip_tb.py's :class:`RtlExecutor` runs them and scores every word.
"""

import json
import logging

import cocotb
import numpy as np

from neurophase.tb.chip_tb import RtlExecutor, drive, start
from neurophase.tb.common import timeout_ns
from neurophase.tb.functional_coverage import sample
from neurophase.tb.runner import params

__all__ = []


def shadow_of(chip, golden):
    """The storm's view of the chip (tb/chip_fuzz.py StormShadow) as the golden executor holds it now."""
    from neurophase.model.executor import chip_max_group
    from neurophase.tb.chip_fuzz import StormShadow
    cfg = chip.config.tile
    return StormShadow(tiles=len(chip.tiles), rows=cfg.rows, columns=cfg.columns, max_group=chip_max_group(chip),
                       b_in=chip.config.fmt.b_in, rows_used={a.tile: a.rows for a in chip.mapping.tiles},
                       mapped_columns={a.tile: a.columns for a in chip.mapping.tiles}, route=golden.route)


@cocotb.test(timeout_time=timeout_ns(), timeout_unit="ns")
async def command_storms_match_golden(dut):
    """``storms`` storms of about ``words`` words from ``seed``; after each, one test image classified."""
    from neurophase.model.chip import reference_chip
    from neurophase.model.executor import GoldenExecutor
    from neurophase.model.host import Host
    from neurophase.tb.chip_fuzz import command_storm
    p = params()
    log = logging.getLogger("tb.chip.fuzz")
    chip = reference_chip(p["chip_seed"])
    golden = GoldenExecutor(chip, p["t"], p["seed"])
    ex = RtlExecutor(dut, golden, p["icode_bits"], chip.config.fmt.b_in)
    await start(dut, ex)
    host = Host(chip)
    await ex.run(host.config_segment())
    test = chip.network.test
    words = pin_errors = 0
    images = []
    for k in range(p["storms"]):
        for seg in command_storm([p["fuzz_seed"], k], shadow_of(chip, golden), p["words"], name=f"storm{k}.",
                                 chunk0=1000 + 16 * k):
            want = golden.execute(seg)
            seg.n_resp = len(want)
            await ex.run(seg, expected=want)
            words += len(seg.words)
            if bool(dut.error.value) != bool(golden.chip_errors):
                pin_errors += 1
                log.error("%s: error pin %s, golden ERRORS %#x", seg.name, dut.error.value, golden.chip_errors)
        x = test.x[k:k + 1]
        result = await drive(host.session(x), ex.run)
        reference = chip.run(x, p["t"], p["seed"])
        images.append(dict(label=int(test.y[k]), rtl=int(np.argmax(result.logits[0])),
                           golden=int(np.argmax(reference[0])),
                           logits_equal=bool(np.array_equal(result.logits, reference))))
    report = dict(fuzz_seed=p["fuzz_seed"], storms=p["storms"], words=words, words_checked=ex.scoreboard.checked,
                  mismatches=ex.scoreboard.total, output_mismatches=ex.scoreboard.mismatches, pin_errors=pin_errors,
                  wordline_errors=ex.wl_errors, plane_errors=ex.plane_errors, images=images,
                  coverage=sample(golden))
    with open(p["result"], "w") as f:
        json.dump(report, f, indent=1)
    log.info("%s", report)
    bad = report["mismatches"] + pin_errors + ex.wl_errors + ex.plane_errors + \
        sum(not (i["logits_equal"] and i["rtl"] == i["golden"]) for i in images)
    assert bad == 0, f"{bad} mismatches with the golden executor; replay: {p['replay']}"
