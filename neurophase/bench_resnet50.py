"""ResNet-50 through the golden model, end to end, for `neurophase bench` (`make bench`): images per second and where
the time goes.

The network is the zoo's ResNet-50 (model/zoo/resnet50.py: torchvision's layout, He-initialised from seed 0, BN
statistics from scikit-learn's two photographs; untrained, so what it predicts means nothing), written as ONNX and
imported through the twin's own path (model/network_file.py ``import_network``: import, lowering, calibration on the
12 photo crops); the network file is kept in build/networks/ for the next run. It is programmed on 804 tiles (6 chips)
with every non-ideality on (programming noise, drift to one day, fresh read noise on every read, the 8-bit ADCs,
shift-and-add, partial-sum reduction, the BN unit's integer arithmetic) and its 224 x 224 inputs run one chunk at a
time. Reported: images per second, the CPU time of all the process's threads per image (which other processes' load
inflates far less than wall time) and its split by stage (the tiles' stages from model/tile.py's StageTimer on each
thread's CPU clock; the rest is the host's work - im2col, pooling, residual adds, BN - and Python). A layer's tiles
run side by side on ``Chip.workers`` threads with BLAS on one thread each (model/chip.py): on a shared machine the
BLAS threads of every small matmul otherwise wait to be scheduled. Also: the one-off costs, and the floor: the
tiles' float32 matmuls of one image (each read's mean current and read-noise variance) at this machine's measured
float32 GEMM rate, and the Gaussian draws at numpy's float32 rate.
"""

import os
import time
from pathlib import Path

import numpy as np

DAY = 86400.0


def network_file():
    """Where the imported ResNet-50 is kept between runs: build/networks/resnet50.npz (or under $NEUROPHASE_BUILD)."""
    from neurophase.options import build_root
    return build_root() / "networks" / "resnet50.npz"


def resnet50_network(path=None, progress=lambda msg: None):
    """The zoo's ResNet-50 as a quantised network: loaded from ``path`` (default :func:`network_file`), or built,
    imported and saved there. Returns (network, {step: seconds} of what it did)."""
    from neurophase.model.network_file import import_network, load_network, save_network
    path = network_file() if path is None else path
    t0 = time.perf_counter()
    if Path(path).is_file():
        return load_network(path), {"load network file": time.perf_counter() - t0}
    from neurophase.model.zoo.calibration import photo_calibration_inputs
    from neurophase.model.zoo.resnet50 import build_resnet50
    progress("building ResNet-50 as ONNX (seed 0, BN statistics from the photo crops)")
    images = photo_calibration_inputs()
    model = build_resnet50(images, seed=0)
    built = time.perf_counter()
    progress("importing it (lowering, calibration on 12 photo crops)")
    net = import_network(model, images)
    save_network(net, path)
    return net, {"build ONNX": built - t0, "import and quantise": time.perf_counter() - built}


def _gemm_rate(repeats=5):
    """This machine's float32 GEMM rate (multiply-accumulates per second) on a tile-sized product."""
    rng = np.random.default_rng(0)
    a = rng.random((8 * 3136, 256), np.float32)
    b = rng.random((256, 256), np.float32)
    best = min(_timed(lambda: a @ b) for _ in range(repeats))
    return a.shape[0] * a.shape[1] * b.shape[1] / best


def _normal_rate(repeats=5):
    gen = np.random.default_rng(0)
    n = 1 << 22
    return n / min(_timed(lambda: gen.standard_normal(n, dtype=np.float32)) for _ in range(repeats))


def _timed(f):
    t = time.perf_counter()
    f()
    return time.perf_counter() - t


def floor_work(chip):
    """Per image: the multiply-accumulates of the tiles' matmuls (every read's mean current and read-noise variance
    over all 128 columns, as model/tile.py computes them) and the Gaussian draws (one per read and column)."""
    macs = draws = 0
    for a in chip.mapping.tiles:
        reads = chip.encoding(a.tile).reads(chip.config.fmt.b_in)
        n = reads * a.mvms_per_image
        macs += n * a.rows * 2 * chip.config.tile.columns
        draws += n * chip.config.tile.columns
    return macs, draws


