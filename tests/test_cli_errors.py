"""The command line's one error path: every bad file, folder, option, Makefile variable and Ctrl-C ends with one line
naming what is wrong and what is allowed, exit status 2 (130 for Ctrl-C), no traceback; --debug adds the traceback."""

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from neurophase.cli import main
from neurophase.model.network import WEIGHTS_PATH, load_weights, save_weights
from neurophase.model.zoo.digits import CALIB_PATH, ONNX_PATH
from sigint import default_sigint

ROOT = Path(__file__).resolve().parent.parent
NPZ = "(give a .npz written by `neurophase train`)"


@pytest.fixture
def files(tmp_path):
    """Bad inputs: weights files of every kind of wrong, a folder, a file to write under, a read-only folder."""
    (tmp_path / "empty.npz").write_bytes(b"")
    (tmp_path / "truncated.npz").write_bytes(WEIGHTS_PATH.read_bytes()[:3000])
    (tmp_path / "folder.npz").mkdir()
    (tmp_path / "text.npz").write_text("conv1.w = 1\n")
    np.save(tmp_path / "array.npy", np.zeros(3))
    params, meta = load_weights()
    params["conv1.gamma"] = params["conv1.gamma"][:15]
    save_weights(tmp_path / "shape.npz", params, meta)
    (tmp_path / "tech.toml").write_text("[target]\nnode_nm = 28\n")
    (tmp_path / "notes.txt").write_text("a file, not a folder\n")
    # networks (--network, --calib, --data, neurophase import): a file that is not ONNX, the digits CNN as ONNX,
    # calibration inputs with two arrays, a test set without labels
    (tmp_path / "bad.onnx").write_text("not an ONNX model\n")
    shutil.copy(ONNX_PATH, tmp_path / "digits.onnx")
    shutil.copy(CALIB_PATH, tmp_path / "calib.npz")
    np.savez(tmp_path / "calib2.npz", a=np.zeros(3), b=np.zeros(3))
    np.savez(tmp_path / "nolabels.npz", x=np.zeros((3, 1, 8, 8)))
    readonly = tmp_path / "readonly"
    readonly.mkdir()
    readonly.chmod(0o555)
    # root writes anywhere it has the permission bits for: a read-only file system stands in for it there.
    yield {"tmp": tmp_path, "readonly": readonly if os.geteuid() != 0 else Path("/sys/fs")}
    readonly.chmod(0o755)


