""" The label reader interface and the row handling every reader shares.

A reader is one file (`reader_<format>.py`) holding one `LabelReader` subclass registered with `register_label_reader`:
- `locate(root, split)`: where its labels of `split` live in a dataset root as distributed (None: not there);
- `recognise(source, options)`: why it reads a given label file or folder (None: it does not), checked on the file's structure,
  never on substrings;
- `read(source, split, options)`: the `LabelSet`.
"""
import json
import logging
import math
import os
import posixpath
from dataclasses import dataclass, replace
from typing import Dict, List, Optional, Sequence, Tuple

from timm_ml.schema import LabelSchema
from timm_ml.utils.outside import OutsideValueError

from ..label_set import LabelSet
from ..targets import NEGATIVE, SparseTargetsBuilder

_logger = logging.getLogger(__name__)

PATH_COLUMNS = ('path', 'image', 'image_path', 'filename', 'file', 'img', 'image_name', 'image_id')
LABEL_LIST_COLUMNS = ('labels', 'tags', 'label_list', 'label_names', 'classes', 'label', 'categories')
UNKNOWN_VALUES = ('#N/A', '', 'nan', 'NaN')  # only these (plus --unknown-values) mean "not annotated"
CLASS_LIST_FILES = ('label.txt', 'labels.txt', 'classes.txt')
LABEL_EXTENSIONS = ('.json', '.csv', '.tsv')
COMMON_SPLIT_ALIASES = {'validation': ('val', 'valid'), 'val': ('validation', 'valid')}


class LabelFileError(OutsideValueError):
    """A label file that cannot be read as asked; the message names the file and row."""


@dataclass
class LabelOptions:
    """ How to read labels; the same options reach every reader.

    Args:
        classes: Class order to enforce (training split, --class-map, checkpoint); None: the reader's own.
        schema: Exclusive groups to enforce (from the training split or checkpoint).
        label_delimiter: Separator inside label-list cells (None: read off the cells).
        path_column / labels_column: CSV column names (None: recognised names).
        attribute_columns: Attribute columns to read (attribute CSV, styles.csv); None: the reader's default.
        tree_columns: styles.csv columns forming a label tree, top level first (--tree-columns).
        unknown_values: Extra cell spellings meaning "not annotated".
        image_dir: Folder the image paths are relative to (None: beside the label file, or its images/ folder).
        on_bad: 'error' (LabelFileError naming file and row) or 'skip' (dropped, counted, logged).
        split_seed / split_fractions: The seeded split of a layout without split files (train, val, test shares).
        allow_outside_root: Image paths may be absolute or climb above the image root (--allow-outside-root).
        value_map / uncertain: What value-coded cells mean (--value-map '1=pos,0=neg,-1=unk') and how uncertain ones
            are read (--uncertain ignore | positive | negative); None: the format's declared meanings.
        top_classes: Keep the N most frequent names as the classes (Visual Genome; None: the format's default).
    """
    classes: Optional[List[str]] = None
    schema: Optional[LabelSchema] = None
    label_delimiter: Optional[str] = None
    path_column: Optional[str] = None
    labels_column: Optional[str] = None
    attribute_columns: Optional[List[str]] = None
    tree_columns: Optional[List[str]] = None
    unknown_values: Tuple[str, ...] = ()
    image_dir: Optional[str] = None
    on_bad: str = 'error'
    split_seed: int = 0
    split_fractions: Tuple[float, float, float] = (0.7, 0.15, 0.15)
    allow_outside_root: bool = False
    value_map: Optional[str] = None
    uncertain: Optional[str] = None
    top_classes: Optional[int] = None

    def __post_init__(self):
        if self.on_bad not in ('error', 'skip'):
            raise ValueError(f"on_bad must be 'error' or 'skip', got {self.on_bad!r}")
        self.unknown_values = tuple(self.unknown_values or ())
        if self.schema is not None and self.classes is None:
            self.classes = list(self.schema.classes)

    def with_classes(self, schema: LabelSchema) -> 'LabelOptions':
        """These options, enforcing the classes and groups of `schema` (val after train)."""
        return replace(self, classes=list(schema.classes), schema=schema)


