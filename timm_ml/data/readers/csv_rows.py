""" CSV rows shared by the CSV readers (label lists, attributes, one-hot, styles.csv): header, path column, row
prelude."""
import csv
import os
import re
from typing import Optional, Sequence

from .reader import LABEL_LIST_COLUMNS, PATH_COLUMNS, LabelFileError, is_unknown, normalize_path, open_text
from ..targets import NEGATIVE, POSITIVE

DELIMITER_CANDIDATES = (',', ';', '|', ' ')
POSITIVE_CELLS = {'1', '1.0', 'true'}
NEGATIVE_CELLS = {'0', '0.0', 'false'}
UNKNOWN_CELLS = {'-1', '-1.0'}
MULTI_HOT_VALUES = POSITIVE_CELLS | NEGATIVE_CELLS | UNKNOWN_CELLS
# a one-hot file with a few typing errors is still a one-hot file: its bad cells are named, not read as attributes
MULTI_HOT_TYPOS = (2, 0.02)  # at most max(2 cells, 2% of the known cells)

_rows_cache = {}


def read_csv_rows(path: str):
    """(header, rows) of a CSV label file, header cells stripped (a byte-order mark included); parsed once when a file
    is recognised and then read."""
    stat = os.stat(path)
    key = (os.path.abspath(path), stat.st_mtime, stat.st_size)
    if key not in _rows_cache:
        try:
            with open_text(path, newline='') as f:
                reader = csv.reader(f)
                try:
                    header = [h.strip() for h in next(reader)]
                except StopIteration:
                    raise LabelFileError(f'{path}: empty file')
                rows, line = [], reader.line_num
                for cells in reader:
                    if reader.line_num > line + 1 and any('\n' in c or '\r' in c for c in cells):
                        raise LabelFileError(
                            f'{path}: line {line + 1}: a quoted field runs over lines {line + 1}-{reader.line_num} '
                            '(an unbalanced " quote would swallow every row after it); close or remove the quote')
                    rows.append(cells)
                    line = reader.line_num
        except UnicodeDecodeError as e:
            raise LabelFileError(f'{path}: not UTF-8 text (byte {e.start}: {e.reason}); save the file as UTF-8') from e
        except csv.Error as e:
            raise LabelFileError(f'{path}: not a readable CSV file ({e})') from e
        if len(header) > 1 and header[-1] == '' and all(len(r) < len(header) or not r[-1].strip() for r in rows):
            header = header[:-1]  # a trailing comma on every line (NIH's Data_Entry_2017.csv): no column
            rows = [r[:-1] if len(r) == len(header) + 1 else r for r in rows]
        if len(set(header)) != len(header):
            raise LabelFileError(f'{path}: row 1: duplicate column names in header {header}')
        if len(header) > 1 and '' in header:
            raise LabelFileError(
                f'{path}: row 1: column {header.index("") + 1} has no name (header {header}); an unnamed first column '
                'is usually a pandas index written by DataFrame.to_csv: save with index=False, or name the column')
        _rows_cache.clear()
        _rows_cache[key] = (header, rows)
    return _rows_cache[key]


def image_rows(rows, header, path_col: int, policy, seen):
    """(row number, cells, normalised path) of the well-formed rows; wrong field counts, empty paths and paths already
    in `seen` (path -> row, filled by the caller as it accepts rows) go to the row policy."""
    for row, cells in enumerate(rows, start=2):
        if not cells:
            continue
        if len(cells) != len(header):
            policy.bad(row, f'expected {len(header)} fields, got {len(cells)}')
            continue
        path = normalize_path(cells[path_col]) if cells[path_col].strip() else ''
        if not path:
            policy.bad(row, 'empty image path')
        elif path in seen:
            policy.bad(row, f'duplicate image path {path!r} (first at row {seen[path]})')
        else:
            yield row, cells, path


def pick_path_column(path: str, header: Sequence[str], path_column: Optional[str] = None) -> int:
    if path_column:
        if path_column not in header:
            raise LabelFileError(f'{path}: --path-column {path_column!r} not in header {list(header)}')
        return header.index(path_column)
    for i, name in enumerate(header):
        if name.lower() in PATH_COLUMNS:
            return i
    return 0


