""" One factory for every label format: an explicit `--label-format`, or `auto`, which recognises each published layout
by its files (never by trying one reader after another) and says what it chose."""
import logging
import os
from typing import Optional, Sequence, Tuple

from .reader_attributes import is_multi_hot, read_attribute_csv, read_multi_hot_csv
from .reader_coco import coco_annotation_file, read_coco
from .reader_csv import find_labels_column, pick_path_column, read_csv_rows, read_label_list_csv
from .reader_datumaro import datumaro_annotation_file, read_datumaro
from .reader_openimages import openimages_label_files, read_openimages
from .reader_otx import read_otx
from .reader_tsv import read_tsv
from .reader_voc import read_voc, voc_split_file
from .readers import (ATTRIBUTE_SEP, LABEL_EXTENSIONS, LabelFileError, LabelSet, groups_from_class_names, open_text)

_logger = logging.getLogger(__name__)

LABEL_FORMATS = ('auto', 'otx', 'csv', 'attributes', 'multihot', 'tsv', 'coco', 'voc', 'openimages', 'datumaro')
FILE_FORMATS = ('otx', 'csv', 'attributes', 'multihot', 'tsv', 'coco', 'datumaro')


def resolve_label_file(root: str, split: str) -> str:
    """timm-style split resolution: `<root>/<split>.{json,csv,tsv}`, or `split` itself when it is a file."""
    if os.path.isfile(split):
        return split
    if os.path.isfile(root) and os.path.splitext(root)[1].lower() in LABEL_EXTENSIONS and not split:
        return root
    for ext in LABEL_EXTENSIONS:
        candidate = os.path.join(root, split + ext)
        if os.path.isfile(candidate):
            return candidate
    raise FileNotFoundError(
        f'No labels for split {split!r} in {root!r}: looked for {split}.json / .csv / .tsv, '
        f'annotations/instances_{split}.json (COCO), annotations/{split}.json (Datumaro), ImageSets/Main/{split}.txt '
        f'(VOC) and {split}-annotations-human-imagelabels*.csv (OpenImages)')


def _json_kind(path: str) -> str:
    """otx, coco or datumaro from the first 64 kB of a JSON label file."""
    with open_text(path) as f:
        head = f.read(1 << 16)
    if '"items"' in head:
        return 'datumaro'
    if '"classes"' in head:
        return 'otx'
    if '"licenses"' in head or '"file_name"' in head or '"annotations"' in head:
        return 'coco'
    return 'otx'


def _csv_kind(path: str, path_column=None, labels_column=None) -> str:
    header, rows = read_csv_rows(path)
    path_col = pick_path_column(path, header, path_column)
    if labels_column is not None and labels_column not in header:
        raise LabelFileError(f'{path}: --labels-column {labels_column!r} not in the columns {header}')
    if find_labels_column(header, path_col, labels_column) is not None:
        return 'csv'
    return 'multihot' if is_multi_hot(header, path_col, rows) else 'attributes'


def detect_label_format(root: str, split: str, path_column=None, labels_column=None) -> Tuple[str, Optional[str], str]:
    """(format, label file or None for folder layouts, why) of a split under `root`."""
    if split and os.path.isfile(split):
        path = split
    else:
        candidates = [('coco', coco_annotation_file(root, split), 'annotations/instances_<split>.json'),
                      ('datumaro', datumaro_annotation_file(root, split), 'annotations/<split>.json'),
                      ('voc', voc_split_file(root, split), 'ImageSets/Main/<split>.txt')]
        for fmt, candidate, why in candidates:
            if os.path.isfile(candidate) and (fmt != 'datumaro' or _json_kind(candidate) == 'datumaro'):
                return fmt, (candidate if fmt != 'voc' else None), f'found {why}'
        if openimages_label_files(root, split):
            return 'openimages', None, 'found <split>-annotations-human-imagelabels*.csv'
        path = resolve_label_file(root, split)
    ext = os.path.splitext(path)[1].lower()
    if ext == '.json':
        kind = _json_kind(path)
        return kind, path, f'{os.path.basename(path)} holds {kind} keys'
    if ext in ('.tsv', '.txt'):
        return 'tsv', path, 'tab-separated file'
    if ext == '.csv':
        kind = _csv_kind(path, path_column, labels_column)
        return kind, path, {'csv': 'a label-list column', 'multihot': 'one 0 / 1 column per class',
                            'attributes': 'no label-list column: one column per attribute'}[kind]
    raise LabelFileError(f'{path}: unsupported label file extension {ext!r}, expected one of {LABEL_EXTENSIONS}')


def _file_for(fmt: str, root: str, split: str) -> str:
    if split and os.path.isfile(split):
        return split
    if fmt == 'coco':
        return coco_annotation_file(root, split)
    if fmt == 'datumaro':
        return datumaro_annotation_file(root, split)
    return resolve_label_file(root, split)