def measure_resnet50(images=2, encodings=("bit-serial",), chunk=None, progress=lambda msg: None):
    """Time ``images`` ResNet-50 inputs (224 x 224 photo crops) through the golden model per input encoding, ``chunk``
    inputs per batched MVM (default all of them: the late layers' small batches grow); returns the report as a dict
    (seconds, images per second)."""
    from neurophase.model.chip import Chip, ChipConfig
    from neurophase.model.checks import check_int
    from neurophase.model.interface import InputEncoding
    from neurophase.model.tile import StageTimer
    images = check_int("ResNet-50 images", images, 1, 11)
    chunk = images if chunk is None else check_int("chunk", chunk, 1, images)
    net, one_off = resnet50_network(progress=progress)
    x = net.calibration
    rates = {"gemm_macs_per_s": _gemm_rate(), "normal_draws_per_s": _normal_rate()}
    out = {"network": net.name, "input": list(net.input_shape), "images": images, "chunk": chunk, "t_s": DAY,
           "non_idealities": ["programming noise", "drift (1 day)", "read noise on every read", "8-bit ADC",
                              "shift-and-add", "partial-sum reduction", "BN unit"],
           "one_off_s": dict(one_off), "machine": rates, "encodings": {}}
    for label in encodings:
        enc = InputEncoding.parse(label)
        progress(f"programming ResNet-50 on the golden chips ({enc.label} inputs)")
        t0 = time.perf_counter()
        chip = Chip.program(net, seed=0, config=ChipConfig(encoding=enc, chunk=chunk))
        out["one_off_s"][f"program 804 tiles and calibrate the ADCs ({enc.label})"] = time.perf_counter() - t0
        progress(f"first input: every tile's drifted conductances at t = 1 day ({enc.label})")
        t0 = time.perf_counter()
        chip.run(x[-1:], DAY, 1)
        out["one_off_s"][f"first input, with the drift cache ({enc.label})"] = time.perf_counter() - t0
        progress(f"timing {images} input(s) ({enc.label})")
        timer = StageTimer(time.thread_time)        # CPU time per stage, summed over the tiles' threads
        t0, cpu0 = time.perf_counter(), time.process_time()
        chip.run(x[:images], DAY, 2, timer=timer)
        wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
        stages = {k: v / images for k, v in timer.seconds.items() if k != "drift (cached)"}
        stages["host: im2col, pooling, adds, BN, Python"] = max(0.0, cpu / images - sum(stages.values()))
        macs, draws = floor_work(chip)
        out["encodings"][enc.label] = {
            "images_per_s": images / wall, "seconds_per_image": wall / images, "cpu_s_per_image": cpu / images,
            "tile_threads": chip.workers, "load_avg_1min": os.getloadavg()[0], "cpu_s_per_image_by_stage": stages,
            "matmul_macs_per_image": macs, "gaussian_draws_per_image": draws,
            "floor_s_per_image": {"matmul": macs / rates["gemm_macs_per_s"],
                                  "gaussian draws": draws / rates["normal_draws_per_s"]}}
    return out


def format_resnet50(r):
    lines = [f"ResNet-50 through the golden model ({r['input'][1]}x{r['input'][2]}, every non-ideality on, t = 1 day, "
             f"{r['images']} image(s), {r['chunk']} per chunk; untrained weights: the predictions mean nothing):"]
    for label, e in r["encodings"].items():
        floor = e["floor_s_per_image"]
        lines.append(f"  {label:<10} {e['images_per_s']:.3f} images/s ({e['seconds_per_image']:.1f} s/image wall, "
                     f"{e['cpu_s_per_image']:.1f} s CPU of all threads, load average {e['load_avg_1min']:.1f} on "
                     f"{os.cpu_count()} CPUs); floor {floor['matmul']:.1f} s matmul "
                     f"({e['matmul_macs_per_image'] / 1e9:.1f} G MACs) + {floor['gaussian draws']:.1f} s draws "
                     f"({e['gaussian_draws_per_image'] / 1e6:.0f} M)")
        lines.append(f"    CPU time by stage ({e['tile_threads']} threads running a layer's tiles, BLAS on one "
                     f"thread each):")
        for k, v in e["cpu_s_per_image_by_stage"].items():
            lines.append(f"    {k:<44}{v:>8.2f} CPU s/image")
    m = r["machine"]
    lines.append(f"  this machine: float32 GEMM {m['gemm_macs_per_s'] / 1e9:.1f} G MAC/s, numpy float32 normals "
                 f"{m['normal_draws_per_s'] / 1e6:.0f} M/s")
    for k, v in r["one_off_s"].items():
        lines.append(f"  one-off: {k:<60}{v:>7.1f} s")
    return "\n".join(lines)
