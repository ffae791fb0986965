#!/usr/bin/env python3
""" timm_ml inference

    python infer.py <image | folder | label file | path list> --checkpoint CK --output preds.csv

Everything comes from the checkpoint: model, label schema, preprocessing, label-parsing options and per-class
thresholds (unless --threshold). Images go through the same loader factory as train.py / validate.py (timm's
create_loader, prefetcher included) and the same scoring and decoding (timm_ml.scoring, timm_ml.schema.decode): one
row per image with `path, labels, top<k>`, `Predicted <group>` / `Score <group>` per exclusive group (a child group
only under its predicted parent) and `score_<class>` per class; or `--format json | jsonl`.

`--export onnx | openvino` writes a self-describing model instead (see timm_ml.deploy).
"""
import argparse
import logging
import os
import tempfile

import torch
from timm import utils

from timm_ml.builder import build_ml_run
from timm_ml.cli import run_cli
from timm_ml.config import CheckpointConfig, LabelsConfig
from timm_ml.data import ImageListDataset, create_ml_loader, eval_loader_kwargs, read_label_set, reader_options, \
    saved_for_root
from timm_ml.data.readers.csv_rows import read_csv_rows
from timm_ml.data.readers.reader import LABEL_EXTENSIONS
from timm_ml.deploy.predictions import group_names, thresholds_for, write_predictions_csv, write_predictions_json
from timm_ml.eval_loop import run_prediction
from timm_ml.utils.outputs import check_outputs_are_not_inputs, own_output_kind
from timm_ml.utils.writer import check_writable
from timm_ml.utils.amp import resolve_amp

IMAGE_EXTENSIONS = ('.png', '.jpg', '.jpeg', '.bmp', '.webp', '.tif', '.tiff', '.gif')
_logger = logging.getLogger('infer')

parser = argparse.ArgumentParser(description='timm_ml inference')
parser.add_argument('input', nargs='?', help='an image, a folder of images (recursive), a label file or a list of paths')
parser.add_argument('--checkpoint', required=True, help='timm_ml checkpoint')
parser.add_argument('--output', default='predictions.csv',
                    help='predictions file (or, with --export, the .onnx / .xml file or the folder) to write')
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
parser.add_argument('--no-prefetcher', action='store_true', default=False, help='disable fast prefetcher')
parser.add_argument('--channels-last', action='store_true', default=False, help='Use channels_last memory layout')
parser.add_argument('--column-names', nargs='*', default={}, action=utils.ParseKwargs,
                    help='display names of groups in the CSV, e.g. neck="Neck Type" (default: the group names)')
parser.add_argument('--export', choices=('onnx', 'openvino', 'hf'), default=None,
                    help='export a self-describing model (schema, thresholds, preprocessing in its metadata) instead '
                         'of predicting; openvino writes <output>.xml/.bin from the ONNX export; hf writes the model '
                         'folder <output> that timm.create_model("local-dir:<output>") loads (timm-classifier heads)')
parser.add_argument('--results', default=None, metavar='JSON',
                    help='--export hf: a validate.py --results-file json whose metrics (and per-class table beside it) '
                         'go into the model card (default: the best row of the run\'s summary.csv)')
parser.add_argument('--int8', action='store_true', default=False,
                    help='--export openvino: also write <output>_int8.xml, quantised by NNCF on a calibration subset of '
                         'the training split, and compare the float and INT8 models on --split')
parser.add_argument('--calibration-size', type=int, default=300, metavar='N',
                    help='--int8: training images used for calibration (default 300, seeded choice)')
parser.add_argument('--split', default=None,
                    help='--int8: the split both models are validated on (default: the checkpoint\'s validation split)')
parser.add_argument('--data', default=None,
                    help='--int8: the data root (default: the checkpoint\'s)')
parser.add_argument('--benchmark-seconds', type=int, default=10,
                    help='--int8: seconds of OpenVINO benchmark_app per model (0: no speed measurement)')
parser.add_argument('--bad-images', default='error', choices=('error', 'skip'),
                    help='unreadable images: error (default) or skip: marked in an "error" column and counted')
parser.add_argument('--debug', action='store_true', default=False,
                    help='show the full traceback of errors (TIMM_ML_DEBUG=1 does the same)')