class LabelReader:
    """ One label format. Subclasses set `name` (the --label-format value) and `layout` (one line for messages and the
    README) and implement read(); locate() / recognise() make the format recognisable with --label-format auto.
    `meanings` declares what the format's values mean (shown in the data card)."""
    name = ''
    meanings = ''
    specific = False  # recognises a published layout by its own file names: preferred over a generic reader
    fallback = False  # reads the folders alone (no label file): any label file that fits is preferred
    layout = ''
    split_aliases: Dict[str, Sequence[str]] = {}

    def split_names(self, split: str) -> List[str]:
        """`split` and the names the published layouts give it (e.g. 'train2017' for 'train'; timm's default
        'validation' finds 'val' and back)."""
        names = [split] + list(self.split_aliases.get(split, ())) + list(COMMON_SPLIT_ALIASES.get(split, ()))
        return list(dict.fromkeys(names))

    def locate(self, root: str, split: str) -> Optional[str]:
        return None

    def locate_whole(self, root: str) -> Optional[str]:
        """A label file holding the whole set, to be split by seed when the root has no split files."""
        return None

    def recognise(self, source: str, options: Optional[LabelOptions] = None) -> Optional[str]:
        return None

    def read(self, source: str, split: str, options: LabelOptions) -> LabelSet:
        raise NotImplementedError


class RowPolicy:
    """Raises on a bad row, or counts and logs it when the user asked for 'skip'."""

    def __init__(self, source: str, on_bad: str):
        self.source = source
        self.on_bad = on_bad
        self.skipped: List[str] = []

    def bad(self, row, what: str):
        msg = f'{self.source}: row {row}: {what}'
        if self.on_bad == 'error':
            raise LabelFileError(f'{msg} (--bad-images skip skips such rows and counts them)')
        self.skipped.append(msg)

    def finish(self):
        if self.skipped:
            _logger.warning(f'{self.source}: skipped {len(self.skipped)} bad rows (--bad-images skip), first: '
                            f'{self.skipped[0]}')


class LabelListRows:
    """ Rows of (image path, label names) for the label-list formats (JSON, label-list CSV, TSV, COCO): checks paths
    and labels against the policy, grows or enforces the class list, and fills the one SparseTargetsBuilder.

    Args:
        source: The label file (for messages). classes: Fixed class order, or None to collect them.
        on_bad: Row policy. sort_classes: Sort collected classes by name (otherwise in order of appearance).
    """

    def __init__(self, source: str, classes: Optional[Sequence[str]], on_bad: str, sort_classes: bool = True):
        self.source = source
        self.policy = RowPolicy(source, on_bad)
        self.sort_classes = sort_classes
        self.fixed_classes = classes is not None
        self.classes = list(classes) if classes is not None else []
        self.index: Dict[str, int] = {c: i for i, c in enumerate(self.classes)}
        self.paths: List[str] = []
        self.row_of: Dict[str, object] = {}  # path -> label-file row, for duplicate reports
        self.builder = SparseTargetsBuilder(fill=NEGATIVE)

    def add(self, row, path, labels: Sequence, unannotated: bool = False):
        if not isinstance(path, str) or not path.strip():
            return self.policy.bad(row, 'empty image path')
        path = normalize_path(path)
        if path in self.row_of:
            return self.policy.bad(row, f'duplicate image path {path!r} (first at row {self.row_of[path]})')
        indices = []
        for label in labels:
            if not isinstance(label, str):
                return self.policy.bad(row, f'label {label!r} is not a string')
            label = label.strip()
            if not label:
                continue
            if label in UNKNOWN_VALUES and label not in self.index:
                return self.policy.bad(row, f'label {label!r} is spelled like an unannotated cell (#N/A, empty, NaN): '
                                            'rename the class')
            idx = self.index.get(label)
            if idx is None:
                if self.fixed_classes:
                    return self.policy.bad(row, f'label {label!r} is not in the class list')
                idx = self.index[label] = len(self.classes)
                self.classes.append(label)
            indices.append(idx)
        self.row_of[path] = row
        self.paths.append(path)
        if unannotated:
            self.builder.add_unknown_row()
        else:
            self.builder.add(indices)

    def build(self, root: str, fmt: str, split: str = '') -> LabelSet:
        self.policy.finish()
        classes, remap = self.classes, None
        if not self.fixed_classes and self.sort_classes:
            classes = sorted(self.classes)
            order = {c: i for i, c in enumerate(classes)}
            remap = [order[c] for c in self.classes]
        self.builder.num_classes = len(classes)
        return LabelSet(LabelSchema(classes), self.paths, self.builder.build(remap), root, self.policy.skipped,
                        self.source, fmt, split)


