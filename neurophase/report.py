"""Write one self-contained HTML page of a run: mapping, accuracy over time, energy, claims, RTL runs and a waveform.

Reads the reports the other commands wrote into --reports (default build/reports): mapping.json (`neurophase map`),
drift_study.json or drift_study_quick.json (`neurophase drift-study`; else infer.json, `neurophase infer`),
energy.json with its plots (`neurophase energy`), sim_tile<N>.json and chip.json (`neurophase sim`), and the VCD
trace of a tile run made with --waves, from which the first MVM is drawn. A part that is missing is named on the page
with the command that makes it; --run-missing makes the quick ones first (the mapping, the quick drift study, the
energy report, tile 4 under Icarus with a trace: about 3 minutes). The page is rendered from a Jinja2 template
(neurophase/templates/report.html.j2) with every figure embedded as a PNG, so it opens anywhere as one file.
"""

import base64
import datetime
import io
import json
from pathlib import Path

from neurophase.options import build_default, check_output_file, output_folder

TEMPLATE = "report.html.j2"


def add_arguments(p):
    p.add_argument("--reports", type=output_folder(), default=build_default("reports"),
                   help="folder of the run's reports (default build/reports, or $NEUROPHASE_BUILD/reports)")
    p.add_argument("--out", default=None,
                   help="HTML file to write (default report.html in the reports folder)")
    p.add_argument("--run-missing", action="store_true",
                   help="first run the quick parts that are missing (mapping, quick drift study, energy, tile 4 "
                        "with a trace; about 3 minutes)")


def check(args):
    if not args.run_missing and not Path(args.reports).is_dir():     # a mistyped folder, not an empty run
        raise ValueError(f"--reports: {args.reports}: no such folder (give the folder of a run's reports, or add "
                         f"--run-missing to make them there)")
    args.out = check_output_file("--out", args.out or Path(args.reports) / "report.html")
    if args.run_missing:
        from neurophase.options import require_extra
        from neurophase.tb.toolchain import check_simulator
        require_extra("cocotb", "cocotb_tools")
        check_simulator("icarus")


# -- the parts ---------------------------------------------------------------------------------------------------

def _load(folder, name):
    path = Path(folder) / name
    return json.loads(path.read_text()) if path.exists() else None


def _png(data):
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii")


def _figure(fig):
    import matplotlib.pyplot as plt
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    plt.close(fig)
    return _png(buf.getvalue())


def _pyplot():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def mapping_part(folder):
    m = _load(folder, "mapping.json")
    if m is None:
        return None
    plt = _pyplot()
    tiles = m["tiles"]
    rows, cols = m["geometry"]["rows"], m["geometry"]["columns"]
    fig, axes = plt.subplots(1, len(tiles), figsize=(2.1 * len(tiles), 3.0), squeeze=False)
    for ax, t in zip(axes[0], tiles):
        ax.add_patch(plt.Rectangle((0, 0), cols, rows, fill=False, lw=0.8))
        ax.add_patch(plt.Rectangle((t["col_start"], t["row_start"] % rows), t["columns"], t["rows"], color="tab:blue"))
        ax.set(xlim=(0, cols), ylim=(rows, 0), xticks=[0, cols], yticks=[0, rows], aspect="equal",
               title=f"tile {t['tile']}: {t['layer']}\n{100 * t['utilisation']:.1f}% used")
        ax.tick_params(labelsize=7)
    axes[0][0].set_ylabel("wordlines (rows)")
    fig.supxlabel("logical columns (a differential device pair each)", fontsize=9)
    fig.tight_layout()
    return {"tiles": tiles, "layers": m["layers"], "geometry": m["geometry"], "tiles_needed": m["tiles_needed"],
            "figure": _figure(fig)}


def accuracy_part(folder):
    from neurophase.model.drift_study import LABELS
    for stem in (name.removesuffix(".json") for name in ACCURACY_SOURCES[:2]):
        result = _load(folder, f"{stem}.json")
        if result is not None:
            from neurophase.model.drift_study import plot
            buf = io.BytesIO()
            plot(result, buf)
            cfg, summary = result["config"], result["summary"]
            rows = [{"method": LABELS[m], "values": [f"{100 * a:.2f} ± {100 * d:.2f}" for a, d in
                                                     zip(summary[m]["mean"], summary[m]["std"])]}
                    for m in result["accuracy"]]
            return {"source": f"{stem}.json", "times": [lab for lab, _ in cfg["times"]], "rows": rows,
                    "chips": cfg["chips"], "images": cfg["test_images"], "figure": _png(buf.getvalue())}
    infer = _load(folder, "infer.json")
    if infer is None:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 3.5))
    times = [p["time_s"] for p in infer["pcm"]]
    ax.errorbar(times, [100 * p["mean"] for p in infer["pcm"]], yerr=[100 * p["std"] for p in infer["pcm"]],
                fmt="o", capsize=3, label=f"PCM chip, no drift remedy ({infer['seeds']} chips, mean ± sd)")
    ax.axhline(100 * infer["fp32"], color="k", lw=1, label="FP32")
    ax.set(xscale="symlog", xlabel="time after programming (s)", ylabel="test accuracy (%)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    rows = [{"method": "PCM chip, no drift remedy", "values": [f"{100 * p['mean']:.2f} ± {100 * p['std']:.2f}"
                                                               for p in infer["pcm"]]}]
    return {"source": "infer.json", "times": [f"{t:g} s" for t in times], "rows": rows, "chips": infer["seeds"],
            "images": infer["images"], "figure": _figure(fig)}


