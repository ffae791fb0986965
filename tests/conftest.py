import os
import socket
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope='session')
def mosaic_data(tmp_path_factory):
    """A small real multi-label set: Fashion-MNIST mosaics, train from the train images, val from the test images."""
    from fashion_attrs.mosaic import build_mosaic_dataset
    out = tmp_path_factory.mktemp('mosaic')
    build_mosaic_dataset(str(out), train=192, val=97, test=64, seed=0)
    return str(out)


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def run_script(args, env=None, timeout=600):
    """Run a top-level script (or a shell command list) from the repository root; fail with its output."""
    cmd = args if args[0].endswith('.sh') or args[0] == 'torchrun' else [sys.executable] + args
    full_env = dict(os.environ, OMP_NUM_THREADS='1', **(env or {}))
    proc = subprocess.run(cmd, cwd=ROOT, env=full_env, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise AssertionError(f'{" ".join(cmd)} failed ({proc.returncode}):\n{proc.stdout[-4000:]}\n{proc.stderr[-6000:]}')
    return proc


TINY = ['--model', 'test_resnet', '--input-size', '3', '32', '32', '-b', '32', '-j', '0', '--log-interval', '5',
        '--warmup-epochs', '0', '--opt', 'adamw', '--lr', '3e-3', '--scale', '0.8', '1']


@pytest.fixture(scope='session')
def trained(mosaic_data, tmp_path_factory):
    """A 3-epoch tiny run on the mosaic data: (output folder, process)."""
    out = tmp_path_factory.mktemp('train')
    proc = run_script(['train.py', mosaic_data, *TINY, '--epochs', '3', '--output', str(out), '--experiment', 'run'])
    return os.path.join(out, 'run'), proc