def is_unknown(value, extra: Sequence[str] = ()) -> bool:
    """A cell that means "not annotated": #N/A, empty, NaN, or one of the user's --unknown-values."""
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    value = str(value).strip()
    return value in UNKNOWN_VALUES or value in extra


def normalize_path(path: str) -> str:
    """One spelling per image: './x.png', 'x.png' and 'a/../x.png' are the same file (separators as '/')."""
    return posixpath.normpath(path.strip().replace('\\', '/'))


def open_text(path: str, **kwargs):
    """Open a text label file: UTF-8 with or without a byte-order mark, any newline convention."""
    return open(path, encoding='utf-8-sig', **kwargs)


_json_cache: Dict[Tuple[str, float, int], object] = {}


def load_json(path: str):
    """A JSON label file (parsed once even when recognised, then read); invalid JSON is a LabelFileError naming the file
    and position."""
    stat = os.stat(path)
    key = (os.path.abspath(path), stat.st_mtime, stat.st_size)
    if key not in _json_cache:
        try:
            with open_text(path) as f:
                data = json.load(f)
        except json.JSONDecodeError as e:
            raise LabelFileError(f'{path}: not valid JSON ({e})') from e
        except UnicodeDecodeError as e:
            raise LabelFileError(f'{path}: not UTF-8 text (byte {e.start}: {e.reason}); save the file as UTF-8') \
                from e
        _json_cache.clear()  # keep one file: a COCO file can be large
        _json_cache[key] = data
    return _json_cache[key]


def read_class_list(path: str) -> List[str]:
    """Class names, one per line (timm's --class-map text format; a trailing tab-separated index is allowed)."""
    classes = []
    with open_text(path) as f:
        for line in f:
            line = line.rstrip('\n').rstrip('\r')
            if not line.strip():
                continue
            name = line.split('\t')[0] if '\t' in line else line
            classes.append(name.strip())
    if len(set(classes)) != len(classes):
        dup = sorted({c for c in classes if classes.count(c) > 1})
        raise LabelFileError(f'{path}: duplicate class names {dup[:5]}')
    return classes


def find_class_list(folder: str) -> Optional[str]:
    for name in CLASS_LIST_FILES:
        candidate = os.path.join(folder, name)
        if os.path.isfile(candidate):
            return candidate
    return None


def split_file(root: str, split: str, extensions: Sequence[str]) -> Optional[str]:
    """`<root>/<split><ext>` for the first split name (the split, then its aliases) and extension that exists."""
    for name in list(dict.fromkeys([split] + list(COMMON_SPLIT_ALIASES.get(split, ())))):
        for ext in extensions:
            candidate = os.path.join(root, name + ext)
            if os.path.isfile(candidate):
                return candidate
    return None


def has_extension(path: str, *extensions: str) -> bool:
    return os.path.isfile(path) and os.path.splitext(path)[1].lower() in extensions