def energy_part(folder):
    from neurophase.energy import computed_text, value_text
    report = _load(folder, "energy.json")
    if report is None:
        return None
    figures = {name: _png((Path(folder) / f"{name}.png").read_bytes()) for name in
               ("energy_breakdown", "efficiency_comparison") if (Path(folder) / f"{name}.png").exists()}
    claims = [{"name": c["name"], "claimed": value_text(c["claimed"], c["unit"]),
               "computed": computed_text(c["computed"], c["low"], c["high"], c["unit"]), "verdict": c["verdict"],
               "detail": c["detail"]} for c in report["claims"]]
    summary = {enc: {"tops_per_w": b["nominal"]["tops_per_w"], "uj": 1e6 * b["nominal"]["energy_per_image_j"]}
               for enc, b in report["resnet50"].items()}
    return {"figures": figures, "claims": claims, "summary": summary}


def rtl_part(folder):
    runs = []
    for path in sorted(Path(folder).glob("sim_tile*.json")):
        r = json.loads(path.read_text())
        runs.append({"what": f"tile {r['tile']} ({r['layer']})", "sim": r["sim"], "images": r["images"],
                     "checked": f"{r.get('outputs_checked', 0):,} outputs", "mismatches": r["mismatches"],
                     "cycles": r.get("cycles"), "wall_s": r.get("wall_s"), "error": r.get("error"),
                     "waves": r.get("waves")})
    chip = _load(folder, "chip.json")
    if chip is not None:
        runs.append({"what": "whole chip", "sim": chip["sim"], "images": chip["images"],
                     "checked": f"{chip.get('words_checked') or 0:,} words + logits", "mismatches": chip["mismatches"],
                     "cycles": chip.get("cycles_per_image") and round(chip["cycles_per_image"] * chip["images"]),
                     "wall_s": chip.get("wall_total_s"), "error": chip.get("error"), "waves": None})
    return runs or None


def waveform_part(runs):
    from neurophase.waveform import plot_mvm, read_first_mvm
    for run in runs or []:
        if run["waves"] and Path(run["waves"]).exists() and run["waves"].endswith(".vcd"):
            trace = read_first_mvm(run["waves"])
            title = f"{run['what']}: the first MVM, from the {run['sim']} trace"
            return {"source": run["waves"], "figure": _png(plot_mvm(trace, title)), "what": run["what"]}
    return None


ACCURACY_SOURCES = ("drift_study.json", "drift_study_quick.json", "infer.json")


def run_missing(folder, log=print):
    """Run the quick parts of a run that are not in ``folder`` yet."""
    from neurophase.cli import main
    folder = Path(folder)
    steps = []
    if not (folder / "mapping.json").exists():
        steps.append(["map", "--out", str(folder / "mapping.json")])
    if not any((folder / name).exists() for name in ACCURACY_SOURCES):
        steps.append(["drift-study", "--quick", "--out", str(folder)])
    if not (folder / "energy.json").exists():
        steps.append(["energy", "--out", str(folder)])
    if waveform_part(rtl_part(folder)) is None:
        steps.append(["sim", "--tile", "4", "--images", "1", "--waves", "--report-dir", str(folder)])
    for argv in steps:
        log(f"report: running `neurophase {' '.join(argv)}` ...")
        _checked(main(argv), argv)


def _checked(rc, argv):
    if rc != 0:
        raise RuntimeError(f"`neurophase {' '.join(argv)}` failed (exit {rc}); the report needs it")


def render(folder):
    """The HTML text of the report of the run whose reports are in ``folder``."""
    import jinja2

    from neurophase.cli import package_version
    from neurophase.model.claims import load_published
    env = jinja2.Environment(loader=jinja2.PackageLoader("neurophase", "templates"),
                             autoescape=jinja2.select_autoescape(["html", "j2"]), undefined=jinja2.StrictUndefined)
    runs = rtl_part(folder)
    return env.get_template(TEMPLATE).render(
        folder=str(folder), version=package_version(), citation=load_published()["paper"]["citation"],
        when=datetime.datetime.now().strftime("%Y-%m-%d %H:%M"),
        mapping=mapping_part(folder), accuracy=accuracy_part(folder), energy=energy_part(folder), runs=runs,
        waveform=waveform_part(runs))


def run(args):
    if args.run_missing:
        run_missing(args.reports)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(render(args.reports))
    print(f"wrote {args.out} (open it in a browser)")
    return 0
