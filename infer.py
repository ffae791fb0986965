#!/usr/bin/env python3
""" timm_ml inference to CSV

    python infer.py <image | folder | label file> --checkpoint CK --output preds.csv

One row per image: path, predicted labels (score >= threshold; per-class thresholds saved in the checkpoint are used
unless --threshold is given), top-k, and one score_<class> column per class (sigmoid probability). Attribute heads add
`Predicted <attribute>` and `Score <attribute>` columns (softmax within the attribute).
Everything comes from the checkpoint alone. `--export onnx` writes an ONNX model with score outputs instead.
"""
import argparse
import csv
import json
import logging
import os

import numpy as np
import torch
from PIL import Image
from timm import utils
from timm.data import create_transform
from tqdm import tqdm

from timm_ml.data import LABEL_OPTIONS, load_image, read_label_file
from timm_ml.data.reader_csv import read_csv_rows
from timm_ml.data.readers import LABEL_EXTENSIONS
from timm_ml.models import scores_from_logits
from timm_ml.utils import load_model_from_checkpoint
from timm_ml.utils.amp import resolve_amp

IMAGE_EXTENSIONS = ('.png', '.jpg', '.jpeg', '.bmp', '.webp', '.tif', '.tiff', '.gif')
_logger = logging.getLogger('infer')

parser = argparse.ArgumentParser(description='timm_ml inference')
parser.add_argument('input', nargs='?', help='an image, a folder of images (recursive) or a label file')
parser.add_argument('--checkpoint', required=True, help='timm_ml checkpoint')
parser.add_argument('--output', default='predictions.csv',
                    help='predictions file (or the .onnx / .xml with --export) to write')
parser.add_argument('--format', default=None, choices=('csv', 'json', 'jsonl'),
                    help='predictions format (default: from the --output extension, else csv)')
parser.add_argument('--threshold', type=float, default=None,
                    help='global probability threshold; overrides the checkpoint thresholds (default: 0.5)')
parser.add_argument('--topk', type=int, default=3, help='top-k column size (default: 3)')
parser.add_argument('-b', '--batch-size', type=int, default=64)
parser.add_argument('-j', '--workers', type=int, default=2)
parser.add_argument('--device', default=None)
parser.add_argument('--amp', action='store_true', default=False)
parser.add_argument('--no-ema', action='store_true', default=False)
parser.add_argument('--column-names', nargs='*', default={}, action=utils.ParseKwargs,
                    help='display names of attributes in the CSV, e.g. neck="Neck Type" (default: attribute names)')
parser.add_argument('--export', choices=('onnx', 'openvino'), default=None,
                    help='export a self-describing model (classes, thresholds, attribute groups, preprocessing in its '
                         'metadata) instead of predicting; openvino writes <output>.xml/.bin from the ONNX export')
parser.add_argument('--bad-images', default='error', choices=('error', 'skip'),
                    help='unreadable images: error (default) or skip: marked in an "error" column and counted')


def list_inputs(path: str, config=None):
    """(root, relative paths) for an image, a folder or a label file (read with the label-parsing options training
    used, from the checkpoint's config)."""
    if os.path.isdir(path):
        found = []
        for dirpath, _, files in os.walk(path):
            found += [os.path.relpath(os.path.join(dirpath, f), path) for f in files
                      if f.lower().endswith(IMAGE_EXTENSIONS)]
        if not found:
            raise FileNotFoundError(f'No images ({", ".join(IMAGE_EXTENSIONS)}) under {path}')
        return path, sorted(found)
    if path.lower().endswith('.txt'):  # a list of image paths, one per line, relative to the list's folder
        with open(path, encoding='utf-8-sig') as f:
            return os.path.dirname(path), [line.strip() for line in f if line.strip()]
    if path.lower().endswith(LABEL_EXTENSIONS):
        if path.lower().endswith('.csv'):
            header, rows = read_csv_rows(path)
            if len(header) == 1:  # an unlabelled list of images: a path column alone
                return os.path.dirname(path), [r[0].strip() for r in rows if r and r[0].strip()]
        saved = config or {}
        labels = read_label_file(path, **{k: saved.get(k) for k in LABEL_OPTIONS})
        return labels.root, labels.paths
    if not os.path.isfile(path):
        raise FileNotFoundError(f'No such image, folder or label file: {path}')
    return os.path.dirname(path), [os.path.basename(path)]


