import pytest

from neurophase.tb.toolchain import SIMULATORS, setup_environment

setup_environment()


@pytest.fixture(params=SIMULATORS)
def sim(request):
    return request.param


@pytest.fixture(scope="session")
def imported():
    """tests/onnx_builders.py's residual network, imported: a layer of 360 rows x 160 outputs (2 row groups x 2 column
    blocks), one of 1440 rows (6 row groups), a residual add of two signed branches, an average pool."""
    import numpy as np
    from onnx_builders import residual_net

    from neurophase.model.network_file import import_network
    from neurophase.model.quantise import LabelledSet
    rng = np.random.default_rng(2)
    return import_network(residual_net(), rng.normal(size=(48, 4, 8, 8)),
                          LabelledSet(rng.normal(size=(40, 4, 8, 8)), rng.integers(0, 10, 40)))