# (argv, the error line after "neurophase <command>: error: "); {tmp} and {readonly} are filled in.
CASES = [
    # weights files (infer --weights): empty, truncated, a folder, not an npz, a bare array, the wrong shape
    (["infer", "--weights", "{tmp}/empty.npz"], "--weights: {tmp}/empty.npz: is empty (give a weights file (.npz))"),
    (["infer", "--weights", "{tmp}/truncated.npz"],
     f"weights file {{tmp}}/truncated.npz is truncated or damaged {NPZ}"),
    (["infer", "--weights", "{tmp}/folder.npz"],
     "--weights: {tmp}/folder.npz: is a folder (give an existing weights file (.npz))"),
    (["infer", "--weights", "{tmp}/text.npz"], f"weights file {{tmp}}/text.npz is not an .npz archive {NPZ}"),
    (["infer", "--weights", "{tmp}/array.npy"], f"weights file {{tmp}}/array.npy is not an .npz archive {NPZ}"),
    (["infer", "--weights", "{tmp}/shape.npz"],
     "weights file {tmp}/shape.npz: parameter conv1.gamma has shape (15,), the reference network needs (16,)"),
    (["infer", "--weights", "{tmp}/none.npz"],
     "--weights: {tmp}/none.npz: no such file (give an existing weights file (.npz))"),
    # energy --tech: missing, not TOML, incomplete
    (["energy", "--tech", "{tmp}/none.toml"],
     "--tech: {tmp}/none.toml: no such file (give an existing technology file (TOML))"),
    (["energy", "--tech", "{tmp}/array.npy"], "technology file {tmp}/array.npy is not valid TOML "
     "('utf-8' codec can't decode byte 0x93 in position 0: invalid start byte)"),
    (["energy", "--tech", "{tmp}/tech.toml"],
     "technology file {tmp}/tech.toml lacks key 'scaling': give a file laid out as model/data/tech_28nm.toml"),
    # output folders and files that cannot be written
    (["rtl", "--out", "{readonly}/rtl"],
     "--out: {readonly}/rtl: folder {readonly} is not writable (Permission denied; give a writable folder)"),
    (["rtl", "--out", "{tmp}/notes.txt"],
     "--out: {tmp}/notes.txt: is a file, not a folder (give a folder to write into)"),
    (["map", "--out", "{tmp}/notes.txt/mapping.json"], "--out: {tmp}/notes.txt/mapping.json: cannot make a folder "
     "there, {tmp}/notes.txt is a file (give a file in a writable folder)"),
    (["map", "--out", "{tmp}"], "--out: {tmp}: is a folder (give a file name to write)"),
    (["energy", "--out", "{readonly}/e"],
     "--out: {readonly}/e: folder {readonly} is not writable (Permission denied; give a writable folder)"),
    (["sim", "--tile", "0", "--report-dir", "{readonly}/r"],
     "--report-dir: {readonly}/r: folder {readonly} is not writable (Permission denied; give a writable folder)"),
    (["train", "--out", "{tmp}/notes.txt/w.npz"], "--out: {tmp}/notes.txt/w.npz: cannot make a folder there, "
     "{tmp}/notes.txt is a file (give a file in a writable folder)"),
    # options checked before any work starts
    (["bench", "--chip-images", "-1"], "--chip-images: must be an integer in [0, 360], got -1"),
    (["bench", "--threads", "0"], "--threads: must be an integer in [1, 64], got 0"),
    (["sim", "--inject-fault", "3"], "--inject-fault needs --tile (the self-test configures one tile wrongly)"),
    (["sim", "--tile", "abc"], "--tile: must be an integer >= 0, got 'abc'"),
    (["sim", "--tile", "144"], "--tile must be an integer in [0, 143], got 144"),
    (["sim", "--images", "abc"], "--images: must be a number of images >= 1 or 'all', got 'abc'"),
    (["sim", "--images", "361"], "--images must be a number of images in [1, 360] or 'all', got 361"),
    (["sim", "--encoding", "pdm"], "--encoding: invalid choice: 'pdm' (choose from 'bit-serial', 'pwm')"),
    (["sim", "--seed", "x"], "--seed: must be an integer in [0, 4294967295], got 'x'"),
    (["sim", "--time", "abc"], "--time: must be a finite number >= 0, got 'abc'"),
    (["sim", "--time", "nan"], "--time: must be a finite number >= 0, got 'nan'"),
    (["infer", "--seeds", "0"], "--seeds: must be an integer in [1, 1000], got 0"),
    (["infer", "--encoding", "pulse"], "--encoding: invalid choice: 'pulse' (choose from 'bit-serial', 'pwm')"),
    (["energy", "--fps", "0"], "--fps: must be a finite number > 0, got '0'"),
    (["energy", "--columns-per-adc", "0"], "--columns-per-adc: must be an integer in [1, 128], got 0"),
    (["drift-study", "--budget", "2"], "--budget: must be a finite number >= 0 and <= 1, got '2'"),
    (["drift-study", "--times", "86400", "1"], "times must be a non-empty list of (label, seconds >= 0) in "
     "increasing order, got (('1 day', 86400.0), ('1 s', 1.0))"),
    (["train", "--target-time", "10"], "--target-time needs --drift-aware or --noise-injection (it sets the drift or "
     "the noise injected in training)"),
    (["train", "--drift-aware", "--noise-injection"],
     "--drift-aware and --noise-injection are two trainings: give one"),
    (["coverage", "--jobs", "0"], "--jobs: must be an integer in [1, 64], got 0"),
    (["map", "--tiles", "x"], "--tiles: must be an integer in [1, 65536], got 'x'"),
    # networks: --network, --calib, --data on every command, and `neurophase import` / `zoo` (before any import work)
    (["import", "{tmp}/bad.onnx", "--calib", "{tmp}/calib.npz"], "{tmp}/bad.onnx is not an ONNX model: Error parsing "
     "message with type 'onnx.ModelProto': Wire format was corrupt"),
    (["import", "{tmp}/none.onnx", "--calib", "{tmp}/calib.npz"],
     "onnx: {tmp}/none.onnx: no such file (give an existing ONNX file (.onnx))"),
    (["import", "{tmp}/digits.onnx"], "the following arguments are required: --calib (see `neurophase import --help`)"),
    (["import", "{tmp}/digits.onnx", "--calib", "{tmp}/none.npz"],
     "--calib: {tmp}/none.npz: no such file (give an existing calibration file (.npz))"),
    (["import", "{tmp}/digits.onnx", "--calib", "{tmp}/calib2.npz"],
     "calibration file {tmp}/calib2.npz must hold an array 'x' or exactly one array, got ['a', 'b']"),
    (["import", "{tmp}/digits.onnx", "--calib", "{tmp}/calib.npz", "--images", "201"],
     "--images must be a number of calibration inputs in [1, 200] or 'all', got 201"),
    (["import", "{tmp}/digits.onnx", "--calib", "{tmp}/calib.npz", "--data", "{tmp}/nolabels.npz"],
     "data file {tmp}/nolabels.npz must hold arrays 'x' (inputs) and 'y' (labels), got ['x']"),
    (["import", "{tmp}/digits.onnx", "--calib", "{tmp}/calib.npz", "--encoding", "pdm"],
     "--encoding: invalid choice: 'pdm' (choose from 'bit-serial', 'pwm')"),
    (["import", "{tmp}/digits.onnx", "--calib", "{tmp}/calib.npz", "--out", "{tmp}"],
     "--out: {tmp}: is a folder (give a file name to write)"),
    (["map", "--network", "{tmp}/bad.onnx", "--calib", "{tmp}/calib.npz"], "{tmp}/bad.onnx is not an ONNX model: "
     "Error parsing message with type 'onnx.ModelProto': Wire format was corrupt"),
    (["map", "--network", "{tmp}/digits.onnx"],
     "--network {tmp}/digits.onnx: an ONNX network needs --calib CALIB.npz (calibration inputs)"),
    (["map", "--network", "{tmp}/notes.txt"], "--network: must be 'digits', a network file (.npz from `neurophase "
     "import`) or an ONNX file (.onnx), got '{tmp}/notes.txt'"),
    (["map", "--network", "{tmp}/none.npz"],
     "--network: {tmp}/none.npz: no such file (give an existing network file (.npz from `neurophase import`))"),
    (["map", "--network", "{tmp}/shape.npz"], "{tmp}/shape.npz is not a network file written by `neurophase import`"),
    (["map", "--calib", "{tmp}/calib.npz"], "--calib is for an ONNX --network (calibration inputs), got --network "
     "digits"),
    (["infer", "--network", "{tmp}/digits.onnx", "--calib", "{tmp}/calib.npz", "--weights", "{tmp}/shape.npz"],
     "--weights is for the digits CNN; an imported network brings its weights"),
    (["infer", "--images", "361"], "--images must be a number of test inputs in [1, 360] or 'all', got 361"),
    (["infer", "--data", "{tmp}/nolabels.npz"],
     "data file {tmp}/nolabels.npz must hold arrays 'x' (inputs) and 'y' (labels), got ['x']"),
    (["drift-study", "--network", "{tmp}/digits.onnx", "--calib", "{tmp}/calib2.npz"],
     "calibration file {tmp}/calib2.npz must hold an array 'x' or exactly one array, got ['a', 'b']"),
    (["energy", "--images", "400"], "--images must be a number of test inputs in [1, 360] or 'all', got 400"),
    (["bench", "--resnet50", "12"], "--resnet50: must be an integer in [0, 11], got 12"),
    (["bench", "--resnet50-encodings", "pdm"],
     "--resnet50-encodings: invalid choice: 'pdm' (choose from 'bit-serial', 'pwm')"),
    (["zoo", "resnet18"], "network: invalid choice: 'resnet18' (choose from 'resnet50', 'bottleneck', 'digits')"),
    (["zoo", "resnet50", "--out", "{readonly}/r.onnx"], "--out: {readonly}/r.onnx: folder {readonly} is not writable "
     "(Permission denied; give a file in a writable folder)"),
    (["zoo", "bottleneck", "--calib-out", "{tmp}/notes.txt/c.npz"], "--calib-out: {tmp}/notes.txt/c.npz: cannot make "
     "a folder there, {tmp}/notes.txt is a file (give a file in a writable folder)"),
    (["regress", "--seeds", "0"], "--seeds: must be an integer in [1, 100000], got 0"),
    (["regress", "--start", "-1"], "--start: must be an integer in [0, 4294967295], got -1"),
    (["regress", "--start", "4294967295", "--seeds", "2"],
     "--start 4294967295 --seeds 2: the last seed must be <= 4294967295, got 4294967296"),
    (["regress", "--sim", "modelsim"], "--sim: invalid choice: 'modelsim' (choose from 'icarus', 'verilator')"),
    (["report", "--reports", "{tmp}/no-run"],
     "--reports: {tmp}/no-run: no such folder (give the folder of a run's reports, or add --run-missing to make them "
     "there)"),
    (["regress", "--report-dir", "{tmp}/notes.txt"],
     "--report-dir: {tmp}/notes.txt: is a file, not a folder (give a folder to write into)"),
    (["formal", "--jobs", "0"], "--jobs: must be an integer in [1, 64], got 0"),
    (["formal", "--out", "{tmp}/notes.txt"], "--out: {tmp}/notes.txt: is a file, not a folder (give a folder to write "
     "into)"),
    (["fault-study", "--only", "ir_drops"], "--only: invalid choice: 'ir_drops' (choose from 'ir_drop', 'adc_offset', "
     "'adc_gain', 'comparator_noise', 'stuck_set', 'stuck_reset', 'dead_wordlines', 'dead_bitlines')"),
    (["fault-study", "--images", "361"], "--images must be a number of test inputs in [1, 360] or 'all', got 361"),
    (["fault-study", "--network", "{tmp}/digits.onnx"],
     "--network {tmp}/digits.onnx: an ONNX network needs --calib CALIB.npz (calibration inputs)"),
    (["noise-training-study", "--chips", "0"], "--chips: must be an integer in [1, 1000], got 0"),
    (["noise-training-study", "--out", "{tmp}/notes.txt"],
     "--out: {tmp}/notes.txt: is a file, not a folder (give a folder to write into)"),
    (["sim", "--bogus"], None),     # argparse's own message, checked below
]


