""" Shared test helpers: running the scripts, reading label files, writing small fixtures in published layouts."""
import os
import socket
import subprocess
import sys

import numpy as np
from PIL import Image


ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'fixtures')


TINY = ['--model', 'test_resnet', '--input-size', '3', '32', '32', '-b', '32', '-j', '0', '--log-interval', '5',
        '--warmup-epochs', '0', '--opt', 'adamw', '--lr', '3e-3', '--scale', '0.8', '1']


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def run_script(args, env=None, timeout=600, check=True, cwd=ROOT):
    """Run a top-level script (or a shell command list) from the repository root; fail with its output. Python
    scripts and `-m` modules run as children of a warm interpreter (tests/zygote.py) unless TIMM_ML_TEST_ZYGOTE=0."""
    cmd = args if args[0].endswith('.sh') or args[0] in ('torchrun', 'bash') or os.path.isabs(args[0]) and \
        not args[0].endswith('.py') else [sys.executable] + args
    full_env = dict(os.environ, OMP_NUM_THREADS='1', **(env or {}))
    if cmd[0] == sys.executable and (cmd[1] == '-m' or cmd[1].endswith('.py')) and \
            os.environ.get('TIMM_ML_TEST_ZYGOTE') != '0' and _zygote_env_fits(full_env):
        proc = _zygote_run(cmd, cwd, full_env, timeout)
    else:
        proc = subprocess.run(cmd, cwd=cwd, env=full_env, capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f'{" ".join(cmd)} failed ({proc.returncode}):\n{proc.stdout[-4000:]}\n{proc.stderr[-6000:]}')
    return proc


_ZYGOTE = []
# read when used, not when imported: a run that changes only these can fork from the warm interpreter; any other
# difference (e.g. HF_HUB_OFFLINE, read by huggingface_hub at import) gets a fresh interpreter
_RUNTIME_ENV = ('TIMM_ML_FAULT', 'TIMM_ML_DEBUG', 'MASTER_PORT', 'MASTER_ADDR', 'WANDB_MODE', 'WANDB_DIR',
                'WANDB_SILENT')
_ZYGOTE_ENV = {}


def _zygote_env_fits(env):
    base = _ZYGOTE_ENV or dict(os.environ, OMP_NUM_THREADS='1')
    keys = (set(env) | set(base)) - set(_RUNTIME_ENV)
    return all(env.get(k) == base.get(k) for k in keys)


def _zygote():
    if not _ZYGOTE or _ZYGOTE[0].poll() is not None:
        _ZYGOTE_ENV.clear()
        _ZYGOTE_ENV.update(os.environ, OMP_NUM_THREADS='1')
        _ZYGOTE[:] = [subprocess.Popen([sys.executable, os.path.join(ROOT, 'tests', 'zygote.py')], cwd=ROOT,
                                       stdin=subprocess.PIPE, stdout=subprocess.PIPE, bufsize=0, env=_ZYGOTE_ENV)]
    return _ZYGOTE[0]


def _zygote_run(cmd, cwd, env, timeout):
    """subprocess.run(cmd, capture_output=True, text=True) of a Python script, forked from the warm interpreter."""
    import json
    import select
    import signal
    import tempfile
    zygote = _zygote()
    with tempfile.TemporaryDirectory() as tmp:
        out, err = os.path.join(tmp, 'out'), os.path.join(tmp, 'err')
        zygote.stdin.write((json.dumps(dict(argv=cmd[1:], env=env, cwd=str(cwd), out=out, err=err)) + '\n').encode())
        pid = json.loads(zygote.stdout.readline())['pid']  # unbuffered: nothing read ahead, so select sees the rest
        ready, _, _ = select.select([zygote.stdout], [], [], timeout)
        if not ready:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            json.loads(zygote.stdout.readline())
            raise subprocess.TimeoutExpired(cmd, timeout)
        rc = json.loads(zygote.stdout.readline())['rc']
        read_text = lambda p: open(p, encoding='utf-8', errors='replace').read()  # noqa: E731
        return subprocess.CompletedProcess(cmd, rc, read_text(out), read_text(err))


def read(root_or_file, split=None, label_format='auto', **options):
    """read_label_set(root, split) or, with one argument, a label file read on its own."""
    from timm_ml.data import LabelOptions, read_label_set
    if split is None:
        root_or_file, split = None, root_or_file
    return read_label_set(root_or_file, split, label_format, LabelOptions(**options), log=False)


def dense(label_set):
    return label_set.targets.dense().tolist()


def png(path, value=0, size=16, mode='RGB'):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    channels = {'RGB': 3, 'RGBA': 4}.get(mode)
    shape = (size, size, channels) if channels else (size, size)
    Image.fromarray(np.full(shape, value, np.uint8), mode=mode).save(path)
