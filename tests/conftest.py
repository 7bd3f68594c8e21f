import pytest

from neurophase.tb.toolchain import SIMULATORS, setup_environment

setup_environment()


@pytest.fixture(params=SIMULATORS)
def sim(request):
    return request.param
