""" Label-list CSV: `<split>.csv` with a path column and a labels column holding several labels in one cell.

A cell holding a Python / JSON list, tuple or set of quoted names (`['cat', 'dog']`, as pandas writes a list column)
is read as those names; a cell in brackets that is not one is an error. Otherwise the separator inside the cells is
`--label-delimiter` when given, or is read off the cells, and a choice that could go more than one way is an error: a class list (--class-map, the training classes) decides which separator
splits every cell into known classes; without one, a single non-space separator (',', ';', '|') found in the cells is
used and spaces stay inside class names ("Ankle boot"); two separators, or spaces alone, must be named.
A '#N/A' labels cell marks an unannotated image (every class unknown); an empty one an image without positives.
"""
import ast
import os
import shlex
from typing import List, Optional, Sequence

from ..label_set import LabelSet
from .csv_rows import (DELIMITER_CANDIDATES, find_labels_column, holds_separators, known_cells, pick_path_column,
                       read_csv_rows)
from .reader import (LABEL_LIST_COLUMNS, LabelFileError, LabelListRows, LabelOptions, LabelReader, has_extension,
                     is_unknown, split_file)


LITERAL_BRACKETS = {'[': ']', '(': ')', '{': '}'}


def is_list_literal(cell: str) -> bool:
    """A Python / JSON list, tuple or set written into the cell (pandas to_csv of a list column: "['cat', 'dog']")."""
    cell = cell.strip()
    return len(cell) >= 2 and LITERAL_BRACKETS.get(cell[0]) == cell[-1]


def parse_list_literal(cell: str, where: str) -> List[str]:
    try:
        value = ast.literal_eval(cell.strip())
    except (ValueError, SyntaxError):
        value = None
    if not isinstance(value, (list, tuple, set, frozenset)) or not all(isinstance(v, str) for v in value):
        raise LabelFileError(f'{where}: {cell!r} looks like a list but is not a list of quoted class names '
                             "(['cat', 'dog'])")
    return sorted(v.strip() for v in value) if isinstance(value, (set, frozenset)) else [v.strip() for v in value]


def segment(cell: str, delimiter: str, known) -> Optional[List[str]]:
    """ Split `cell` at `delimiter` into known class names, a name being allowed to hold the delimiter itself ("Ankle
    boot Sandal" -> ["Ankle boot", "Sandal"] with a space). None when no split works; a cell that splits more than one
    way is an error naming it."""
    tokens = [t for t in cell.strip().split(delimiter)]
    n = len(tokens)
    ways = [0] * (n + 1)  # ways[i]: number of splits of tokens[i:]
    choice = [None] * (n + 1)
    ways[n] = 1
    for i in range(n - 1, -1, -1):
        if not tokens[i].strip():  # an empty piece (doubled or trailing separator)
            ways[i], choice[i] = ways[i + 1], i + 1
            continue
        for j in range(i + 1, n + 1):
            if ways[j] and delimiter.join(tokens[i:j]).strip() in known:
                if ways[i] == 0:
                    choice[i] = j
                ways[i] += ways[j]
    if ways[0] == 0:
        return None
    if ways[0] > 1:
        raise LabelFileError(f'label cell {cell!r} splits into known classes in {ways[0]} ways at {delimiter!r}; '
                             'quote the labels or use a separator that no class name contains (--label-delimiter)')
    labels, i = [], 0
    while i < n:
        j = choice[i]
        if tokens[i].strip():
            labels.append(delimiter.join(tokens[i:j]).strip())
        i = j
    return labels


def choose_delimiter(cells: Sequence[str], classes: Optional[Sequence[str]], where: str) -> Optional[str]:
    """The separator inside label-list cells (None: one label per cell); ambiguity is an error."""
    found = [d for d in DELIMITER_CANDIDATES if any(d in c.strip() for c in cells)]
    if not found:
        return None
    if classes is not None:
        known = set(classes)

        def fits(d):
            return all(c.strip() in known or segment(c, d, known) is not None for c in cells)
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
    advice = ('Name the separator with --label-delimiter (space: --label-delimiter " ")' if classes is not None else
              'Name the separator with --label-delimiter (space: --label-delimiter " "), or give the class list '
              '(--class-map) so class names with spaces stay whole')
    raise LabelFileError(
        f'{where}: label cells could be split more than one way ({seen}'
        + ('; with the class list no single separator splits every cell into known classes'
           if classes is not None else '') + f'). {advice}.')


