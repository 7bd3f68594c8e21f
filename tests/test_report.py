"""`neurophase report`: one self-contained HTML page of a run, and (slow) that a browser shows every figure of it."""

import base64
import json
import os
import select
import shutil
import subprocess
import time

import pytest

from neurophase.cli import main

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def test_report_of_an_empty_folder_names_each_missing_part_and_its_command(tmp_path, capsys):
    assert main(["report", "--reports", str(tmp_path)]) == 0
    html = " ".join((tmp_path / "report.html").read_text().split())
    assert f"wrote {tmp_path / 'report.html'}" in capsys.readouterr().out
    for what, command in (("the mapping", "neurophase map"), ("accuracy over time", "neurophase drift-study --quick"),
                          ("the energy report", "neurophase energy"), ("the claims check", "neurophase energy"),
                          ("RTL runs", "neurophase sim --tile 4 --images 1 --waves"),
                          ("a waveform", "neurophase sim --tile 4 --images 1 --waves")):
        assert f"Not in this run: {what}. Make it with <code>{command}</code>" in html
    assert "<img" not in html


def test_report_shows_the_mapping_as_table_and_embedded_figure(tmp_path):
    assert main(["map", "--out", str(tmp_path / "mapping.json")]) == 0
    assert main(["report", "--reports", str(tmp_path), "--out", str(tmp_path / "r.html")]) == 0
    html = " ".join((tmp_path / "r.html").read_text().split())
    assert "5 of 144 tiles of 256 rows x 128 columns hold the network" in html
    assert "<td>conv3</td><td>256..287</td>" in html
    (src,) = [part.split('"')[0] for part in html.split('<img src="')[1:]]
    assert src.startswith("data:image/png;base64,")
    assert base64.b64decode(src.split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"
    assert "http://" not in html and "https://" not in html     # self-contained


def chromium():
    """Debian's Chromium, installed with apt-get (as root or through sudo) when it is missing."""
    exe = shutil.which("chromium")
    if exe is None:
        sudo = [] if os.geteuid() == 0 else ["sudo", "-n"]
        subprocess.run(sudo + ["apt-get", "update", "-qq"], check=True, capture_output=True)
        subprocess.run(sudo + ["apt-get", "install", "-y", "-qq", "chromium"], check=True, capture_output=True,
                       env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"))
        exe = shutil.which("chromium")
    assert exe, "Debian's chromium could not be installed"
    return exe


class DevTools:
    """The Chrome DevTools protocol over --remote-debugging-pipe (fd 3 in, fd 4 out; NUL-terminated JSON)."""

    def __init__(self, exe, profile):
        to_chrome, self._write = os.pipe()
        self._read, from_chrome = os.pipe()

        def fds():
            # Copies first: a pipe end may itself be fd 3 or 4, and dup2 onto itself leaves it close-on-exec.
            inbound, outbound = os.dup(to_chrome), os.dup(from_chrome)
            os.dup2(inbound, 3)
            os.dup2(outbound, 4)
        self.proc = subprocess.Popen([exe, *FLAGS, f"--user-data-dir={profile}", "--remote-debugging-pipe",
                                      "about:blank"], preexec_fn=fds, close_fds=False,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(to_chrome)
        os.close(from_chrome)
        self._id, self._buf = 0, b""

    def call(self, method, session=None, timeout=60, **params):
        self._id += 1
        msg = {"id": self._id, "method": method, "params": params, **({"sessionId": session} if session else {})}
        os.write(self._write, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            while b"\0" not in self._buf:
                left = deadline - time.monotonic()
                assert left > 0 and select.select([self._read], [], [], left)[0], f"no answer to {method}"
                chunk = os.read(self._read, 1 << 20)
                assert chunk, "chromium closed the pipe"
                self._buf += chunk
            raw, self._buf = self._buf.split(b"\0", 1)
            reply = json.loads(raw)
            if reply.get("id") == self._id:
                assert "error" not in reply, reply
                return reply["result"]

    def close(self):
        try:
            self.call("Browser.close", timeout=10)
        finally:
            self.proc.wait(timeout=30)
            os.close(self._write)
            os.close(self._read)


def figures_in_browser(page, profile, screenshot):
    """(each <img>'s alt, whether it loaded, its natural width) as Chromium shows ``page``; writes a screenshot."""
    tools = DevTools(chromium(), profile)
    try:
        target = tools.call("Target.createTarget", url=page.as_uri())["targetId"]
        session = tools.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        evaluate = lambda js: tools.call("Runtime.evaluate", session, expression=js, returnByValue=True,
                                         awaitPromise=True)["result"]["value"]
        deadline = time.monotonic() + 60
        while evaluate("location.href + ' ' + document.readyState") != f"{page.as_uri()} complete":
            assert time.monotonic() < deadline, "the page did not finish loading"
            time.sleep(0.2)
        images = json.loads(evaluate("JSON.stringify(Array.from(document.images).map("
                                     "i => [i.alt, i.complete && i.naturalWidth > 0, i.naturalWidth]))"))
        height = evaluate("document.documentElement.scrollHeight")
        tools.call("Emulation.setDeviceMetricsOverride", session, width=1200, height=height, deviceScaleFactor=1,
                   mobile=False)
        shot = tools.call("Page.captureScreenshot", session, format="png")["data"]
        screenshot.write_bytes(base64.b64decode(shot))
    finally:
        tools.close()
    return images


@pytest.mark.slow
@pytest.mark.sim
def test_report_of_a_run_shows_every_figure_in_headless_chromium(tmp_path, monkeypatch):
    """A run's report from scratch (--run-missing: mapping, quick drift study, energy, tile 4 with a trace), in a
    build folder of its own: the working tree's may hold a results store of another model version, which the drift
    study rightly refuses to extend."""
    monkeypatch.setenv("NEUROPHASE_BUILD", str(tmp_path / "build"))
    reports = tmp_path / "reports"
    assert main(["report", "--run-missing", "--reports", str(reports)]) == 0
    page = reports / "report.html"
    html = page.read_text()
    assert "Not in this run" not in html
    images = figures_in_browser(page, tmp_path / "profile", tmp_path / "report.png")
    assert [alt for alt, _, _ in images] == [
        "mapping: used part of each tile", "accuracy against time after programming", "energy_breakdown",
        "efficiency_comparison", "waveform of one tile MVM"]
    assert all(loaded and width > 300 for _, loaded, width in images), images
    assert (tmp_path / "report.png").stat().st_size > 10_000
