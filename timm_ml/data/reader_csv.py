""" Label-list CSV: a path column and a labels column holding several labels in one cell.

The separator inside the cells is `--label-delimiter` when given. Otherwise it is read off the cells and a choice that
could go more than one way is an error: a class list (--class-map, the training classes) decides which separator
splits every cell into known classes; without one, a single non-space separator (',', ';', '|') found in the cells is
used and spaces stay inside class names ("Ankle boot"); two separators, or spaces alone, must be named.
"""
import csv
import os
from typing import List, Optional, Sequence

from .readers import (LABEL_LIST_COLUMNS, PATH_COLUMNS, LabelFileError, LabelSet, _LabelListParser, is_unknown,
                      normalize_path, open_text)

DELIMITER_CANDIDATES = (',', ';', '|', ' ')


def read_csv_rows(path: str):
    """(header, rows) of a CSV label file, header cells stripped (a byte-order mark included)."""
    with open_text(path, newline='') as f:
        reader = csv.reader(f)
        try:
            header = [h.strip() for h in next(reader)]
        except StopIteration:
            raise LabelFileError(f'{path}: empty file')
        rows = list(reader)
    if len(set(header)) != len(header):
        raise LabelFileError(f'{path}: row 1: duplicate column names in header {header}')
    return header, rows


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


def choose_delimiter(cells: Sequence[str], classes: Optional[Sequence[str]], where: str) -> Optional[str]:
    """The separator inside label-list cells (None: one label per cell); ambiguity is an error."""
    found = [d for d in DELIMITER_CANDIDATES if any(d in c.strip() for c in cells)]
    if not found:
        return None
    if classes is not None:
        known = set(classes)

        def fits(d):
            return all(c.strip() in known or all(not t.strip() or t.strip() in known for t in c.split(d))
                       for c in cells)
        fitting = [d for d in found if fits(d)]
        if len(fitting) == 1 or (fitting and all(c.strip() in known for c in cells)):
            return fitting[0]
        if len(fitting) > 1:
            non_space = [d for d in fitting if d != ' ']
            if len(non_space) == 1:
                return non_space[0]
    non_space = [d for d in found if d != ' ']
    if len(non_space) == 1:
        return non_space[0]
    seen = ('spaces occur, which may separate labels or belong to class names' if found == [' '] else
            ' and '.join(repr(d) for d in found) + ' all occur')
    raise LabelFileError(
        f'{where}: label cells could be split more than one way ({seen}'
        + ('; none splits every cell into known classes' if classes is not None else '')
        + '). Name the separator with --label-delimiter (space: --label-delimiter " "), or give the class list '
          '(--class-map) so class names with spaces stay whole.')


def read_label_list_csv(path: str, classes=None, on_bad: str = 'error', label_delimiter=None, path_column=None,
                        labels_column=None, unknown_values: Sequence[str] = ()) -> LabelSet:
    """ Args:
        path: The CSV file. classes: Fixed class order (else the sorted labels found).
        on_bad: 'error' or 'skip'. label_delimiter: Separator inside label cells (default: read off the cells).
        path_column / labels_column: Column names (default: the first of PATH_COLUMNS / LABEL_LIST_COLUMNS).
        unknown_values: Extra cell spellings meaning "not annotated" (besides #N/A, empty, NaN).
    A '#N/A' labels cell marks an unannotated image (every class unknown); an empty one an image without positives.
    """
    header, rows = read_csv_rows(path)
    path_col = pick_path_column(path, header, path_column)
    label_col = find_labels_column(header, path_col, labels_column)
    if label_col is None:
        raise LabelFileError(f'{path}: no label-list column: columns are {header}; name it with --labels-column '
                             f'(recognised names: {", ".join(LABEL_LIST_COLUMNS)})')
    cells = [r[label_col] for r in rows if len(r) == len(header) and not is_unknown(r[label_col], unknown_values)]
    delimiter = label_delimiter or choose_delimiter(cells, classes, f'{path}: column {header[label_col]!r}')
    parser = _LabelListParser(path, classes, on_bad)
    known = set(classes) if classes is not None else ()
    for row, cells in enumerate(rows, start=2):
        if not cells:
            continue
        if len(cells) != len(header):
            parser.policy.bad(row, f'expected {len(header)} fields, got {len(cells)}')
            continue
        cell = cells[label_col]
        unknown = is_unknown(cell, unknown_values)
        whole = not delimiter or cell.strip() in known  # a known class name with the separator in it stays whole
        labels: List[str] = [] if unknown else ([cell] if whole else cell.split(delimiter))
        parser.add(row, cells[path_col], labels, unannotated=unknown and cell.strip() != '')
    return parser.build(os.path.dirname(path), path)
