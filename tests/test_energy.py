"""Energy model: layer lists, technology bands and their sources, event counts with the wordline drives split by
what switches, PCM read energy, evaluation at the corners, claim verdicts over the band, the NeuroSim cross-check."""

import math
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from neurophase.model.activity import ActivationStats, measured_activity, relu_activation_stats, traced_layer_inputs
from neurophase.model.arith import PeripheryFormat
from neurophase.model.claims import Verdict, check_claims
from neurophase.model.cycles import CycleModel
from neurophase.model.energy import band_of, evaluate, evaluate_bands
from neurophase.model.events import count_events
from neurophase.model.interface import BN_LATENCY, InputEncoding
from neurophase.model.read_energy import (gaussian_weight_conductance, read_energy, statistical_read_energy,
                                          tile_read_energy)
from neurophase.model.workload import LayerWork, works_from_mapping
from neurophase.model.device import PcmModel
from neurophase.model.resnet50 import resnet50_layers
from neurophase.model.technology import TECH_PATH, Band, Corner, OperatingPoint, load_technology, scale_factor
from neurophase.model.tile import CrossbarTile

FMT = PeripheryFormat()
REFERENCES = Path(__file__).resolve().parents[1] / "docs" / "references.md"
# Two set bits in every code: each (row, MVM) is driven with a 1 in two of the eight planes.
TWO_BITS = ActivationStats(2.0, 160.0, 1.0, "every code 0b10100000")


# -- ResNet-50 --------------------------------------------------------------------------------------------------------

def test_resnet50_layer_list_reproduces_published_weight_and_mac_counts():
    layers = resnet50_layers()
    # docs/references.md [ResNet-50]: 25,502,912 conv+FC weights, 4.089 G MACs, largest layer 3x3x512x512.
    assert sum(l.weights for l in layers) == 25_502_912
    assert sum(l.macs for l in layers) / 1e9 == pytest.approx(4.089, abs=5e-4)
    assert max(l.weights for l in layers) == 3 * 3 * 512 * 512
    assert len(layers) == 54 and layers[0].mvms == 112 * 112 and layers[-1].fan_in == 2048


def test_resnet50_outputs_at_16_bits_are_every_residual_branch_and_the_classifier():
    from neurophase.model.resnet50 import resnet50_wide_layers
    wide = resnet50_wide_layers()
    assert len(wide) == 16 + 4 + 1 and "fc" in wide and "layer1.0.downsample" in wide and "layer4.2.conv3" in wide
    assert not any(name.endswith((".conv1", ".conv2")) for name in wide)


# -- technology file --------------------------------------------------------------------------------------------------

def _entries(raw):
    """(where, entry) of every banded value in a raw technology file."""
    yield "adc.enob_loss", raw["adc"]["enob_loss"]
    for section in ("wordline", "energy", "timing"):
        for name, entry in raw[section].items():
            if name != "sram":
                yield f"{section}.{name}", entry
    yield "leakage", raw["leakage"]


def test_every_technology_value_has_a_source_an_operating_point_and_an_ordered_band():
    with open(TECH_PATH, "rb") as f:
        raw = tomllib.load(f)
    for where, entry in _entries(raw):
        assert entry["source"].strip() and entry["operating_point"].strip(), where
        assert entry["low"] <= entry["nominal"] <= entry["high"], where
    for entry in (raw["adc"], raw["energy"]["sram"]):
        assert entry["source"].strip() and entry["operating_point"].strip()


def test_every_cited_source_is_an_entry_of_the_reference_list():
    headings = set(re.findall(r"^### \[([\w.-]+)\]", REFERENCES.read_text(), re.M))
    cited = set()
    for path in (TECH_PATH, TECH_PATH.with_name("neurosim.toml"), TECH_PATH.with_name("published.toml")):
        cited |= set(re.findall(r"\[([A-Za-z][\w.-]*)\]", "".join(
            line for line in path.read_text().splitlines(True) if "source" in line)))
    assert cited and cited <= headings, cited - headings


