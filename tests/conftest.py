import os

import pytest

from tests.helpers import TINY, run_script


@pytest.fixture(scope='session')
def mosaic_data(tmp_path_factory):
    """A small real multi-label set: Fashion-MNIST mosaics, train from the train images, val from the test images."""
    from fashion_attrs.mosaic import build_mosaic_dataset
    out = tmp_path_factory.mktemp('mosaic')
    build_mosaic_dataset(str(out), train=192, val=97, test=64, seed=0)
    return str(out)


@pytest.fixture(scope='session')
def trained(mosaic_data, tmp_path_factory):
    """A 3-epoch tiny run on the mosaic data: (output folder, process)."""
    out = tmp_path_factory.mktemp('train')
    proc = run_script(['train.py', mosaic_data, *TINY, '--epochs', '3', '--output', str(out), '--experiment', 'run'])
    return os.path.join(out, 'run'), proc


# hypothesis: 40 examples per property in the test command; `HYPOTHESIS_PROFILE=thorough` runs 400
try:
    from hypothesis import settings as _settings
    _settings.register_profile('ci', max_examples=40, deadline=None)
    _settings.register_profile('thorough', max_examples=400, deadline=None)
    _settings.load_profile(os.environ.get('HYPOTHESIS_PROFILE', 'ci'))
except ImportError:  # pragma: no cover - hypothesis is in requirements-test.txt
    pass