def _fill(text, files):
    return text.format(tmp=files["tmp"], readonly=files["readonly"])


@pytest.mark.parametrize("argv, line", CASES, ids=[" ".join(a) for a, _ in CASES])
def test_bad_input_gives_one_line_naming_what_is_allowed_and_status_2(argv, line, files, capsys):
    argv = [_fill(a, files) for a in argv]
    assert main(argv) == 2
    out, err = capsys.readouterr()
    if line is None:
        assert err == "neurophase: error: unrecognized arguments: --bogus (see `neurophase --help`)\n"
    else:
        assert err == f"neurophase {argv[0]}: error: {_fill(line, files)}\n"
    assert out == ""


def test_whole_chip_sim_of_a_network_needing_more_than_one_chip_is_one_line(tmp_path, capsys):
    """tests/onnx_builders.py's residual network widened to 512 channels throughout: 171 tiles, more than the chip's
    144, in reduction groups of at most 18 tiles (the most the chip's reducer adds)."""
    import onnx
    from onnx_builders import residual_net
    rng = np.random.default_rng(2)
    onnx.save_model(residual_net(c_in=512, width=512, wide=512), str(tmp_path / "net.onnx"))
    np.savez(tmp_path / "calib.npz", x=rng.normal(size=(4, 512, 8, 8)))
    assert main(["sim", "--network", str(tmp_path / "net.onnx"), "--calib", str(tmp_path / "calib.npz")]) == 2
    assert capsys.readouterr().err == ("neurophase sim: error: the whole-chip RTL testbench runs a network on one "
                                       f"chip; {tmp_path}/net.onnx needs 2 chips of 144 tiles\n")