def test_a_technology_value_without_a_source_or_operating_point_is_rejected(tmp_path):
    text = TECH_PATH.read_text()
    for key in ("source", "operating_point"):
        broken = re.sub(rf'(\[energy.router_bit\][^\[]*?)\n{key} = "[^"]*"', r"\1", text, flags=re.S)
        assert broken != text
        (tmp_path / "tech.toml").write_text(broken)
        (tmp_path / "adc_survey.csv").write_text(TECH_PATH.with_name("adc_survey.csv").read_text())
        with pytest.raises(ValueError, match=f"tech.toml energy.router_bit: every value needs low, nominal, high, "
                                             f"unit, source and operating_point; {key} is missing"):
            load_technology(tmp_path / "tech.toml")


def test_bands_must_be_ordered():
    with pytest.raises(ValueError, match="a band must have low <= nominal <= high, got 2, 1, 3"):
        Band(2, 1, 3)


def test_technology_values_are_scaled_to_28nm_by_the_stated_rule():
    tech = load_technology()
    assert tech.node_nm == 28
    assert tech.band("accumulator_add").nominal == pytest.approx(0.021e-12 * 28 / 32)
    assert tech.band("bn_multiply").high == pytest.approx(1.0e-12 * 28 / 45)
    assert tech.sar_step == pytest.approx(1e-9 * 28 / 22)
    assert tech.t_pulse == 10e-9          # an analog design choice, not scaled
    assert tech.band("leakage").nominal == 8.78e-12


# Survey converters within a factor 4 of 87.3 MS/s, ENOB 5.5..9.5, node <= 65 nm (model/data/adc_survey.csv rows
# 26, 27, 28, 35, 152, 162, 197): (P / f_s in pJ, ENOB).
NEAR_87MS = [(30.25, 8.4276), (16.4, 9.1086), (11.3, 9.0089), (74.9375, 8.7099), (2.2217, 7.0490), (9.656, 9.3411),
             (14.0, 9.0587)]


def test_adc_energy_band_is_the_walden_fom_of_published_converters_at_the_tiles_rate():
    tech = load_technology()
    rate = tech.clock_hz / 9                      # one 8-bit conversion: 9 SAR steps of one clock each
    assert sorted(a.row for a in tech.adc_converters(8, rate)) == [26, 27, 28, 35, 152, 162, 197]
    foms = sorted(e * 1e-12 / 2 ** enob for e, enob in NEAR_87MS)
    band = tech.adc_energy(8, rate)
    assert band.low == pytest.approx(foms[0] * 2 ** 7.5)
    assert band.nominal == pytest.approx(foms[3] * 2 ** 7.5)
    assert band.high == pytest.approx(np.percentile(foms, 90) * 2 ** 7.5)
    assert band.low <= band.nominal <= band.high


def test_an_adc_rate_without_published_converters_is_an_error():
    with pytest.raises(ValueError, match=r"adc operating point must have published converters within a factor 4 of "
                                         r"0.001 MS/s and 2 bits of ENOB 7.5, found none"):
        load_technology().adc_energy(8, 1e3)


def test_wordline_drive_is_the_line_charge_at_v_read_plus_its_driver():
    tech = load_technology()
    c = 256 * (0.19e-6 * 2.0e-10 + 0.084e-15)
    assert tech.wordline_capacitance(256) == pytest.approx(c)
    band = tech.wordline_drive(256)
    assert band.nominal == pytest.approx(c * 0.2 * 0.2 + 0.3333 * c * 0.9 ** 2)
    assert band.high == pytest.approx(c * 0.2 * 0.9 + 0.42e-12 * 28 / 32)


