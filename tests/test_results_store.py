"""The results store (model/results_store.py): one tidy CSV that pandas loads, rows written whole, a torn last row
dropped, no point twice, one writer at a time."""

import math

import pandas as pd
import pytest

from neurophase.model.results_store import ResultsStore, cell, read_rows

COLUMNS = ("method", "chip_seed", "t_s", "accuracy", "note")
KEYS = ("method", "chip_seed", "t_s")


def _row(method, seed, t, acc, note=None):
    return {"method": method, "chip_seed": seed, "t_s": t, "accuracy": acc, "note": note}


def test_rows_written_are_found_again_and_pandas_loads_the_table(tmp_path):
    path = tmp_path / "s" / "points.csv"
    with ResultsStore(path, COLUMNS, KEYS) as store:
        store.append([_row("pcm", 1000, 31557600.0, 1 / 3), _row("bn", 1000, 1.0, 0.99, 'with "quotes", commas')])
        store.append([_row("fp32", None, None, 0.9944)])
        assert len(store) == 3 and _row("pcm", 1000, 31557600.0, None) in store
    with ResultsStore(path, COLUMNS, KEYS) as store:
        assert store.get({"method": "pcm", "chip_seed": 1000, "t_s": 31557600.0})["accuracy"] == repr(1 / 3)
        assert {"method": "fp32", "chip_seed": None, "t_s": None} in store
    table = pd.read_csv(path)
    assert list(table.columns) == list(COLUMNS) and len(table) == 3
    assert table["accuracy"].tolist() == [1 / 3, 0.99, 0.9944]          # floats round-trip exactly
    assert table["note"][1] == 'with "quotes", commas' and math.isnan(table["chip_seed"][2])


def test_a_torn_last_row_is_dropped_and_its_point_is_missing_again(tmp_path):
    path = tmp_path / "points.csv"
    with ResultsStore(path, COLUMNS, KEYS) as store:
        store.append([_row("pcm", 1000, 1.0, 0.5)])
    with open(path, "a") as f:
        f.write("bn,1000,1.0,0.9")                  # a writer killed mid-row
    with ResultsStore(path, COLUMNS, KEYS) as store:
        assert len(store) == 1 and _row("bn", 1000, 1.0, None) not in store
        store.append([_row("bn", 1000, 1.0, 0.75)])
    assert [r["accuracy"] for r in read_rows(path)] == ["0.5", "0.75"]


def test_a_point_is_never_stored_twice(tmp_path):
    path = tmp_path / "points.csv"
    with ResultsStore(path, COLUMNS, KEYS) as store:
        store.append([_row("pcm", 1000, 1.0, 0.5)])
        with pytest.raises(ValueError, match=r"already holds the point \{'method': 'pcm', 'chip_seed': '1000', "
                                             r"'t_s': '1.0'\}"):
            store.append([_row("sr", 1000, 1.0, 0.5), _row("pcm", 1000, 1.0, 0.6)])
        assert len(store) == 1                      # the batch was refused whole
    path.write_text(path.read_text() + "pcm,1000,1.0,0.7,\n")
    with pytest.raises(ValueError, match=r"line 3: the point \{'method': 'pcm', 'chip_seed': '1000', 't_s': '1.0'\} "
                                         r"is stored twice"):
        ResultsStore(path, COLUMNS, KEYS)


def test_one_study_at_a_time_writes_a_store(tmp_path):
    path = tmp_path / "points.csv"
    with ResultsStore(path, COLUMNS, KEYS):
        with pytest.raises(RuntimeError, match="is in use by another study; wait for it to finish or choose another "
                                               "--store"):
            ResultsStore(path, COLUMNS, KEYS)
    ResultsStore(path, COLUMNS, KEYS).close()      # free again once closed


def test_a_store_of_another_table_is_refused(tmp_path):
    path = tmp_path / "points.csv"
    path.write_text("method,accuracy\npcm,0.5\n")
    with pytest.raises(ValueError, match=r"has columns \['method', 'accuracy'\], this study writes \['method', "):
        ResultsStore(path, COLUMNS, KEYS)
    with ResultsStore(tmp_path / "other.csv", COLUMNS, KEYS) as store:
        with pytest.raises(ValueError, match=r"lacks the columns \['note'\]"):
            store.append([{"method": "pcm", "chip_seed": 1, "t_s": 1.0, "accuracy": 0.5}])


def test_cells_are_the_text_the_file_holds():
    assert [cell(v) for v in (None, 3, 31557600.0, 0.1, "pwm", True)] == ["", "3", "31557600.0", "0.1", "pwm", "1"]


def test_a_numpy_float_is_stored_as_the_number_not_its_type():
    import numpy as np
    assert cell(np.float64(1 / 3)) == repr(1 / 3) and cell(np.float64(31557600.0)) == "31557600.0"