def find_labels_column(header: Sequence[str], path_col: int, labels_column: Optional[str] = None) -> Optional[int]:
    if labels_column is not None:
        return header.index(labels_column) if labels_column in header else None
    for i, name in enumerate(header):
        if i != path_col and name.lower() in LABEL_LIST_COLUMNS:
            return i
    return None


def known_cells(rows, header, col: int, unknown_values=()):
    return [r[col].strip() for r in rows if len(r) == len(header) and not is_unknown(r[col], unknown_values)]


# column-name words that say "about the image or the patient, not a label" (demographics, ids, acquisition, dates)
METADATA_WORDS = {'id', 'uid', 'sex', 'gender', 'age', 'view', 'position', 'date', 'patient', 'study', 'subject',
                  'width', 'height', 'spacing', 'follow', 'frontal', 'lateral', 'ap', 'pa', 'index', 'url', 'split',
                  'fold', 'dicom', 'series', 'scanner', 'site', 'bmi', 'race', 'ethnicity', 'filename', 'path'}
IDENTIFIER_WORDS = {'id', 'uid', 'date', 'patient', 'study', 'subject', 'index', 'url', 'split', 'fold', 'dicom', 'series',
                    'filename', 'path'}  # never a label; demographics and views may be attributes (gender, view)
_DATE = re.compile(r'^\d{4}[-/]\d{1,2}[-/]\d{1,2}|^\d{1,2}[-/]\d{1,2}[-/]\d{2,4}')


def metadata_reason(name: str, cells, name_words=METADATA_WORDS) -> Optional[str]:
    """Why a column looks like metadata, not a label (None: it may be one): its name (one of name_words: ids, paths,
    demographics, acquisition, dates), or its values (numbers with many distinct values, dates, free text with many
    distinct values)."""
    words = {w for w in re.split(r'[^a-z0-9]+', name.lower()) if w}
    if words & name_words:
        return f'its name ({name!r})'
    known = [c.strip() for c in cells if c.strip()]
    if not known:
        return None
    distinct = len(set(known))
    numbers = sum(_is_number(c) for c in known)
    if numbers > 0.9 * len(known) and distinct > 20:
        return f'{distinct} distinct numbers'
    if sum(bool(_DATE.match(c)) for c in known) > 0.9 * len(known):
        return 'dates'
    if len(known) >= 20 and distinct > 0.5 * len(known) and numbers < 0.5 * len(known):
        return f'free text ({distinct} distinct values in {len(known)} rows)'
    return None


def _is_number(cell: str) -> bool:
    try:
        float(cell)
        return True
    except ValueError:
        return False


def column_cells(rows, header, col: int):
    return [r[col] for r in rows if len(r) == len(header)]


def value_coded(cells, value_map, unknown_values=()) -> bool:
    """A column whose cells are the values of `value_map` (1 / 0 / -1 / blank ...), but for a typing error's share."""
    fitting = sum(value_map.knows(c) or is_unknown(c, unknown_values) for c in cells)
    decided = sum(value_map.read(c) in (POSITIVE, NEGATIVE) for c in cells)
    return decided > 0 and len(cells) - fitting <= max(MULTI_HOT_TYPOS[0], MULTI_HOT_TYPOS[1] * len(cells))


def one_hot_columns(header, path_col: int, rows, value_map, unknown_values=()):
    """ The class columns of a one-hot file and its metadata columns: ([class column], {metadata column: why}), or
    None when a column is neither (an attribute or label file, not one-hot)."""
    coded, metadata = [], {}
    for c in range(len(header)):
        if c == path_col:
            continue
        cells = column_cells(rows, header, c)
        if header[c].lower() in LABEL_LIST_COLUMNS:
            return None  # a label-list file
        if value_coded(cells, value_map, unknown_values) and not (  # a 0 / 1 coded sex or view is still metadata
                {w for w in re.split(r'[^a-z0-9]+', header[c].lower()) if w} & METADATA_WORDS):
            coded.append(c)
            continue
        reason = metadata_reason(header[c], cells)
        if reason is None:
            return None
        metadata[c] = reason
    return (coded, metadata) if coded else None


def holds_separators(cells) -> int:
    """How many cells hold one of the label-list separators , ; |"""
    return sum(any(d in c for d in DELIMITER_CANDIDATES[:3]) for c in cells)