def test_buffer_is_priced_by_the_capacity_it_needs():
    tech = load_technology()
    per_bit = lambda pj: pj * 1e-12 * 28 / 45 / 64
    assert tech.sram_bit(32768) == pytest.approx(per_bit(20))
    assert tech.sram_bit(4096) == pytest.approx(per_bit(10))          # smaller than the smallest point: clamped
    assert tech.sram_bit(4 << 20) == pytest.approx(per_bit(100))      # larger: banks of the largest
    assert per_bit(10) < tech.sram_bit(16384) < per_bit(20)
    band = tech.buffer_bit(32768)
    assert (band.low, band.nominal, band.high) == pytest.approx((20.45e-12 / 256 * 28 / 32, per_bit(20),
                                                                 per_bit(100)), rel=1e-3)


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
    x = np.full((10, 300), 0b10100000)
    ev = count_events(w, activity=measured_activity(x, 8), encoding=InputEncoding.BIT_SERIAL, fmt=FMT, cycle_model=cm)
    assert ev.mvms == 10 * 4
    assert ev.plane_reads == 10 * 4 * 8
    # 10 MVMs x 300 rows x 2 column tiles, two set bits each: 12,000 drives with a 1 of the 48,000 (row, plane) slots.
    assert (ev.wordline_ones, ev.wordline_zeros) == (12_000, 36_000)
    assert ev.adc_conversions == 10 * 8 * 200 * 2
    assert ev.shift_add_ops == ev.adc_conversions
    assert ev.partial_sum_adds == 10 * 200 * 1
    assert ev.bn_ops == 10 * 200
    assert ev.activation_in_bits == 10 * 300 * 2 * 8
    assert ev.activation_out_bits == 10 * 200 * 8
    assert ev.partial_sum_bits == 10 * 200 * 20
    assert ev.cycles == cm.segment_cycles(w, 10, InputEncoding.BIT_SERIAL, FMT)
    # Two images in one segment: every count doubles, the cycles do not (one set-up and drain).
    two = count_events(w, activity=TWO_BITS, encoding=InputEncoding.BIT_SERIAL, fmt=FMT, cycle_model=cm, images=2)
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
    assert count_events(w, activity=TWO_BITS, fmt=FMT).cycles == _single_tile_cycles(rows, cols, 7, 80)


def test_pwm_uses_one_read_and_no_shift_and_add():
    w = _work(fan_in=100, fan_out=50, mvms=3, last=True)
    x = np.tile([0, 5], (3, 50))                # half the rows at 0: a PWM read drives the other half once
    ev = count_events(w, activity=measured_activity(x, 8), encoding=InputEncoding.PWM, fmt=FMT,
                      cycle_model=CycleModel(pwm_lsb_cycles=2))
    assert (ev.plane_reads, ev.adc_conversions, ev.shift_add_ops) == (3, 150, 0)
    assert (ev.wordline_ones, ev.wordline_zeros) == (150, 150)
    assert ev.partial_sum_adds == 0 and ev.partial_sum_bits == 0
    assert ev.activation_out_bits == 3 * 50 * FMT.out_bits          # last layer: signed outputs
    assert ev.cycles == _single_tile_cycles(100, 50, 3, 255 * 2 + 9 + 1)


def test_cycle_model_follows_adc_sharing_and_bn_lanes():
    bs = InputEncoding.BIT_SERIAL
    assert CycleModel(columns_per_adc=8).read_cycles(bs, FMT) == 8 * 8 + 1 + 1
    assert CycleModel(bn_lanes=4).mvm_cycles(bs, FMT, 256, 128) == 8 * 10 + 32 + 1
    assert CycleModel(bn_lanes=32).mvm_cycles(bs, FMT, 256, 128) == 8 * 10 + 16 + 1   # loads dominate


def test_activity_is_measured_exactly_on_the_codes():
    stats = measured_activity([[0, 1, 3], [255, 0, 2]], 8)
    assert (stats.mean_popcount, stats.mean_code, stats.p_nonzero) == (12 / 6, 261 / 6, 4 / 6)
    assert (stats.drives(InputEncoding.BIT_SERIAL), stats.drives(InputEncoding.PWM)) == (2.0, 4 / 6)


def test_activity_with_more_drives_than_reads_is_rejected():
    with pytest.raises(ValueError, match="activity must give at most 1 drives per row and MVM, got 2"):
        count_events(_work(), activity=_Drives(2.0), encoding=InputEncoding.PWM, fmt=FMT)


@dataclass(frozen=True)
class _Drives:
    """Activity stand-in giving a fixed number of drives per row and MVM (to test the bound)."""
    n: float

    def drives(self, encoding):
        return self.n


def test_event_counts_add_and_diff_name_the_differing_fields():
    a = count_events(_work(), activity=TWO_BITS, fmt=FMT)
    b = count_events(_work(mvms=11), activity=TWO_BITS, fmt=FMT)
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


