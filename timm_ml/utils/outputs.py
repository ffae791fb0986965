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


def own_output_kind(path: str) -> Optional[str]:
    """ What an existing file is, from its first bytes: one of validate.py's `results` (json / csv, failed runs
    included) or `per-class` tables and charts, infer.py's `predictions` (csv / json / jsonl, whatever the extension),
    or None for anything else (a label file, a checkpoint, an image, a user's file).

    Args:
        path: The existing file.
    """
    try:
        with open(path, 'rb') as f:
            head = f.read(1 << 16)
    except OSError:
        return None
    if head.startswith(b'\x89PNG'):
        table = path[:-len('.png')] + '.csv' if path.endswith('_per_class.png') else None
        return 'per-class' if table and os.path.isfile(table) and own_output_kind(table) == 'per-class' else None
    text = head.decode('utf-8', 'replace')
    first_line = text.split('\n', 1)[0].strip()
    if _RESULTS_JSON.match(text):
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
    if cells[:1] == ['model'] and ('checkpoint' in cells or cells == ['model', 'error']):
        return 'results'
    if cells[:3] == ['index', 'name', 'ap']:
        return 'per-class'
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