def list_inputs(path: str, config=None):
    """(root, relative paths, label file or None) for an image, a folder, a list of paths (.txt, or a one-column CSV)
    or a label file (read with the label-parsing options training used, from the checkpoint)."""
    if os.path.isdir(path):
        found = []
        for dirpath, _, files in os.walk(path):
            found += [os.path.relpath(os.path.join(dirpath, f), path) for f in files
                      if f.lower().endswith(IMAGE_EXTENSIONS)]
        if not found:
            raise FileNotFoundError(f'No images ({", ".join(IMAGE_EXTENSIONS)}) under {path}')
        return path, sorted(found), None
    if path.lower().endswith('.txt'):  # a list of image paths, one per line, relative to the list's folder
        with open(path, encoding='utf-8-sig') as f:
            return os.path.dirname(path), [line.strip() for line in f if line.strip()], path
    if path.lower().endswith(LABEL_EXTENSIONS):
        if path.lower().endswith('.csv'):
            header, rows = read_csv_rows(path)
            if len(header) == 1:  # an unlabelled list of images: a path column alone, with or without its header
                first = [header[0]] if header[0].lower().endswith(IMAGE_EXTENSIONS) else []
                return os.path.dirname(path), first + [r[0].strip() for r in rows if r and r[0].strip()], path
        saved = saved_for_root(dict((config or {}).get('data') or {}), os.path.dirname(os.path.abspath(path)))
        label_format, options = reader_options(LabelsConfig().with_saved(saved).options())
        labels = read_label_set(os.path.dirname(path), path, label_format, options, log=False)
        return labels.root, labels.paths, path
    if not os.path.isfile(path):
        raise FileNotFoundError(f'No such image, folder or label file: {path}')
    return os.path.dirname(path), [os.path.basename(path)], None


def check_output_is_not_an_image(output: str, root: str, paths):
    """--output naming one of the images to predict would overwrite it."""
    relative = os.path.relpath(os.path.realpath(output), os.path.realpath(root))
    if os.path.normpath(relative) in {os.path.normpath(p) for p in paths}:
        parser.error(f'--output {output}: that is one of the input images; name another file')


def check_args(args):
    """Argument errors before any model is loaded or image read."""
    if args.threshold is not None and not 0 < args.threshold < 1:
        parser.error(f'--threshold {args.threshold}: a probability threshold must be between 0 and 1')
    if args.topk < 1 or args.batch_size < 1:
        parser.error(f'--topk {args.topk} / -b {args.batch_size}: both must be >= 1')
    out_dir = os.path.dirname(os.path.abspath(args.output))
    if args.export == 'hf':
        if not os.path.isdir(out_dir):
            parser.error(f'--output {args.output}: folder {out_dir} does not exist')
    elif os.path.isdir(args.output) or not os.path.isdir(out_dir):
        parser.error(f'--output {args.output}: ' + ('is a folder; name a file' if os.path.isdir(args.output) else
                                                     f'folder {out_dir} does not exist'))
    check_outputs_are_not_inputs([args.output], [args.checkpoint, args.input], '--output')
    if args.int8 and args.export != 'openvino':
        parser.error('--int8 quantises the OpenVINO export: use it with --export openvino')
    if args.calibration_size < 1:
        parser.error(f'--calibration-size {args.calibration_size}: must be >= 1')
    if args.results and args.export != 'hf':
        parser.error('--results feeds the model card of --export hf')
    if args.export == 'hf':
        if os.path.exists(args.output) and (not os.path.isdir(args.output) or os.path.islink(args.output) or (
                os.listdir(args.output) and own_output_kind(args.output) != 'hf-folder')):
            parser.error(f'--output {args.output}: --export hf writes a model folder; name a new or empty folder (or '
                         'an earlier export of ours)')
        return
    if args.export:  # the files an export writes, each new or an earlier export of ours (checked before any work)
        for path, kind in export_outputs(args):
            check_writable(path, '--output', kinds=(kind,))
        return
    if args.input and os.path.isdir(args.input) and os.path.isfile(args.output) and \
            args.output.lower().endswith(IMAGE_EXTENSIONS):
        inside = os.path.relpath(os.path.realpath(args.output), os.path.realpath(args.input))
        if not inside.startswith('..'):
            check_output_is_not_an_image(args.output, args.input, [inside])  # the precise reason, before any work
    check_writable(args.output, '--output', kinds=('predictions',))
    if not args.input:
        parser.error('input (image, folder or label file) is required')
    if not os.path.exists(args.input):
        parser.error(f'input {args.input!r} does not exist (an image, a folder of images, a label file or a list)')


