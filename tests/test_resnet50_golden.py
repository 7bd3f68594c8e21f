"""ResNet-50 end to end through the twin's import path and the golden model (slow: minutes on the shared machine):
the zoo's ONNX file, imported, mapped on six chips, run at 224 x 224 with every non-ideality on, and its ADC
conversions and read energy measured; `neurophase bench --resnet50` on it."""

import json

import numpy as np
import pytest

from neurophase.cli import main


@pytest.fixture(scope="module")
def resnet50(tmp_path_factory):
    from neurophase.bench_resnet50 import resnet50_network
    net, _ = resnet50_network(tmp_path_factory.mktemp("r50") / "resnet50.npz")
    return net


@pytest.mark.slow
def test_resnet50_runs_end_to_end_on_six_chips_with_every_non_ideality(resnet50):
    from neurophase.model.measured_run import measure_run
    from neurophase.model.chip import Chip, ChipConfig
    from neurophase.model.events import count_events
    from neurophase.model.workload import works_from_mapping
    net = resnet50
    assert (len(net.layers), len(net.adds), net.input_shape) == (54, 16, (3, 224, 224))
    chip = Chip.program(net, seed=0, config=ChipConfig(chunk=1))
    assert (chip.mapping.tiles_needed, chip.mapping.chips) == (804, 6)
    run = measure_run(chip, net.calibration[:1], 86400.0, 0)
    analytic = sum(count_events(w, activity=run.activity(w.name), fmt=chip.config.fmt).adc_conversions
                   for w in works_from_mapping(chip.mapping))
    assert sum(c.conversions for c in run.adc.values()) == analytic
    assert 0 < sum(c.saturated for c in run.adc.values()) < 0.01 * analytic
    assert run.mean_conductance > 0 and 0 < run.activity().mean_popcount < 8


@pytest.mark.slow
def test_bench_reports_resnet50_images_per_second_and_where_the_time_goes(resnet50, tmp_path, capsys, monkeypatch):
    import neurophase.bench_resnet50 as b
    monkeypatch.setenv("NEUROPHASE_BUILD", str(tmp_path))
    from neurophase.model.network_file import save_network
    save_network(resnet50, b.network_file())
    out = tmp_path / "bench.json"
    assert main(["bench", "--out", str(out), "--batch", "8", "--repeats", "3", "--resnet50", "1",
                 "--resnet50-encodings", "pwm"]) == 0
    r = json.loads(out.read_text())["resnet50"]["encodings"]["pwm"]
    assert r["images_per_s"] == pytest.approx(1 / r["seconds_per_image"])
    assert np.isclose(sum(r["cpu_s_per_image_by_stage"].values()), r["cpu_s_per_image"], rtol=0.05)
    assert "ResNet-50 through the golden model" in capsys.readouterr().out


@pytest.mark.slow
def test_the_imported_resnet50_makes_16_bit_outputs_where_the_energy_model_counts_them(resnet50):
    from neurophase.model.resnet50 import resnet50_wide_layers
    assert resnet50.wide_layers == resnet50_wide_layers()