def test_a_residual_branch_read_only_by_an_add_moves_its_outputs_at_out_bits(imported):
    """The imported residual network's block.conv and block.shortcut feed only the Add: the BN unit's last mode makes
    them signed out_bits (16) codes, and their event counts move 16 bits per output, as the final layer's do."""
    from neurophase.model.mapper import map_network
    fmt = imported.fmt
    assert imported.wide_layers == {"block.conv", "block.shortcut", "fc"}
    works = works_from_mapping(map_network(imported, strict=False), wide=imported.wide_layers)
    stats = relu_activation_stats(fmt.b_in, 4.0)
    for w in works:
        outputs = w.mvms * w.fan_out
        bits = count_events(w, activity=stats, fmt=fmt).activation_out_bits
        assert bits == outputs * (fmt.out_bits if w.name in imported.wide_layers else fmt.b_in), w.name


def test_bad_layer_work_and_encoding_are_rejected():
    with pytest.raises(ValueError, match="row_blocks must be positive block sizes summing to 300"):
        LayerWork("x", 300, 10, 1, (256, 40), (10,))
    with pytest.raises(ValueError, match=r"input encoding must be one of \['bit-serial', 'pwm'\], got 'thermometer'"):
        count_events(_work(), activity=TWO_BITS, encoding="thermometer")
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
    assert stats.p_nonzero == pytest.approx(np.count_nonzero(q) / q.size, rel=0.01)
    assert stats.mean_popcount == pytest.approx(np.unpackbits(q.astype(np.uint8)).sum() / q.size, rel=0.01)


# -- evaluation -------------------------------------------------------------------------------------------------------

def _evaluate(encoding=InputEncoding.BIT_SERIAL, works=None, activity=TWO_BITS, corner=Corner.NOMINAL):
    works = works or [_work("a"), _work("b", 64, 10, 1, last=True)]
    return evaluate(works, encoding=encoding, tech=load_technology(), fmt=FMT, activity=lambda w: activity,
                    pcm_read=lambda w, enc, t: 1e-9 * w.macs * t / 1e-8, corner=corner)


def test_evaluation_figures_follow_from_energy_and_cycles():
    ev = _evaluate()
    tech = load_technology()
    prices = tech.prices(ev.point, Corner.NOMINAL)
    assert ev.point == OperatingPoint(8, tech.clock_hz / 9, 256, 2 * 10 * 200)   # largest output 10 x 200 bytes
    assert ev.energy_j == pytest.approx(sum(ev.energy.values()))
    assert ev.energy["adc"] == pytest.approx(ev.events.adc_conversions * prices.adc_conversion)
    assert ev.energy["buffer"] == pytest.approx(ev.events.buffer_bits * prices.buffer_bit)
    assert ev.energy["register_file"] == pytest.approx(
        (ev.events.activation_in_bits + ev.events.bn_ops * (16 + 32)) * prices.register_file_bit)
    assert ev.ops == 2 * (300 * 200 * 10 + 64 * 10)
    assert ev.tops_per_w == pytest.approx(ev.ops / ev.energy_j / 1e12)
    assert ev.latency_s == pytest.approx(ev.events.cycles / tech.clock_hz)
    assert ev.fps_pipelined >= ev.fps_sequential
    assert (ev.tiles_needed, ev.fits, ev.chips_needed) == (5, True, 1)


def test_leakage_is_the_chips_static_power_over_the_latency_and_adds_to_power():
    ev = _evaluate()
    assert ev.leakage_w == pytest.approx(8.78e-12 * 144 * 65536)
    assert ev.energy["leakage"] == pytest.approx(ev.leakage_w * ev.latency_s)
    assert ev.power_w(100.0) == pytest.approx(100.0 * ev.dynamic_energy_j + ev.leakage_w)


def test_only_rows_driven_with_a_one_cost_a_wordline_drive():
    idle = _evaluate(activity=ActivationStats(0.0, 0.0, 0.0))
    busy = _evaluate()
    assert idle.energy["wordline_drivers"] == 0.0 and idle.events.wordline_ones == 0
    prices = load_technology().prices(busy.point)
    assert busy.energy["wordline_drivers"] == pytest.approx(busy.events.wordline_ones * prices.wordline_drive)
    assert busy.events.wordline_slots == idle.events.wordline_slots


