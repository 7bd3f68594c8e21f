"""What the study commands show (neurophase/study_cli.py): a progress bar on a terminal, a line per point otherwise,
JSON lines for machines; and a results store written by another version of the model is refused."""

import io
import json

import pytest

from neurophase.cli import main
from neurophase.model.drift_study import DriftStudy, StudyConfig
from neurophase.model.results_store import ResultsStore
from neurophase.model.study_engine import DIGEST_COLUMN
from neurophase.study_cli import Progress

START = {"event": "start", "study": "drift-study", "store": "s.csv", "points": 14, "stored": 4, "missing": 10,
         "workers": 2, "scheduler": "tcp://127.0.0.1:1"}
ROW = {"method": "bn", "chip_seed": 1000, "time": "1 year", "accuracy": 0.99}


def _point(done):
    return {"event": "point", "study": "drift-study", "row": ROW, "done": done, "total": 14, "elapsed_s": 3.0,
            "left_s": 9.0}


class _Terminal(io.StringIO):
    def isatty(self):
        return True


def test_on_a_terminal_progress_is_a_bar_of_points_done_with_the_time_left():
    screen = _Terminal()
    with Progress(False, DriftStudy(StudyConfig()).describe, screen) as progress:
        for event in (START, _point(5), _point(6)):
            progress(event)
    text = screen.getvalue()
    assert "14 points, 4 already in s.csv, 10 to compute (2 workers at tcp://127.0.0.1:1)" in text
    assert "6/14" in text and "<" in text and "BN recalibration, chip 1000, 1 year: 99.00%" in text


def test_off_a_terminal_progress_is_a_line_per_point_and_json_lines_for_machines(capsys):
    log = io.StringIO()
    with Progress(False, DriftStudy(StudyConfig()).describe, log) as progress:
        progress(START)
        progress(_point(5))
    assert log.getvalue().splitlines()[1] == "  [5/14] BN recalibration, chip 1000, 1 year: 99.00%   (3 s, ~9 s left)"
    with pytest.raises(KeyboardInterrupt):
        with Progress(True, None) as progress:
            progress(START)
            raise KeyboardInterrupt("3 of 14 points stored")
    events = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert events == [START, {"event": "interrupted", "message": "3 of 14 points stored"}]


def test_a_store_written_by_another_version_of_the_model_is_refused(tmp_path, capsys):
    store = tmp_path / "store.csv"
    study = DriftStudy(StudyConfig(chips=1, times=(("1 s", 1.0),), test_images=8, methods=("pcm",)))
    with ResultsStore(store, study.columns + (DIGEST_COLUMN,), study.key_columns) as s:
        s.append([{**study.points()[0], "accuracy": 1.0, "correct": 8, "devices_rewritten": None, "gdc_alpha": None,
                   DIGEST_COLUMN: "0123456789ab"}])
    argv = ["drift-study", "--chips", "1", "--times", "1", "--images", "8", "--methods", "pcm", "--store", str(store),
            "--out", str(tmp_path)]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert f"results store {store} holds points of this study computed by another version of the model (model/*.py " \
           "digest 0123456789ab, now " in err and "delete it or choose another --store" in err
