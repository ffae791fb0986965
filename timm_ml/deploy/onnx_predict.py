""" Predictions from a timm_ml ONNX export with ONNX Runtime, numpy and Pillow alone (no torch, no timm).

    python -m timm_ml.deploy.onnx_predict model.onnx image.jpg [folder ...] [--threshold 0.5] [--output p.csv]

Prints one JSON line per image (labels, one entry per group, tags, top-k, scores), or writes --output as CSV / JSON /
JSON Lines in infer.py's formats.
"""
import argparse
import json
import os
import sys

import numpy as np

from .onnx_model import OnnxMultiLabelModel
from .predictions import prediction_records, thresholds_for, write_predictions_csv, write_predictions_json

IMAGE_EXTENSIONS = ('.png', '.jpg', '.jpeg', '.bmp', '.webp', '.tif', '.tiff', '.gif')


def list_images(inputs):
    """Image paths of files and folders (recursive), in order."""
    out = []
    for path in inputs:
        if os.path.isdir(path):
            found = sorted(os.path.join(d, f) for d, _, files in os.walk(path) for f in files
                           if f.lower().endswith(IMAGE_EXTENSIONS))
            if not found:
                raise FileNotFoundError(f'no images ({", ".join(IMAGE_EXTENSIONS)}) under {path}')
            out += found
        elif os.path.isfile(path):
            out.append(path)
        else:
            raise FileNotFoundError(f'no such image or folder: {path}')
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('model', help='a .onnx file exported by infer.py --export onnx')
    parser.add_argument('images', nargs='+', help='images and / or folders of images')
    parser.add_argument('--threshold', type=float, default=None,
                        help='global threshold (default: the per-class thresholds in the file, else 0.5)')
    parser.add_argument('--output', default=None, help='write predictions to a .csv / .json / .jsonl file; without '
                                                        'it, one JSON line per image (labels, scores) on stdout')
    parser.add_argument('-b', '--batch-size', type=int, default=32)
    args = parser.parse_args()
    if args.threshold is not None and not 0 < args.threshold < 1:
        parser.error(f'--threshold {args.threshold}: a probability threshold must be between 0 and 1')
    if args.batch_size < 1:
        parser.error('-b must be >= 1')
    try:
        model = OnnxMultiLabelModel(args.model)
        paths = list_images(args.images)
        if args.output:
            protected = {os.path.realpath(p) for p in [args.model] + paths}
            if os.path.realpath(args.output) in protected or os.path.isdir(args.output):
                raise ValueError(f'--output {args.output}: that is the model, an input image or a folder; name a new '
                                 '.csv / .json / .jsonl file')
        scores = np.concatenate([model.scores(paths[i:i + args.batch_size])
                                 for i in range(0, len(paths), args.batch_size)])
        cut = model.thresholds if args.threshold is None else thresholds_for(model.schema, None, args.threshold)
        if args.output:
            fmt = {'.json': 'json', '.jsonl': 'jsonl'}.get(os.path.splitext(args.output)[1].lower(), 'csv')
            if fmt == 'csv':
                write_predictions_csv(args.output, paths, scores, model.schema, cut)
            else:
                write_predictions_json(args.output, paths, scores, model.schema, cut, lines=fmt == 'jsonl')
            print(f'wrote {len(paths)} predictions to {args.output}')
            return
    except (ValueError, OSError) as e:
        print(f'error: {e}', file=sys.stderr)
        sys.exit(2)
    for record in prediction_records(paths, scores, model.schema, cut):
        print(json.dumps(record))


if __name__ == '__main__':
    main()