def export_outputs(args):
    """(path, kind) of every file `--export onnx | openvino [--int8]` writes: the ONNX file named, or the IR (.xml and
    its .bin) named; --int8 adds <name>_int8.xml / .bin and the comparison <name>_int8.json."""
    base, ext = os.path.splitext(args.output)
    if args.export == 'onnx':
        return [(base + '.onnx' if ext.lower() != '.onnx' else args.output, 'onnx')]
    out = [(base + '.xml', 'openvino'), (base + '.bin', 'openvino-weights')]
    if args.int8:
        out += [(base + '_int8.xml', 'openvino'), (base + '_int8.bin', 'openvino-weights'),
                (base + '_int8.json', 'int8-comparison')]
    return out


def predict(model, run, root, paths, args, device):
    """(N, C) scores (NaN rows for unreadable images) and {index: error} through the shared loader and loop."""
    dc = run.config['data_config']
    dataset = ImageListDataset(root, paths, bad_images=args.bad_images,
                               img_mode='RGB' if dc['input_size'][0] == 3 else 'L')
    prefetcher = not args.no_prefetcher
    loader = create_ml_loader(dataset, **eval_loader_kwargs(dc, args.batch_size, args.workers, False, device,
                                                            False, prefetcher))
    amp_autocast, _, _ = resolve_amp(args.amp, 'float16', device)
    scores, bad = run_prediction(model, loader, run.scoring, device, amp_autocast, args.channels_last, prefetcher)
    return scores, {i: dataset.error(i) or 'unreadable' for i in bad}


def main():
    utils.setup_default_logging()
    args = parser.parse_args()
    check_args(args)
    device = torch.device(args.device or ('cuda' if torch.cuda.is_available() else 'cpu'))
    run = build_ml_run(CheckpointConfig(args.checkpoint, labels=LabelsConfig(root=args.data, val_split=args.split),
                                        use_ema=not args.no_ema), log=False)
    model = run.load_checkpoint(run.create_model())
    config, checkpoint, schema = run.config, run.checkpoint, run.scoring
    if args.export == 'hf':
        from timm_ml.deploy.hf_folder import export_hf
        train_args = vars(checkpoint['args']) if isinstance(checkpoint.get('args'), argparse.Namespace) else None
        print(f'wrote {export_hf(model.cpu().eval(), config, args.checkpoint, args.output, args.results, train_args)}')
        return
    if args.export:
        from timm_ml.deploy.export import export_onnx, export_openvino
        outputs = [p for p, _ in export_outputs(args)]
        if args.export == 'onnx':
            print(f'wrote {export_onnx(model.cpu().eval(), config, outputs[0])}')
            return
        with tempfile.TemporaryDirectory() as tmp:  # the ONNX step of the IR is not an output: never beside it
            xml = export_openvino(export_onnx(model.cpu().eval(), config, os.path.join(tmp, 'model.onnx')), outputs[0],
                                  config)
        print(f'wrote {xml} and {outputs[1]}')
        if args.int8:
            from timm_ml.deploy.int8 import export_int8
            export_int8(xml, outputs[2], run, args.calibration_size, args.benchmark_seconds)
        return
    model.to(device)
    if args.channels_last:
        model.to(memory_format=torch.channels_last)
    root, paths, listing = list_inputs(args.input, config)
    check_outputs_are_not_inputs([args.output], [listing], '--output')
    check_output_is_not_an_image(args.output, root, paths)
    check_writable(args.output, '--output', kinds=('predictions',))  # only an earlier predictions file is replaced
    unknown = sorted(set(args.column_names) - set(group_names(schema)))
    if unknown:
        parser.error(f'--column-names {unknown}: not groups of this model (its groups: '
                     f'{group_names(schema) or "none, it has no exclusive groups"})')
    scores, errors = predict(model, run, root, paths, args, device)
    if args.threshold is None and config.get('thresholds') is not None:
        _logger.info('Using the per-class thresholds saved in the checkpoint.')
    thresholds = thresholds_for(schema, config.get('thresholds'), args.threshold)
    fmt = args.format or {'.json': 'json', '.jsonl': 'jsonl'}.get(os.path.splitext(args.output)[1].lower(), 'csv')
    if fmt == 'csv':
        write_predictions_csv(args.output, paths, scores, schema, thresholds, args.topk, args.column_names, errors)
    else:
        write_predictions_json(args.output, paths, scores, schema, thresholds, args.topk, errors, lines=fmt == 'jsonl')
    if errors:
        _logger.warning(f'{len(errors)} unreadable images marked in the "error" column (--bad-images skip), first: '
                        f'{paths[min(errors)]}: {errors[min(errors)]}')
    print(f'wrote {len(paths) - len(errors)} predictions to {args.output}'
          + (f' ({len(errors)} unreadable images marked)' if errors else ''))


if __name__ == '__main__':
    run_cli(main)