class ImageList(torch.utils.data.Dataset):
    """Images by path; with bad_images='skip' an unreadable one yields a blank image and its error text."""

    def __init__(self, root, paths, transform, bad_images='error', img_mode='RGB'):
        self.root, self.paths, self.transform = root, paths, transform
        self.bad_images, self.img_mode = bad_images, img_mode

    def __len__(self):
        return len(self.paths)

    def __getitem__(self, i):
        path = os.path.join(self.root, self.paths[i])
        try:
            return self.transform(load_image(path, self.img_mode)), i, ''
        except Exception as e:
            message = f'{type(e).__name__}: {e}'
            if self.bad_images != 'skip':
                raise RuntimeError(f'Cannot read image {path}: {message}. Pass --bad-images skip to mark unreadable '
                                   'images in the output and go on.') from e
            return self.transform(Image.new(self.img_mode, (8, 8))), i, message


def predict(model, config, root, paths, batch_size=64, workers=2, device='cpu', amp_autocast=None,
            bad_images='error'):
    """(N, C) float32 scores (sigmoid, or softmax per attribute) for the images in order, and {index: error} of the
    unreadable ones (bad_images='skip'; their scores are NaN)."""
    dc = config['data_config']
    transform = create_transform(
        tuple(dc['input_size']), is_training=False, interpolation=dc['interpolation'], mean=tuple(dc['mean']),
        std=tuple(dc['std']), crop_pct=dc['crop_pct'], crop_mode=dc.get('crop_mode'))
    img_mode = 'RGB' if dc['input_size'][0] == 3 else 'L'
    loader = torch.utils.data.DataLoader(ImageList(root, paths, transform, bad_images, img_mode),
                                         batch_size=batch_size, num_workers=workers)
    scores = np.zeros((len(paths), len(config['classes'])), dtype=np.float32)
    errors = {}
    model.eval()
    with torch.inference_mode():
        for input, index, error in tqdm(loader, desc='infer', unit='batch', disable=None):
            with (amp_autocast() if amp_autocast else torch.autocast('cpu', enabled=False)):
                logits = model(input.to(device))
            scores[index.numpy()] = scores_from_logits(logits.float(), config.get('group_sizes')).cpu().numpy()
            for i, e in zip(index.tolist(), error):
                if e:
                    errors[i] = e
                    scores[i] = np.nan
    return scores, errors


def write_predictions(out_path, paths, scores, config, thresholds, topk=3, column_names=None, errors=None):
    classes = config['classes']
    group_sizes = config.get('group_sizes')
    names = config.get('attribute_names') or []
    errors = errors or {}
    header = ['path', 'labels', f'top{topk}'] + (['error'] if errors else [])
    if group_sizes:
        for name in names:
            display = (column_names or {}).get(name, name)
            header += [f'Predicted {display}', f'Score {display}']
    header += [f'score_{c}' for c in classes]
    starts = np.cumsum([0] + list(group_sizes or []))
    with open(out_path, 'w', newline='') as f:
        w = csv.writer(f)
        w.writerow(header)
        for i, (path, s) in enumerate(zip(paths, scores)):
            if i in errors:  # unreadable (--bad-images skip): marked, no prediction
                w.writerow([path, '', '', errors[i]] + [''] * (len(header) - 4))
                continue
            if group_sizes:
                picks = [starts[a] + int(np.argmax(s[starts[a]:starts[a + 1]])) for a in range(len(group_sizes))]
                labels = [classes[i] for i in picks]
            else:
                labels = [c for c, v, t in zip(classes, s, thresholds) if v >= t]
            top = [classes[i] for i in np.argsort(-s, kind='stable')[:topk]]
            row = [path, ';'.join(labels), ';'.join(top)] + ([''] if errors else [])
            if group_sizes:
                for a, i in enumerate(picks):
                    row += [classes[i].split('=', 1)[-1], f'{s[i]:.6f}']
            row += [f'{v:.6f}' for v in s]
            w.writerow(row)