def cell_labels(cell: str, delimiter: Optional[str], known, where: str) -> List[str]:
    """The labels of one label-list cell: a list literal's names, else split_cell."""
    return parse_list_literal(cell, where) if is_list_literal(cell) else split_cell(cell, delimiter, known)


def split_cell(cell: str, delimiter: Optional[str], known) -> List[str]:
    """The labels of one cell: whole when it is a known class or there is no separator; with a class list, split into
    known names (a name may hold the separator); without one, at every separator."""
    if not delimiter or cell.strip() in known:
        return [cell]
    if known:
        labels = segment(cell, delimiter, known)
        if labels is not None:
            return labels
    return cell.split(delimiter)


class LabelListCsvReader(LabelReader):
    name = 'csv'
    meanings = 'a listed label = positive, an unlisted one = negative, #N/A / empty / NaN cell = the row unknown'
    layout = ('`<split>.csv` with a path column and a `labels` / `tags` / `label_names` / `categories` column; '
              '`#N/A` cell = unannotated image, empty = no positives')

    def locate(self, root, split):
        return split_file(root, split, ('.csv',))

    def recognise(self, source, options=None):
        options = options or LabelOptions()
        if not has_extension(source, '.csv') or options.tree_columns or options.attribute_columns:
            return None  # attribute / tree columns: the attribute reader (with the label lists as tags)
        header, rows = read_csv_rows(source)
        path_col = pick_path_column(source, header, options.path_column)
        if options.labels_column is not None:
            if options.labels_column not in header:
                raise LabelFileError(f'{source}: --labels-column {options.labels_column!r} not in the columns {header}')
            return f'--labels-column {shlex.quote(options.labels_column)}'
        label_col = find_labels_column(header, path_col)
        if label_col is None:
            return None
        others = [h for i, h in enumerate(header) if i not in (path_col, label_col)]
        if others:
            cells = known_cells(rows, header, label_col, options.unknown_values)
            if not holds_separators(cells):
                return None  # e.g. an attribute named 'label' beside other attributes: the attribute reader decides
            raise LabelFileError(
                f'{source}: column {header[label_col]!r} holds label lists, but the file has other columns {others}: '
                f'pass --labels-column {shlex.quote(header[label_col])} to read the label lists (the other columns are '
                'then ignored), or --label-format attributes to read every column as one attribute')
        return f'a label-list column {header[label_col]!r}'

    def read(self, source: str, split: str, options: LabelOptions) -> LabelSet:
        header, rows = read_csv_rows(source)
        path_col = pick_path_column(source, header, options.path_column)
        label_col = find_labels_column(header, path_col, options.labels_column)
        if label_col is None:
            raise LabelFileError(f'{source}: no label-list column: columns are {header}; name it with --labels-column '
                                 f'(recognised names: {", ".join(LABEL_LIST_COLUMNS)})')
        cells = [c for c in known_cells(rows, header, label_col, options.unknown_values) if not is_list_literal(c)]
        delimiter = options.label_delimiter or choose_delimiter(
            cells, options.classes, f'{source}: column {header[label_col]!r}')
        out = LabelListRows(source, options.classes, options.on_bad)
        known = set(options.classes) if options.classes is not None else ()
        for row, cells in enumerate(rows, start=2):
            if not cells:
                continue
            if len(cells) != len(header):
                out.policy.bad(row, f'expected {len(header)} fields, got {len(cells)}')
                continue
            cell = cells[label_col]
            unknown = is_unknown(cell, options.unknown_values)
            labels = [] if unknown else cell_labels(cell, delimiter, known,
                                                    f'{source}: row {row}: column {header[label_col]!r}')
            out.add(row, cells[path_col], labels, unannotated=unknown and cell.strip() != '')
        return out.build(os.path.dirname(source), self.name, split)
