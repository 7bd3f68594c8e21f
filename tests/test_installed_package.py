"""The package as a user installs it: a wheel (not editable) in a fresh virtualenv, run from another folder.

The wheel is built from a copy of the source tree and installed with pip's resolver against the `dev` extra. So that
the test needs no network and little time, the fresh virtualenv sees the dependencies through a folder of links to
this environment's installed packages (everything except neurophase itself); the wheel brings every file of the
project it needs (HDL stand-ins, lint waivers, data files, the report template).
"""

import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SKIP = {".git", ".venv", "build", "dist", ".pytest_cache", "__pycache__", "neurophase.egg-info", "sim_build"}


def _run(cmd, **kw):
    r = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=600, **kw)
    assert r.returncode == 0, f"{cmd} failed ({r.returncode}):\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
    return r


def _dependency_links(folder, leave_out=()):
    """A folder of links to this environment's installed packages, less neurophase and ``leave_out``."""
    folder.mkdir()
    site = Path(sysconfig.get_paths()["purelib"])
    for entry in site.iterdir():
        name = entry.name.lower()
        if name.startswith(("neurophase", "__editable__", "_neurophase")) or name.endswith(".pth") or \
                any(name.startswith(x) for x in leave_out):
            continue
        (folder / entry.name).symlink_to(entry)
    return folder


def _venv(path, deps):
    """A fresh virtualenv without pip of its own (this environment's pip installs into it) that sees ``deps``."""
    _run([sys.executable, "-m", "venv", "--without-pip", path])
    purelib = _run([path / "bin" / "python", "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"])
    Path(purelib.stdout.strip(), "dependencies.pth").write_text(f"{deps}\n")
    return path / "bin"


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"
    shutil.copytree(ROOT, src, symlinks=True, ignore=lambda d, names: [n for n in names if n in SKIP])
    _run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", tmp / "dist", src])
    (whl,) = (tmp / "dist").glob("neurophase-*.whl")
    return whl


@pytest.fixture(scope="module")
def installed(wheel, tmp_path_factory):
    """bin folder of a fresh virtualenv with the wheel installed with its `dev` extra."""
    tmp = tmp_path_factory.mktemp("venv")
    bindir = _venv(tmp / "venv", _dependency_links(tmp / "deps"))
    _run([sys.executable, "-m", "pip", "--python", bindir / "python", "install", "-q", "--no-index",
          f"{wheel}[dev]"])
    return bindir


def _env():
    """This process's environment without its build folder setting; the simulators stay on PATH."""
    return {k: v for k, v in os.environ.items() if k not in ("NEUROPHASE_BUILD", "PYTHONPATH")}


@pytest.mark.sim
def test_installed_wheel_simulates_a_tile_from_another_folder(installed, tmp_path):
    where = tmp_path / "elsewhere"
    where.mkdir()
    r = _run([installed / "neurophase", "sim", "--tile", "4", "--images", "1"], cwd=where, env=_env())
    report = json.loads((where / "build" / "reports" / "sim_tile4.json").read_text())
    assert report["mismatches"] == 0 and report["outputs_checked"] == 10
    assert f"report: {where}/build/reports/sim_tile4.json" in r.stdout
    assert (where / "build" / "sim").is_dir()
    package = Path(_run([installed / "python", "-c", "import neurophase; print(neurophase.__file__)"],
                        cwd=where).stdout.strip()).parent
    assert package.is_relative_to(installed.parent) and not (package / "build").exists()
    for shipped in ("tb/hdl/comparator_bank.v", "tb/hdl/chip_io.v", "tb/hdl/chip_verilator.vlt",
                    "rtl/lint_waivers.vlt", "model/data/digits_cnn.npz", "templates/report.html.j2"):
        assert (package / shipped).is_file(), shipped
    assert not (package / "model").is_symlink()


def test_installed_wheel_reports_its_version(installed, tmp_path):
    r = _run([installed / "neurophase", "--version"], cwd=tmp_path, env=_env())
    assert r.stdout == "neurophase 0.1.0\n"


def test_without_the_dev_extra_a_simulation_names_it(wheel, tmp_path):
    bindir = _venv(tmp_path / "venv", _dependency_links(tmp_path / "deps", leave_out=("cocotb",)))
    _run([sys.executable, "-m", "pip", "--python", bindir / "python", "install", "-q", "--no-index", wheel])
    r = subprocess.run([bindir / "neurophase", "sim", "--tile", "4"], cwd=tmp_path, env=_env(), capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 2
    assert r.stderr == ("neurophase sim: error: cocotb is not installed: this command needs the dev extra "
                        "(pip install 'neurophase[dev]')\n")