def prediction_records(paths, scores, config, thresholds, topk=3, errors=None):
    """One dict per image: path, labels (attribute heads: the value of each attribute), topk, scores by class."""
    classes, group_sizes = config['classes'], config.get('group_sizes')
    starts = np.cumsum([0] + list(group_sizes or []))
    for i, (path, s) in enumerate(zip(paths, scores)):
        if errors and i in errors:
            yield dict(path=path, error=errors[i])
            continue
        if group_sizes:
            labels = {name: classes[starts[a] + int(np.argmax(s[starts[a]:starts[a + 1]]))].split('=', 1)[-1]
                      for a, name in enumerate(config['attribute_names'])}
        else:
            labels = [c for c, v, t in zip(classes, s, thresholds) if v >= t]
        top = [classes[j] for j in np.argsort(-s, kind='stable')[:topk]]
        yield dict(path=path, labels=labels, topk=top, scores={c: round(float(v), 6) for c, v in zip(classes, s)})


def write_predictions_json(out_path, paths, scores, config, thresholds, topk=3, errors=None, lines=False):
    """JSON (one document with the classes, thresholds and a list of predictions) or JSON Lines (one per image)."""
    records = prediction_records(paths, scores, config, thresholds, topk, errors)
    with open(out_path, 'w') as f:
        if lines:
            for r in records:
                f.write(json.dumps(r) + '\n')
        else:
            json.dump(dict(classes=config['classes'], thresholds=[float(t) for t in thresholds],
                           predictions=list(records)), f)


def check_args(args):
    """Argument errors before any model is loaded or image read."""
    if args.threshold is not None and not 0 < args.threshold < 1:
        parser.error(f'--threshold {args.threshold}: a probability threshold must be between 0 and 1')
    out_dir = os.path.dirname(os.path.abspath(args.output))
    if os.path.isdir(args.output) or not os.path.isdir(out_dir):
        parser.error(f'--output {args.output}: ' + ('is a folder; name a file' if os.path.isdir(args.output) else
                                                     f'folder {out_dir} does not exist'))
    if args.export:
        return
    if not args.input:
        parser.error('input (image, folder or label file) is required')
    if not os.path.exists(args.input):
        parser.error(f'input {args.input!r} does not exist (an image, a folder of images, a label file or a list)')


def main():
    utils.setup_default_logging()
    args = parser.parse_args()
    check_args(args)
    device = torch.device(args.device or ('cuda' if torch.cuda.is_available() else 'cpu'))
    model, config, _ = load_model_from_checkpoint(args.checkpoint, use_ema=not args.no_ema)
    model.to(device)
    if args.export:
        from timm_ml.export import export_onnx, export_openvino
        base = os.path.splitext(args.output)[0]
        onnx_path = export_onnx(model.cpu().eval(), config, base + '.onnx')
        if args.export == 'openvino':
            print(f'wrote {export_openvino(onnx_path, base + ".xml", config)} (from {onnx_path})')
        else:
            print(f'wrote {onnx_path}')
        return
    root, paths = list_inputs(args.input, config)
    amp_autocast, _, _ = resolve_amp(args.amp, 'float16', device)
    scores, errors = predict(model, config, root, paths, args.batch_size, args.workers, device,
                             amp_autocast if args.amp else None, args.bad_images)
    if args.threshold is not None:
        thresholds = np.full(len(config['classes']), args.threshold, dtype=np.float32)
    elif config.get('thresholds') is not None:
        thresholds = np.asarray(config['thresholds'], dtype=np.float32)
        _logger.info('Using the per-class thresholds saved in the checkpoint.')
    else:
        thresholds = np.full(len(config['classes']), 0.5, dtype=np.float32)
    fmt = args.format or {'.json': 'json', '.jsonl': 'jsonl'}.get(os.path.splitext(args.output)[1].lower(), 'csv')
    if fmt == 'csv':
        write_predictions(args.output, paths, scores, config, thresholds, args.topk, args.column_names, errors)
    else:
        write_predictions_json(args.output, paths, scores, config, thresholds, args.topk, errors, lines=fmt == 'jsonl')
    if errors:
        _logger.warning(f'{len(errors)} unreadable images marked in the "error" column (--bad-images skip), first: '
                        f'{paths[min(errors)]}: {errors[min(errors)]}')
    print(f'wrote {len(paths) - len(errors)} predictions to {args.output}'
          + (f' ({len(errors)} unreadable images marked)' if errors else ''))


if __name__ == '__main__':
    main()