def test_corners_order_the_energy_and_the_efficiency():
    bands = evaluate_bands([_work("a"), _work("b", 64, 10, 1, last=True)], encoding=InputEncoding.BIT_SERIAL,
                           tech=load_technology(), fmt=FMT, activity=lambda w: TWO_BITS,
                           pcm_read=lambda w, enc, t: 1e-9 * w.macs * t / 1e-8)
    e = [bands[c].energy_j for c in (Corner.LOW, Corner.NOMINAL, Corner.HIGH)]
    assert e[0] < e[1] < e[2]
    tpw = band_of(bands, lambda ev: ev.tops_per_w)
    assert (tpw.low, tpw.nominal, tpw.high) == (bands[Corner.HIGH].tops_per_w, bands[Corner.NOMINAL].tops_per_w,
                                                bands[Corner.LOW].tops_per_w)


def test_pwm_trades_conversions_for_longer_reads():
    bs, pwm = _evaluate(InputEncoding.BIT_SERIAL), _evaluate(InputEncoding.PWM)
    assert pwm.events.adc_conversions * FMT.b_in == bs.events.adc_conversions
    assert pwm.energy["adc"] < bs.energy["adc"]
    assert pwm.events.cycles > bs.events.cycles


def test_resnet50_needs_more_tiles_than_the_chip_has():
    from neurophase.energy import resnet50_evaluations
    tech = load_technology()
    evals = resnet50_evaluations(tech, cycle_model=CycleModel.from_technology(tech))
    ev = evals[InputEncoding.BIT_SERIAL][Corner.NOMINAL]
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


@dataclass
class _Twin:
    """The figures of an evaluation that the claims check reads."""
    tops_per_w: float
    per_image_j: float
    encoding: InputEncoding = InputEncoding.BIT_SERIAL
    ops: float = 8.18e9
    leakage_w: float = 0.0
    fits: bool = False
    fps_pipelined: float = 400.0
    fps_sequential: float = 30.0
    tiles_available: int = 144
    tiles_needed: int = 804
    chips_needed: int = 6

    @property
    def energy_j(self):
        return self.per_image_j

    dynamic_energy_j = energy_j

    def power_w(self, fps):
        return self.per_image_j * fps + self.leakage_w


def _twin_band(tops):
    """{Corner: _Twin} with TOPS/W ``tops`` at the optimistic, nominal and pessimistic corners."""
    return {c: _Twin(t, 8.18e9 / (t * 1e12)) for c, t in zip((Corner.LOW, Corner.NOMINAL, Corner.HIGH), tops)}


@pytest.mark.parametrize("tops, verdict", [((20, 15, 13), Verdict.HOLDS), ((20, 12, 5), Verdict.NOT_PESSIMISTIC),
                                           ((20, 6, 3), Verdict.OPTIMISTIC_ONLY), ((10, 6, 3), Verdict.FAILS)])
def test_twin_claim_verdicts_are_computed_from_the_band(tops, verdict):
    c = {x.name.split(" (")[0]: x for x in check_claims(PAPER, BATTERY, CHIPS, ops_per_frame=8.18e9, weights=25.5e6,
                                                         twins=[_twin_band(tops)])}
    tpw = c["TOPS/W on ResNet-50 within the twin's estimate"]
    assert tpw.verdict is verdict
    assert (tpw.low, tpw.computed, tpw.high) == (min(tops), tops[1], max(tops))
    power = c["power at 142 fps within the twin's estimate"]
    assert power.computed == pytest.approx(8.18e9 / (tops[1] * 1e12) * 142)
    # 8.3 mW at 142 fps is 58.5 uJ per image, i.e. 140 TOPS/W: none of these bands reaches it.
    assert power.verdict is Verdict.FAILS
    assert not c["142 frames/s on one chip"].holds


def test_twin_power_claim_holds_where_the_band_reaches_it():
    band = {Corner.LOW: _Twin(200, 40e-6), Corner.NOMINAL: _Twin(150, 55e-6), Corner.HIGH: _Twin(100, 80e-6)}
    (claim,) = [x for x in check_claims(PAPER, BATTERY, CHIPS, ops_per_frame=8.18e9, weights=25.5e6, twins=[band])
                if x.name.startswith("power")]
    assert claim.verdict is Verdict.NOT_PESSIMISTIC       # 5.7 and 7.8 mW pass, 11.4 mW fails


