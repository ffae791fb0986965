""" The Kaggle fashion-product root as distributed: `styles.csv` + `images/<id>.jpg`, read directly (no conversion).

styles.csv has 10 columns (id, gender, masterCategory, subCategory, articleType, baseColour, season, year, usage,
productDisplayName); rows whose productDisplayName holds commas are joined back (counted in the log). The attribute
columns default to the product task's gender / articleType / baseColour (`--attribute-columns` picks others);
`--tree-columns masterCategory subCategory articleType` reads the category tree instead. There are no split files:
the set is split by seed (`--split-seed`, `--split-fractions`). Rows without an image are bad rows (error, or a
counted skip with --bad-images skip).
"""
import logging
import os

from ..label_set import LabelSet
from .csv_rows import read_csv_rows
from .reader import LabelFileError, LabelOptions, LabelReader, RowPolicy
from .reader_attributes import read_attribute_rows, selected_columns

_logger = logging.getLogger(__name__)

STYLES_FILE = 'styles.csv'
STYLES_COLUMNS = ('id', 'gender', 'masterCategory', 'subCategory', 'articleType', 'baseColour', 'season', 'year',
                  'usage', 'productDisplayName')
DEFAULT_ATTRIBUTES = ('gender', 'articleType', 'baseColour')
PATH_COLUMN = 'image'


def styles_rows(path: str, policy: RowPolicy):
    """(header with an image column, rows): commas inside productDisplayName joined back, too few fields or no id to
    the row policy, image path images/<id>.jpg."""
    header, raw = read_csv_rows(path)
    if tuple(header[:len(STYLES_COLUMNS)]) != STYLES_COLUMNS:
        raise LabelFileError(f'{path}: row 1: expected the styles.csv columns {STYLES_COLUMNS}, got {header}')
    rows, repaired = [], 0
    for row, cells in enumerate(raw, start=2):
        if not cells:
            continue
        if len(cells) > len(STYLES_COLUMNS):
            cells = cells[:9] + [','.join(cells[9:])]
            repaired += 1
        if len(cells) < len(STYLES_COLUMNS):
            policy.bad(row, f'{len(cells)} fields, expected {len(STYLES_COLUMNS)}')
            continue
        if not cells[0].strip():
            policy.bad(row, 'empty id')
            continue
        rows.append([f'images/{cells[0].strip()}.jpg'] + cells)
    if repaired:
        _logger.info(f'{path}: {repaired} rows with commas inside productDisplayName joined back')
    return [PATH_COLUMN] + list(STYLES_COLUMNS), rows


class ProductsReader(LabelReader):
    name = 'products'
    meanings = "a cell's value = positive, the attribute's other values = negative, empty = unknown"
    layout = ('`styles.csv` + `images/<id>.jpg` (Kaggle fashion products): gender / articleType / baseColour, or '
              '`--tree-columns masterCategory subCategory articleType`; split by seed')

    def locate(self, root, split):
        return None

    def locate_whole(self, root):
        path = os.path.join(root, STYLES_FILE)
        return path if os.path.isfile(path) else None

    def recognise(self, source, options=None):
        if not source.endswith('.csv') or not os.path.isfile(source):
            return None
        header, _ = read_csv_rows(source)
        if tuple(header[:len(STYLES_COLUMNS)]) == STYLES_COLUMNS:
            return 'the fashion-product styles.csv columns'
        return None

    def read(self, source: str, split: str, options: LabelOptions) -> LabelSet:
        policy = RowPolicy(source, options.on_bad)
        header, rows = styles_rows(source, policy)
        folder = options.image_dir or os.path.dirname(source)
        kept = []
        for row, cells in enumerate(rows, start=2):
            if not os.path.isfile(os.path.join(folder, cells[0])):
                policy.bad(row, f'no image {cells[0]}')
                continue
            kept.append(cells)
        cols = selected_columns(source, header, 0, options, default_attributes=DEFAULT_ATTRIBUTES)
        label_set = read_attribute_rows(source, header, kept, 0, *cols, options, self.name, split)
        label_set.skipped = policy.skipped + label_set.skipped
        policy.finish()
        return label_set
