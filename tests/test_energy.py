"""Energy model: ResNet-50 layer list, technology file, analytic event counts, PCM read energy, claims arithmetic."""

import math
import tomllib

import numpy as np
import pytest

from neurophase.model.arith import PeripheryFormat
from neurophase.model.claims import check_claims
from neurophase.model.cycles import CycleModel
from neurophase.model.energy import evaluate
from neurophase.model.events import count_events
from neurophase.model.interface import BN_LATENCY, InputEncoding
from neurophase.model.read_energy import (gaussian_weight_conductance, read_energy, relu_activation_stats,
                                          statistical_read_energy, tile_read_energy)
from neurophase.model.workload import LayerWork, works_from_mapping
from neurophase.model.device import PcmModel
from neurophase.model.resnet50 import resnet50_layers
from neurophase.model.technology import TECH_PATH, load_technology, scale_factor
from neurophase.model.tile import CrossbarTile

FMT = PeripheryFormat()


# -- ResNet-50 --------------------------------------------------------------------------------------------------------

def test_resnet50_layer_list_reproduces_published_weight_and_mac_counts():
    layers = resnet50_layers()
    # REFERENCES.md: 25,502,912 conv+FC weights, 4.089 G MACs, largest layer 3x3x512x512.
    assert sum(l.weights for l in layers) == 25_502_912
    assert sum(l.macs for l in layers) / 1e9 == pytest.approx(4.089, abs=5e-4)
    assert max(l.weights for l in layers) == 3 * 3 * 512 * 512
    assert len(layers) == 54 and layers[0].mvms == 112 * 112 and layers[-1].fan_in == 2048


# -- technology file --------------------------------------------------------------------------------------------------

def test_every_technology_value_names_a_source_and_is_scaled_to_28nm():
    with open(TECH_PATH, "rb") as f:
        raw = tomllib.load(f)
    for section in ("energy", "timing"):
        for name, entry in raw[section].items():
            assert entry["source"].strip(), f"{section}.{name} has no source"
    tech = load_technology()
    assert tech.node_nm == 28
    assert tech.scale_factors["adc"] == pytest.approx(28 / 32)
    assert tech.adc_conversion_energy(8) == pytest.approx(1.67e-12 * 28 / 32)
    assert tech.bn == pytest.approx(3.2e-12 * 28 / 45)
    assert tech.sar_step == pytest.approx(1e-9 * 28 / 22)
    assert tech.t_pulse == 10e-9          # an analog design choice, not scaled
    assert tech.sar_conversion_time(8) == pytest.approx(9 * tech.sar_step)


def test_adc_energy_outside_the_published_table_is_rejected():
    tech = load_technology()
    with pytest.raises(ValueError, match=r"adc bits must be in \[4, 10\]"):
        tech.adc_conversion_energy(12)
    assert tech.adc_conversion_energy(8) < tech.adc_conversion_energy(9)


def test_scale_factor_rejects_nonpositive_nodes():
    with pytest.raises(ValueError, match="source_nm"):
        scale_factor(0, 28)


# -- event counts -----------------------------------------------------------------------------------------------------