def test_analytic_mvm_counts_match_the_golden_model_run_of_the_reference_cnn():
    from neurophase.energy import reference_evaluations
    from neurophase.model.chip import reference_chip
    from neurophase.model.read_energy import tile_read_energy
    images, tech = 3, load_technology()
    chip = reference_chip(0)
    _, trace = chip.run(chip.network.test.x[:images], 3600.0, 0, record=True)
    for w in works_from_mapping(chip.mapping):
        tiles = chip.mapping.layer_tiles(w.name)
        x = traced_layer_inputs(trace, chip.mapping, w.name)
        ev = count_events(w, activity=measured_activity(x, 8), fmt=chip.config.fmt, images=images)
        assert ev.mvms == sum(len(trace.tile_inputs[a.tile]) for a in tiles)
        # The 1-drives are the set bits of every input each tile received.
        assert ev.wordline_ones == sum(int(np.unpackbits(trace.tile_inputs[a.tile].astype(np.uint8)).sum())
                                       for a in tiles)
        # Every recorded plane current is one ADC conversion per used column.
        assert ev.adc_conversions == sum(trace.tile_codes[a.tile][:, :, :a.columns].size for a in tiles)
    evals, run = reference_evaluations(tech, cycle_model=CycleModel.from_technology(tech), images=images)
    assert all(ev.fits and ev.energy["pcm_read"] > 0 for b in evals.values() for ev in b.values())
    # Measured chunk by chunk without a trace, the run gives what the trace gives: the activation statistics of each
    # layer's inputs, the read energy of the activations, and every conversion (used columns) in the ADC counts.
    for w in works_from_mapping(chip.mapping):
        got, want = run.activity(w.name), measured_activity(traced_layer_inputs(trace, chip.mapping, w.name), 8)
        assert (got.mean_popcount, got.mean_code, got.p_nonzero) == (want.mean_popcount, want.mean_code,
                                                                     want.p_nonzero)
        assert run.adc[w.name].conversions == count_events(w, activity=got, fmt=chip.config.fmt,
                                                           images=images).adc_conversions
    whole = sum(tile_read_energy(chip.tiles[n], x, 3600.0, t_unit=1.0) for n, x in trace.tile_inputs.items())
    assert sum(run.energy_per_unit[(n, InputEncoding.BIT_SERIAL)] for n in chip.tiles) == pytest.approx(whole)


# -- NeuroSim cross-check ---------------------------------------------------------------------------------------------

def test_benchmark_layer_lists_reproduce_neurosims_operation_counts():
    from neurophase.model.benchmarks import resnet18_layers, vgg8_layers
    from neurophase.model.neurosim import load_neurosim
    assert 2 * sum(l.macs for l in vgg8_layers()) == pytest.approx(load_neurosim()["vgg8"]["ops"], rel=1e-5)
    r18 = resnet18_layers()
    assert len(r18) == 21 and sum(l.macs for l in r18) == 1_814_073_344


def test_neurosim_conversions_count_every_cell_column_once_per_input_bit_and_subarray():
    from neurophase.model.neurosim import neurosim_conversions
    # 300 rows over 128-row sub-arrays: 3; 10 outputs on 8 cells each: 80 columns; 4 MVMs of 8-bit inputs.
    assert neurosim_conversions([LayerWork("l", 300, 10, 4, (300,), (10,))], subarray_rows=128,
                                cells_per_weight=8, input_bits=8) == 4 * 8 * 3 * 80


def test_crosscheck_sets_the_twin_beside_neurosims_published_vgg8_run():
    from neurophase.energy_crosscheck import GROUPS, crosscheck
    tech = load_technology()
    checks = crosscheck(tech, cycle_model=CycleModel.from_technology(tech))
    ns = checks["vgg8"]["neurosim"]
    assert ns["kind"] == "published" and checks["resnet18"]["neurosim"]["kind"] == "projection"
    assert sum(ns["groups_uj"].values()) == pytest.approx(ns["total_uj"], rel=1e-5)   # published to 6 digits
    assert ns["adc_pj_per_conversion"] == pytest.approx(2.1612e7 / ns["conversions"])
    for net in checks.values():
        for g in GROUPS:
            b = net["twin"]["groups_uj"][g]
            assert b["low"] <= b["nominal"] <= b["high"]

