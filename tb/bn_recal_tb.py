"""cocotb test: global BN recalibration through the tile RTL (raw-accumulator readout, then the register interface).

Ref: docs/architecture.md §4 step 5, §6 item 2; model/drift.py. The workload (PARAM_WORKLOAD, tb/tile_workload.py)
holds one tile's MVMs on the calibration images at time t, drifted; PARAM_RECAL a ``.npz`` with the reference
per-channel statistics recorded right after programming and the programming-time BN registers. The test

1. streams every MVM in RAW mode and keeps the accumulators the RTL read out (scored against the golden model);
2. computes the recalibrated registers from *those* accumulators with ``model.drift.recalibrate_registers``;
3. writes them through the register interface (BN_CTRL, BN_CHANNEL, BN_SCALE/BN_BIAS pairs), reading each staged
   value back, and streams the MVMs again in BN mode, scored against ``bn_requantise`` with the same registers;
4. writes accumulators, registers, read-backs and mismatch counts to PARAM_RESULT (``.npz``) for pytest to compare
   with the golden flow's registers, bit for bit.
"""

import cocotb
import numpy as np

from neurophase.model.arith import BnRegisters
from neurophase.model.drift import recalibrate_registers
from neurophase.model.interface import BN_CTRL, TILE_MODE, TileReg
from neurophase.tb.common import timeout_ns
from neurophase.tb.tile_tb import TileTB


@cocotb.test(timeout_time=timeout_ns(), timeout_unit="ns")
async def bn_recalibration_through_the_register_interface(dut):
    tb = TileTB(dut)
    wl, regs = tb.wl, tb.regs
    with np.load(tb.p["recal"]) as f:
        aux = {k: f[k] for k in f.files}
    await tb.start()
    mvms = list(range(wl.mvms))
    wl.raw = True
    await regs.configure(wl)
    acc, _ = await tb.stream(mvms)
    tb.scoreboard.check(mvms, acc)
    raw_mismatches = tb.scoreboard.mismatches

    base = BnRegisters(aux["base_scale"], aux["base_bias"], int(aux["base_shift"]))
    bn = recalibrate_registers(acc, aux["ref_mean"], aux["ref_std"], base, wl.fmt)
    scale, bias, shift = bn.scale, bn.bias, bn.shift
    await regs.write(TileReg.MODE, 0)
    await regs.write(TileReg.BN_CTRL, BN_CTRL.encode(shift=shift, relu=wl.relu, last=wl.last))
    await regs.write(TileReg.BN_CHANNEL, 0)
    back_scale, back_bias = [], []
    for s, b in zip(scale.tolist(), bias.tolist()):
        await regs.write(TileReg.BN_SCALE, s)
        back_scale.append(await regs.read(TileReg.BN_SCALE, signed=True))
        await regs.write(TileReg.BN_BIAS, b)
        back_bias.append(await regs.read(TileReg.BN_BIAS, signed=True))
    back_shift = BN_CTRL.decode(await regs.read(TileReg.BN_CTRL)).shift
    await regs.write(TileReg.MODE, TILE_MODE.encode(autostart=1))
    errors = await regs.read(TileReg.ERRORS)

    wl.raw, wl.scale, wl.bias, wl.shift = False, scale, bias, shift
    out, _ = await tb.stream(mvms)
    tb.scoreboard.check(mvms, out)
    np.savez(tb.p["result"], acc=acc, scale=scale, bias=bias, shift=shift, back_scale=np.array(back_scale),
             back_bias=np.array(back_bias), back_shift=back_shift, out=out, errors=errors,
             raw_mismatches=raw_mismatches, bn_mismatches=tb.scoreboard.mismatches - raw_mismatches)
    assert errors == 0, f"register writes raised errors {errors:#x}"
    assert tb.scoreboard.mismatches == 0, f"{tb.scoreboard.mismatches} outputs differ from the golden model"
