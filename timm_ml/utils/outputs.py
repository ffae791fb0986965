""" What an output may replace: never an input of the same command, never a file the tools did not write."""
import csv
import json
import os
import re
from typing import Iterable, Optional, Sequence


class OutputError(ValueError):
    """An output path that would destroy an input or a file that is not ours."""


def check_outputs_are_not_inputs(outputs: Iterable[Optional[str]], inputs: Iterable[Optional[str]], flag: str):
    """An output path that names an input file (a label file, a checkpoint) would overwrite it: refuse."""
    real_inputs = {os.path.realpath(p): p for p in inputs if p and os.path.exists(p)}
    for out in outputs:
        if out and os.path.realpath(out) in real_inputs:
            raise OutputError(f'{flag} {out}: that is an input ({real_inputs[os.path.realpath(out)]}); writing it '
                                 'would destroy it. Name another file.')


_RESULTS_JSON = re.compile(r'^\s*(\[\s*\]|\[?\s*\{\s*"model"\s*:)')
# the mark every binary or folder output carries (PNG text chunk, ONNX metadata key, OpenVINO rt_info, page meta tag,
# config.json / _info.json key): what lets a later run know it wrote the file
GENERATOR = 'timm_ml'
PNG_METADATA = {'Software': GENERATOR}
PAGE_GENERATOR_TAG = f'<meta name="generator" content="{GENERATOR}">'
_SCAN_BYTES = 64 << 20


def _holds(path: str, needle: bytes, limit: int = _SCAN_BYTES) -> bool:
    try:
        with open(path, 'rb') as f:
            return needle in f.read(limit)
    except OSError:
        return False


def _json_key(path: str, key: str) -> bool:
    try:
        with open(path, encoding='utf-8') as f:
            data = json.load(f)
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and key in data


def own_folder_kind(path: str) -> Optional[str]:
    """ What an existing folder is: an error-analysis page (`report`), a model folder (`hf-folder`), a shard folder
    of to_shards (`shards`) or a feature cache (`features`), each recognised by the mark it carries; None otherwise."""
    if os.path.isfile(os.path.join(path, 'index.html')) and \
            _holds(os.path.join(path, 'index.html'), PAGE_GENERATOR_TAG.encode(), 1 << 16):
        return 'report'
    if _json_key(os.path.join(path, 'config.json'), GENERATOR):
        return 'hf-folder'
    for name in ('_info.json', '_progress.json'):
        info = os.path.join(path, name)
        if os.path.isfile(info) and (_holds(info, f'"writer": "{GENERATOR}"'.encode()) or
                                     _holds(info, b'"format": "timm_ml-wds-1"')):
            return 'shards'
    if _json_key(os.path.join(path, 'search.json'), 'writer') and \
            _holds(os.path.join(path, 'search.json'), f'"writer": "{GENERATOR}'.encode()):
        return 'search'
    if _json_key(os.path.join(path, 'features.json'), 'writer') and \
            _holds(os.path.join(path, 'features.json'), f'"writer": "{GENERATOR}'.encode()):
        return 'features'
    return None


def own_output_kind(path: str) -> Optional[str]:
    """ What an existing file (or folder) is, from its first bytes or its mark: validate.py's `results` (json / csv,
    failed runs included), `per-class` tables and charts, `thresholds`; infer.py's `predictions` (csv / json / jsonl,
    whatever the extension); exports (`onnx`, `openvino` and its `openvino-weights`, `int8-comparison`); a `plot`; a
    folder of ours (own_folder_kind); None for anything else (a label file, a checkpoint, an image, a user's file).

    Args:
        path: The existing file or folder.
    """
    if os.path.isdir(path):
        return own_folder_kind(path)
    try:
        with open(path, 'rb') as f:
            head = f.read(1 << 16)
    except OSError:
        return None
    if head.startswith(b'\x89PNG'):
        table = path[:-len('.png')] + '.csv' if path.endswith('_per_class.png') else None
        if table and os.path.isfile(table) and own_output_kind(table) == 'per-class':
            return 'per-class'
        return 'plot' if b'Software' in head and GENERATOR.encode() in head else None
    if path.endswith('.onnx'):
        return 'onnx' if _holds(path, b'\x12' + bytes([len(GENERATOR)]) + GENERATOR.encode()) else None
    if path.endswith('.xml'):
        return 'openvino' if b'<net ' in head and _holds(path, f'<{GENERATOR}'.encode()) else None
    if path.endswith('.bin'):
        return 'openvino-weights' if own_output_kind(path[:-4] + '.xml') == 'openvino' else None
    if head.startswith(b'PK') and _holds(path, b'ml_config'):
        return 'checkpoint'
    if path.endswith('.npy'):
        return 'thresholds' if own_output_kind(path[:-4] + '.csv') == 'thresholds' else None
    text = head.decode('utf-8', 'replace')
    if text.lstrip().startswith('{') and '"int8"' in text and '"calibration_split"' in text:
        return 'int8-comparison'
    first_line = text.split('\n', 1)[0].strip()
    if _RESULTS_JSON.match(text) and (text.strip() in ('[]', '') or ('"checkpoint"' in text and '"split"' in text)
                                      or '"error"' in text):
        return 'results'
    if text.lstrip().startswith('{"classes": ['):  # an OTX label file starts so too: predictions go on with thresholds
        return 'predictions' if _classes_then_thresholds(path) else None
    if first_line.startswith('{'):
        try:
            record = json.loads(first_line)
        except ValueError:
            record = None
        if isinstance(record, dict) and 'path' in record and ('scores' in record or 'error' in record):
            return 'predictions'  # JSON lines
        return None
    cells = next(csv.reader([first_line]), [])
    if cells[:1] == ['model'] and ({'checkpoint', 'split'} <= set(cells) or
                                   cells == ['model', 'error']):  # the columns validate.py writes, not a user's table
        return 'results'
    if cells[:3] == ['index', 'name', 'ap']:
        return 'per-class'
    if cells == ['index', 'class', 'threshold']:
        return 'thresholds'
    if cells == ['index', 'class', 'prior']:
        return 'prior'
    if cells[:2] == ['path', 'labels'] and len(cells) > 2 and re.fullmatch(r'top\d+', cells[2]):
        return 'predictions'
    return None


def _classes_then_thresholds(path: str) -> bool:
    """write_predictions_json's document: {"classes": [...], "thresholds": [...], "predictions": ...}."""
    with open(path, encoding='utf-8', errors='replace') as f:
        text = f.read(16 << 20).lstrip()
    try:
        _, end = json.JSONDecoder().raw_decode(text, len('{"classes": '))
    except ValueError:
        return False
    return text.startswith(', "thresholds": [', end)


def check_replaceable(outputs: Iterable[Optional[str]], flag: str, kinds: Sequence[str]):
    """ An output may replace an existing file only when that file is an earlier output of one of `kinds` (rerunning
    validate.py or infer.py into the same file); any other file (another split's labels, a checkpoint, predictions
    where results go, a user's table) is refused: the tools never destroy what they did not write."""
    for out in outputs:
        if out and os.path.isfile(out) and os.path.getsize(out):
            kind = own_output_kind(out)
            if kind not in kinds:
                what = f'it holds {kind} of ours' if kind else 'it is not a file of ours (a label file, a checkpoint ' \
                                                               'or a file of yours)'
                raise OutputError(f'{flag} {out}: that file exists and {what}; writing it would destroy it. Name a '
                                     'new file, or remove this one first.')