def test_a_missing_dev_extra_is_named_in_one_line(monkeypatch, capsys):
    import importlib.util
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "cocotb_tools" else real(name, *a))
    assert main(["sim", "--tile", "0"]) == 2
    assert capsys.readouterr().err == ("neurophase sim: error: cocotb_tools is not installed: this command needs the "
                                       "dev extra (pip install 'neurophase[dev]')\n")


def test_debug_adds_the_traceback_to_the_one_line(files, capsys):
    assert main(["--debug", "infer", "--weights", f"{files['tmp']}/shape.npz"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("Traceback (most recent call last):")
    assert err.endswith(f"neurophase infer: error: weights file {files['tmp']}/shape.npz: parameter conv1.gamma has "
                        "shape (15,), the reference network needs (16,)\n")


def test_a_bug_is_one_line_with_status_1_and_the_traceback_on_request(monkeypatch, capsys):
    from neurophase import map as map_command
    monkeypatch.setattr(map_command, "run", lambda args: {}["missing"])
    assert main(["map"]) == 1
    assert capsys.readouterr().err == ("neurophase map: internal error: KeyError: 'missing' (rerun with --debug for "
                                       "the traceback)\n")


@pytest.mark.parametrize("argv, started", [
    (["infer", "--seeds", "3"], "to compute"),
    (["drift-study", "--quick", "--workers", "2"], "to compute"),       # worker processes get the Ctrl-C as well
])
def test_ctrl_c_ends_with_one_line_and_status_130(argv, started, tmp_path):
    """Ctrl-C as a terminal sends it: SIGINT to the whole process group, once the command is at work."""
    out_option = str(tmp_path / ("out.json" if argv[0] == "infer" else "out"))
    proc = subprocess.Popen([sys.executable, "-m", "neurophase", *argv, "--out", out_option,
                             "--store", str(tmp_path / "store.csv")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
                            preexec_fn=default_sigint)
    deadline = time.monotonic() + 120
    err = ""
    while started not in err and time.monotonic() < deadline and proc.poll() is None:
        err += proc.stderr.readline()
    time.sleep(1.0)
    os.killpg(proc.pid, signal.SIGINT)
    out, rest = proc.communicate(timeout=120)
    err += rest
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err
    # one line, saying what the study kept in its store
    assert err.rstrip().splitlines()[-1].startswith(f"neurophase {argv[0]}: interrupted")


@pytest.mark.parametrize("variables, line", [
    (["WAVES=yes"], "*** WAVES must be 0 or 1, got 'yes'.  Stop."),
    (["MUTANTS=yes"], "*** MUTANTS must be 0 or 1, got 'yes'.  Stop."),
    (["regress", "SEEDS=0"], "neurophase regress: error: --seeds: must be an integer in [1, 100000], got 0"),
    (["regress", "START=x"], "neurophase regress: error: --start: must be an integer in [0, 4294967295], got 'x'"),
    (["QUICK=2"], "*** QUICK must be 0 or 1, got '2'.  Stop."),
    (["TILE=abc"], "neurophase sim: error: --tile: must be an integer >= 0, got 'abc'"),
    (["TILE=0", "IMAGES=abc"], "neurophase sim: error: --images: must be a number of images >= 1 or 'all', got 'abc'"),
    (["TILE=0", "SEED=x"], "neurophase sim: error: --seed: must be an integer in [0, 4294967295], got 'x'"),
    (["TILE=0", "T=abc"], "neurophase sim: error: --time: must be a finite number >= 0, got 'abc'"),
    (["SIM=modelsim"], "neurophase sim: error: --sim: invalid choice: 'modelsim' (choose from 'icarus', 'verilator')"),
    (["ENCODING=pdm"], "neurophase sim: error: --encoding: invalid choice: 'pdm' (choose from 'bit-serial', 'pwm')"),
    (["fault-study", "CHIPS=0"], "neurophase fault-study: error: --chips: must be an integer in [1, 1000], got 0"),
    (["fault-study", "IMAGES=361"],
     "neurophase fault-study: error: --images must be a number of test inputs in [1, 360] or 'all', got 361"),
    (["fault-study", "ENCODING=pdm"],
     "neurophase fault-study: error: --encoding: invalid choice: 'pdm' (choose from 'bit-serial', 'pwm')"),
    (["fault-study", "RESNET=1", "DATA=test.npz"],
     "*** RESNET=1 names the network and its files: give it or NETWORK/CALIB/DATA, not both.  Stop."),
])
def test_makefile_variables_are_rejected_with_the_allowed_range(variables, line):
    """`make sim` (or the target given first) with a bad variable; the set-up is taken as done and the command is
    this interpreter's."""
    goal, *assignments = variables if "=" not in variables[0] else ["sim", *variables]
    r = subprocess.run(["make", "-s", "-C", str(ROOT), "-o", ".venv/.setup-done", "-o", "need-iverilog", "-o",
                        "need-cxx", f"NP={sys.executable} -m neurophase", goal, *assignments],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2
    assert r.stderr.splitlines()[0].endswith(line), r.stderr


def test_a_calibration_file_that_is_not_an_npz_is_one_line(tmp_path, capsys):
    bad = tmp_path / "calib.npz"
    bad.write_bytes(b"not a zip archive")
    assert main(["fault-study", "--network", "model/data/resnet_style.onnx", "--calib", str(bad)]) == 2
    assert capsys.readouterr().err == (f"neurophase fault-study: error: calibration file {bad} is not an .npz archive "
                                       "(give an .npz of arrays, as model/data/README.md describes)\n")