def _resolve_image_root(label_set: LabelSet, image_dir: Optional[str]) -> LabelSet:
    """--image-dir, else an `images/` folder beside the label file when the paths resolve there and not beside it."""
    if image_dir:
        label_set.root = image_dir
        return label_set
    sample = label_set.paths[:20]
    if not sample or any(os.path.exists(os.path.join(label_set.root, p)) for p in sample):
        return label_set
    images = os.path.join(label_set.root, 'images')
    if all(os.path.exists(os.path.join(images, p)) for p in sample):
        _logger.info(f'{label_set.source}: image paths resolve under {images}, not beside the label file: using it '
                     '(--image-dir sets the image folder explicitly)')
        label_set.root = images
    return label_set


def read_labels(
        root: str,
        split: str,
        label_format: str = 'auto',
        classes: Optional[Sequence[str]] = None,
        attributes=None,
        label_delimiter: Optional[str] = None,
        path_column: Optional[str] = None,
        labels_column: Optional[str] = None,
        unknown_values: Sequence[str] = (),
        image_dir: Optional[str] = None,
        on_bad: str = 'error',
        log: bool = True,
) -> LabelSet:
    """ Read one split in any supported layout.

    Args:
        root: The dataset root as distributed (or a folder holding <split>.{json,csv,tsv}).
        split: Split name, or a label file path.
        label_format: One of LABEL_FORMATS; 'auto' recognises the layout and logs its choice.
        classes / attributes: Class order / attribute groups to enforce (training split, class map, checkpoint).
        label_delimiter, path_column, labels_column: CSV / TSV options. unknown_values: Extra "unknown" spellings.
        image_dir: Folder the image paths are relative to (default: beside the label file, or its images/ folder).
        on_bad: 'error' raises LabelFileError naming file and row; 'skip' drops the row, counted.
    """
    if label_format not in LABEL_FORMATS:
        raise ValueError(f'--label-format {label_format!r}: choose one of {LABEL_FORMATS}')
    try:
        return _read_labels(root, split, label_format, classes, attributes, label_delimiter, path_column,
                            labels_column, unknown_values, image_dir, on_bad, log)
    except UnicodeDecodeError as e:
        raise LabelFileError(f'{split if os.path.isfile(split) else root}: not UTF-8 text '
                             f'(byte {e.start}: {e.reason}); save the file as UTF-8') from e


def _read_labels(root, split, label_format, classes, attributes, label_delimiter, path_column, labels_column,
                 unknown_values, image_dir, on_bad, log) -> LabelSet:
    detected = label_format == 'auto'
    why = 'given with --label-format'
    if detected:
        label_format, path, why = detect_label_format(root, split, path_column, labels_column)
    else:
        path = _file_for(label_format, root, split) if label_format in FILE_FORMATS else None
    if path is not None and not os.path.isfile(path):
        raise FileNotFoundError(f'{label_format} labels for split {split!r} not found: {path}')
    if attributes is None and classes is not None and label_format in ('attributes', 'datumaro') and \
            all(ATTRIBUTE_SEP in c for c in classes):
        attributes = groups_from_class_names(classes)
    if label_format == 'otx':
        label_set = read_otx(path, classes, on_bad)
    elif label_format == 'csv':
        label_set = read_label_list_csv(path, classes, on_bad, label_delimiter, path_column, labels_column,
                                        unknown_values)
    elif label_format == 'attributes':
        label_set = read_attribute_csv(path, attributes, on_bad, path_column, unknown_values,
                                       check_label_lists=detected)
    elif label_format == 'multihot':
        label_set = read_multi_hot_csv(path, classes, on_bad, path_column, unknown_values)
    elif label_format == 'tsv':
        label_set = read_tsv(path, classes, on_bad, label_delimiter)
    elif label_format == 'coco':
        split_name = os.path.basename(path)[len('instances_'):-len('.json')] if path.endswith('.json') else split
        label_set = read_coco(path, classes, on_bad, image_root=os.path.join(os.path.dirname(
            os.path.dirname(os.path.abspath(path))), split_name))
    elif label_format == 'voc':
        label_set = read_voc(root, split, classes, on_bad)
    elif label_format == 'openimages':
        label_set = read_openimages(root, split, classes, on_bad)
    else:
        label_set = read_datumaro(path, os.path.splitext(os.path.basename(path))[0], classes, attributes, on_bad)
    label_set.format = label_format
    if not len(label_set):
        raise LabelFileError(f'{label_set.source}: no images' + (
            f' ({len(label_set.skipped)} rows skipped)' if label_set.skipped else ''))
    label_set = _resolve_image_root(label_set, image_dir)
    if log:
        _logger.info(f'{label_set.source}: label format {label_format} ({why}); {label_set.num_classes} classes, first '
                     f'{label_set.classes[:5]}')
    return label_set


def read_label_file(path: str, classes=None, attributes=None, label_delimiter=None, path_column=None,
                    labels_column=None, on_bad: str = 'error', label_format: Optional[str] = 'auto',
                    unknown_values: Optional[Sequence[str]] = ()) -> LabelSet:
    """One label file (any file format), image paths relative to its folder."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f'Label file not found: {path}')
    return read_labels(os.path.dirname(path), path, label_format or 'auto', classes, attributes, label_delimiter,
                       path_column, labels_column, unknown_values or (), on_bad=on_bad, log=False)
