"""One faulty chip confirmed in RTL bit for bit (docs/architecture.md D11-D13): a tile of a chip with stuck devices,
a dead wordline and a dead bitline per tile, wire (IR) drop and ADC offset and gain runs through the full-size tile
RTL, the crossbar stand-in fed the currents as the faulty chip's comparators see them."""

import numpy as np
import pytest

from neurophase.model.adc_errors import AdcErrors
from neurophase.model.chip import Chip, ChipConfig
from neurophase.model.device import PcmModel
from neurophase.model.faults import FaultConfig
from neurophase.model.tile import TileConfig
from neurophase.tb.tile_sim import chip_workload, run_workload

FAULTY = ChipConfig(pcm=PcmModel(p_stuck_set=0.005, p_stuck_reset=0.02), faults=FaultConfig(1, 1),
                    tile=TileConfig(r_wordline=1.0, r_bitline=1.0),
                    adc_errors=AdcErrors(offset_lsb=1.0, gain_sigma=0.05))


@pytest.mark.sim
def test_a_faulty_chips_tile_matches_the_golden_model_in_rtl(tmp_path):
    chip = Chip.program(seed=11, config=FAULTY)
    tile = chip.tiles[0]
    assert tile.devices.stuck.any() and tile.line_faults.any and tile.column_adc is not None
    wl = chip_workload(0, images=1, t=3600.0, seed=5, chip=chip)
    healthy = chip_workload(0, images=1, t=3600.0, seed=5, chip=Chip.program(seed=11))
    # The faults matter: a good share of the outputs differ from the same chip without them.
    assert np.mean(wl.expected().out != healthy.expected().out) > 0.2
    result = run_workload(wl, sim="icarus", case="faulty_chip_tile0", workdir=tmp_path,
                          testcase="workload_matches_golden")
    assert result["mismatches"] == 0 and result["outputs_checked"] == wl.mvms * wl.cols_used


def test_a_tile_workload_refuses_comparator_noise():
    chip = Chip.program(seed=1, config=ChipConfig(adc_errors=AdcErrors(comparator_lsb=0.5)))
    with pytest.raises(ValueError, match=r"tile 4 has comparator noise: a tile workload holds one current code per "
                                         r"read, and each comparison would need its own"):
        chip.tile_workload(4, images=1)