def _work(name="l", fan_in=300, fan_out=200, mvms=10, last=False):
    """A layer split as the mapper splits it (full blocks first) on 256 x 128 tiles."""
    def split(n, cap):
        k = -(-n // cap)
        return tuple([cap] * (k - 1) + [n - cap * (k - 1)])
    return LayerWork(name, fan_in, fan_out, mvms, split(fan_in, 256), split(fan_out, 128), last=last)


def test_bit_serial_event_counts_of_a_row_and_column_split_layer():
    w = _work()                                 # 2 row tiles (256 + 44) x 2 column tiles (128 + 72)
    cm = CycleModel(pulse_cycles=8)
    ev = count_events(w, encoding=InputEncoding.BIT_SERIAL, fmt=FMT, cycle_model=cm)
    assert ev.mvms == 10 * 4
    assert ev.plane_reads == 10 * 4 * 8
    assert ev.wordline_pulses == 10 * 8 * 300 * 2
    assert ev.adc_conversions == 10 * 8 * 200 * 2
    assert ev.shift_add_ops == ev.adc_conversions
    assert ev.partial_sum_adds == 10 * 200 * 1
    assert ev.bn_ops == 10 * 200
    assert ev.activation_in_bits == 10 * 300 * 2 * 8
    assert ev.activation_out_bits == 10 * 200 * 8
    assert ev.partial_sum_bits == 10 * 200 * 20
    assert ev.cycles == cm.segment_cycles(w, 10, InputEncoding.BIT_SERIAL, FMT)
    # Two images in one segment: every count doubles, the cycles do not (one set-up and drain).
    two = count_events(w, encoding=InputEncoding.BIT_SERIAL, fmt=FMT, cycle_model=cm, images=2)
    assert {k: v // 2 for k, v in two.as_dict().items() if k != "cycles"} == \
        {k: v for k, v in ev.as_dict().items() if k != "cycles"}
    assert ev.cycles < two.cycles < 2 * ev.cycles


def _single_tile_cycles(rows, cols, mvms, planes):
    """The single-tile segment in closed form (CycleModel docstring): ROUTE, the first ACT (w words in b beats) to
    the first READOUT, one period per further MVM, the last readout through BN and the response FIFO."""
    w = -(-rows // 4)
    b, f = -(-w // 4), min(w, 4)
    period = planes + 1 + max(cols, (w - f) + b)
    return w + b + planes + cols + BN_LATENCY + 7 + (mvms - 1) * period


@pytest.mark.parametrize("rows, cols", [(9, 16), (144, 32), (256, 128), (200, 16)],
                         ids=["readout_bound", "load_bound", "full_tile", "load_bound_wide"])
def test_single_tile_layer_cycles_follow_the_chip_sequencing(rows, cols):
    # 8 planes of max(8, 8 + 1) + 1 = 10 cycles; 4 activations per command word, 16 per beat.
    w = LayerWork("l", rows, cols, 7, (rows,), (cols,))
    assert count_events(w, fmt=FMT).cycles == _single_tile_cycles(rows, cols, 7, 80)


def test_pwm_uses_one_read_and_no_shift_and_add():
    w = _work(fan_in=100, fan_out=50, mvms=3, last=True)
    ev = count_events(w, encoding=InputEncoding.PWM, fmt=FMT, cycle_model=CycleModel(pwm_lsb_cycles=2))
    assert (ev.plane_reads, ev.wordline_pulses, ev.adc_conversions, ev.shift_add_ops) == (3, 300, 150, 0)
    assert ev.partial_sum_adds == 0 and ev.partial_sum_bits == 0
    assert ev.activation_out_bits == 3 * 50 * FMT.out_bits          # last layer: signed outputs
    assert ev.cycles == _single_tile_cycles(100, 50, 3, 255 * 2 + 9 + 1)


def test_cycle_model_follows_adc_sharing_and_bn_lanes():
    bs = InputEncoding.BIT_SERIAL
    assert CycleModel(columns_per_adc=8).read_cycles(bs, FMT) == 8 * 8 + 1 + 1
    assert CycleModel(bn_lanes=4).mvm_cycles(bs, FMT, 256, 128) == 8 * 10 + 32 + 1
    assert CycleModel(bn_lanes=32).mvm_cycles(bs, FMT, 256, 128) == 8 * 10 + 16 + 1   # loads dominate


def test_event_counts_add_and_diff_name_the_differing_fields():
    a = count_events(_work(), fmt=FMT)
    b = count_events(_work(mvms=11), fmt=FMT)
    total = a + b
    assert total.adc_conversions == a.adc_conversions + b.adc_conversions
    assert a.diff(a) == {}
    d = a.diff(b)
    assert set(d) == {f for f in a.as_dict() if a.as_dict()[f] != 0}
    assert d["bn_ops"] == (2000, 2200)


def test_works_from_a_mapping_keep_the_split_and_event_totals():
    from neurophase.model.mapper import plan
    layers = [("a", 300, 200, 10), ("b", 64, 10, 1)]
    works = works_from_mapping(plan(layers))
    assert [w.name for w in works] == ["a", "b"]
    assert works[0].row_blocks == (256, 44) and works[0].col_blocks == (128, 72)
    assert works[1].last and not works[0].last
    assert sum(w.tiles for w in works) == plan(layers).tiles_needed


def test_bad_layer_work_and_encoding_are_rejected():
    with pytest.raises(ValueError, match="row_blocks must be positive block sizes summing to 300"):
        LayerWork("x", 300, 10, 1, (256, 40), (10,))
    with pytest.raises(ValueError, match=r"input encoding must be one of \['bit-serial', 'pwm'\], got 'thermometer'"):
        count_events(_work(), encoding="thermometer")
    with pytest.raises(ValueError, match="columns_per_adc must be an integer in"):
        CycleModel(columns_per_adc=0)


# -- PCM read energy --------------------------------------------------------------------------------------------------

def _tile(rng_seed=1, rows=40, cols=12, pcm=PcmModel()):
    w = np.random.default_rng(rng_seed).standard_normal((rows, cols))
    return CrossbarTile.program(w, seed=rng_seed, pcm=pcm)


def test_read_energy_is_v_times_bitline_current_times_pulse_summed_over_planes():
    tile = _tile()
    x = np.random.default_rng(2).integers(0, 256, size=(5, 40))
    t_unit, v = 12e-9, tile.config.v_read
    g = tile.pcm.conductance_at(tile.devices, 3600.0)[:40]
    # Brute force: every plane, every bitline current I_j = V sum_i bit_i G_ij, energy V I_j t_unit.
    brute = 0.0
    for plane in range(8):
        bits = (x >> (7 - plane)) & 1
        currents = v * (bits @ g)                       # (batch, bitlines)
        brute += float((v * currents * t_unit).sum())
    assert tile_read_energy(tile, x, 3600.0, t_unit=t_unit) == pytest.approx(brute, rel=1e-12)


def test_pwm_read_energy_weighs_each_plane_by_its_place_value():
    tile = _tile()
    x = np.random.default_rng(3).integers(0, 256, size=(4, 40))
    g = tile.pcm.conductance_at(tile.devices, 0.0)[:40]
    per_plane = [read_energy(g, ((x >> b) & 1), v_read=0.2, t_unit=1e-9, b_in=1) for b in range(8)]
    pwm = read_energy(g, x, v_read=0.2, t_unit=1e-9, encoding=InputEncoding.PWM)
    assert pwm == pytest.approx(sum(e * (1 << b) for b, e in enumerate(per_plane)), rel=1e-12)


def test_statistical_read_energy_matches_a_programmed_tile_under_its_assumptions():
    rows, cols = 256, 128
    tile = _tile(rng_seed=4, rows=rows, cols=cols, pcm=PcmModel().ideal())
    rng = np.random.default_rng(5)
    stats = relu_activation_stats(8, 4.0)
    z = rng.standard_normal((200, rows))
    x = np.clip(np.round(np.maximum(z, 0) * 255 / 4.0), 0, 255).astype(np.int64)
    work = LayerWork("t", rows, cols, 200, (rows,), (cols,))
    g_mean = gaussian_weight_conductance(tile.pcm.g_max, rows=rows)
    for enc in InputEncoding:
        measured = tile_read_energy(tile, x, 0.0, t_unit=1e-9, encoding=enc)
        expected = statistical_read_energy(work, g_mean=g_mean, stats=stats, v_read=0.2, t_unit=1e-9,
                                             encoding=enc)
        assert measured == pytest.approx(expected, rel=0.05), enc


def test_relu_activation_stats_match_sampling():
    stats = relu_activation_stats(8, 4.0)
    z = np.random.default_rng(6).standard_normal(400_000)
    q = np.clip(np.round(np.maximum(z, 0) * 255 / 4.0), 0, 255).astype(np.int64)
    assert stats.mean_code == pytest.approx(q.mean(), rel=0.01)
    assert stats.mean_popcount == pytest.approx(np.unpackbits(q.astype(np.uint8)).sum() / q.size, rel=0.01)


# -- evaluation -------------------------------------------------------------------------------------------------------

def _evaluate(encoding=InputEncoding.BIT_SERIAL, works=None):
    tech = load_technology()
    works = works or [_work("a"), _work("b", 64, 10, 1, last=True)]
    return evaluate(works, encoding=encoding, tech=tech, fmt=FMT,
                      pcm_read=lambda w, enc, t: 1e-9 * w.macs * t / 1e-8)


def test_evaluation_figures_follow_from_energy_and_cycles():
    ev = _evaluate()
    tech = load_technology()
    assert ev.energy_j == pytest.approx(sum(ev.energy.values()))
    assert ev.energy["adc"] == pytest.approx(ev.events.adc_conversions * tech.adc_conversion_energy(8))
    assert ev.ops == 2 * (300 * 200 * 10 + 64 * 10)
    assert ev.tops_per_w == pytest.approx(ev.ops / ev.energy_j / 1e12)
    assert ev.latency_s == pytest.approx(ev.events.cycles / tech.clock_hz)
    assert ev.fps_pipelined >= ev.fps_sequential
    assert ev.power_w(100.0) == pytest.approx(100.0 * ev.energy_j)
    assert (ev.tiles_needed, ev.fits, ev.chips_needed) == (5, True, 1)


def test_pwm_trades_conversions_for_longer_reads():
    bs, pwm = _evaluate(InputEncoding.BIT_SERIAL), _evaluate(InputEncoding.PWM)
    assert pwm.events.adc_conversions * FMT.b_in == bs.events.adc_conversions
    assert pwm.energy["adc"] < bs.energy["adc"]
    assert pwm.events.cycles > bs.events.cycles


def test_resnet50_needs_more_tiles_than_the_chip_has():
    from neurophase.energy import resnet50_evaluations
    tech = load_technology()
    evals = resnet50_evaluations(tech, cycle_model=CycleModel.from_technology(tech))
    ev = evals[InputEncoding.BIT_SERIAL]
    assert ev.weights == 25_502_912
    assert not ev.fits
    # At least one tile per 256 x 128 weights, and the chip holds 144 of them.
    assert ev.tiles_needed >= math.ceil(25_502_912 / (256 * 128))
    assert ev.chips_needed == math.ceil(ev.tiles_needed / 144)


# -- claims -----------------------------------------------------------------------------------------------------------

PAPER = {"tops_per_w": 12.4, "digital_advantage": 28.0, "power_w": 8.3e-3, "frames_per_s": 142.0,
         "battery_years": 1.0, "tiles": 144, "devices": 9.4e6}
BATTERY = {"name": "CR2032", "capacity_ah": 0.225, "voltage_v": 3.0}
CHIPS = [{"name": "Edge TPU", "kind": "digital", "tops_per_w": 2.0},
         {"name": "Eyeriss", "kind": "digital", "tops_per_w": 0.17},
         {"name": "HERMES", "kind": "analog PCM", "tops_per_w": 9.76}]


def _claims(paper=PAPER, chips=CHIPS, **kw):
    return {c.name.split(" (")[0]: c for c in check_claims(paper, BATTERY, chips, ops_per_frame=8.18e9,
                                                              weights=25.5e6, **kw)}


def test_claims_check_computes_the_papers_inconsistencies():
    c = _claims()
    tpw = c["TOPS/W from frames/s x ops/frame / power"]
    assert tpw.computed == pytest.approx(142 * 8.18e9 / 8.3e-3 / 1e12) and not tpw.holds
    assert c["devices = tiles x 256 x 256"].holds
    fit = c["ResNet-50 fits on the chip"]
    assert fit.computed == 51.0e6 and not fit.holds
    bat = c["CR2032 lasts 1 year at the claimed power"]
    assert bat.computed * 365.25 == pytest.approx(0.225 * 3 * 3600 / 8.3e-3 / 86400) and not bat.holds
    adv = c["28x a digital accelerator"]
    assert adv.computed == pytest.approx(12.4 / 2.0) and not adv.holds


def test_claims_hold_when_the_inputs_are_consistent():
    # 12.4 TOPS/W at 8.3 mW is 12.58 fps of 8.18 G ops; a 50 uW budget lasts over a year; a 0.443 TOPS/W chip.
    paper = {**PAPER, "frames_per_s": 12.4e12 * 8.3e-3 / 8.18e9}
    c = _claims(paper, CHIPS + [{"name": "slow", "kind": "digital", "tops_per_w": 12.4 / 28}])
    assert c["TOPS/W from frames/s x ops/frame / power"].holds
    assert c["28x a digital accelerator"].holds
    low = _claims({**PAPER, "power_w": 50e-6})
    assert low["CR2032 lasts 1 year at the claimed power"].holds
    small = check_claims(PAPER, BATTERY, CHIPS, ops_per_frame=8.18e9, weights=4e6)
    assert next(c for c in small if c.name.startswith("ResNet-50 fits on the chip")).holds


def test_twin_claims_compare_the_estimate_with_the_paper():
    ev = _evaluate()
    c = {x.name: x for x in check_claims(PAPER, BATTERY, CHIPS, ops_per_frame=ev.ops, weights=ev.weights,
                                           twins=[ev])}
    power = c["power at 142 fps within the twin's estimate (bit-serial)"]
    assert power.computed == pytest.approx(ev.energy_j * 142) and power.holds == (power.computed <= 8.3e-3 * 1.1)
    tpw = c["TOPS/W on ResNet-50 within the twin's estimate (bit-serial)"]
    assert tpw.holds == (ev.tops_per_w >= 12.4 * 0.9)
    fps = c["142 frames/s on one chip (bit-serial)"]
    assert fps.holds == (ev.fps_pipelined >= 142 * 0.9)


def test_analytic_mvm_counts_match_the_golden_model_run_of_the_reference_cnn():
    from neurophase.energy import network_evaluations
    from neurophase.model.chip import reference_chip
    images, tech = 3, load_technology()
    chip = reference_chip(0)
    _, trace = chip.run(chip.network.test.x[:images], 3600.0, 0, record=True)
    for w in works_from_mapping(chip.mapping):
        tiles = chip.mapping.layer_tiles(w.name)
        ev = count_events(w, fmt=chip.config.fmt)
        assert ev.mvms * images == sum(len(trace.tile_inputs[a.tile]) for a in tiles)
        # Every recorded plane current is one ADC conversion per used column.
        assert ev.adc_conversions * images == sum(trace.tile_codes[a.tile][:, :, :a.columns].size for a in tiles)
    evals, assumed, act = network_evaluations(tech, cycle_model=CycleModel.from_technology(tech), images=images)
    assert all(ev.fits and ev.energy["pcm_read"] > 0 for ev in evals.values())
    # The run's conversions are the analytic counts: every bit-plane of every MVM, used columns only.
    assert sum(c.conversions for c in act.adc.values()) == images * sum(
        count_events(w, fmt=chip.config.fmt).adc_conversions for w in works_from_mapping(chip.mapping))
    # Read energy summed chunk by chunk is the read energy of the recorded activations.
    from neurophase.model.read_energy import tile_read_energy
    whole = sum(tile_read_energy(chip.tiles[n], x, 3600.0, t_unit=1.0) for n, x in trace.tile_inputs.items())
    assert sum(act.energy_per_unit[(n, InputEncoding.BIT_SERIAL)] for n in chip.tiles) == pytest.approx(whole)
