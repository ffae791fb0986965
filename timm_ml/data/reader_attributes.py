""" Attribute CSV: a path column and one column per attribute, one value per cell (one softmax head each).

'#N/A', empty and NaN cells (and --unknown-values) mean the attribute is unknown for that image.
"""
import os
from typing import Sequence

from .reader_csv import DELIMITER_CANDIDATES, image_rows, pick_path_column, read_csv_rows
from .readers import AttributeGroup, LabelFileError, LabelSet, _RowPolicy, attribute_class_names, is_unknown
from .targets import NEGATIVE, POSITIVE, UNKNOWN, SparseTargetsBuilder


MULTI_HOT_VALUES = {'0', '1', '-1', '0.0', '1.0', '-1.0'}


def is_multi_hot(header, path_col, rows, unknown_values=()) -> bool:
    """Every non-path column holds only 0 / 1 (and -1 or unknown cells): one column per class, not attributes."""
    values = {r[c].strip() for r in rows if len(r) == len(header) for c in range(len(header))
              if c != path_col and not is_unknown(r[c], unknown_values)}
    return len(header) > 1 and bool(values) and values <= MULTI_HOT_VALUES


def read_multi_hot_csv(path: str, classes=None, on_bad: str = 'error', path_column=None,
                       unknown_values: Sequence[str] = ()) -> LabelSet:
    """ One-hot / multi-hot CSV: a path column and one column per class holding 1 (positive), 0 (negative) or
    -1 / #N/A / empty (unknown).

    Args:
        path: The CSV file. classes: Fixed class order (the columns must hold them all).
        on_bad: 'error' or 'skip'. path_column: Path column name. unknown_values: Extra "unknown" spellings.
    """
    header, rows = read_csv_rows(path)
    path_col = pick_path_column(path, header, path_column)
    columns = [h for i, h in enumerate(header) if i != path_col]
    classes = list(classes) if classes is not None else columns
    missing = [c for c in classes if c not in header]
    if missing:
        raise LabelFileError(f'{path}: row 1: class columns {missing[:5]} missing from header {header}')
    col_of = [header.index(c) for c in classes]
    policy = _RowPolicy(path, on_bad)
    builder = SparseTargetsBuilder(len(classes), fill=NEGATIVE)
    paths, seen = [], {}
    for row, cells, p in image_rows(rows, header, path_col, policy, seen):
        idx, val, bad = [], [], None
        for k, col in enumerate(col_of):
            cell = cells[col].strip()
            if is_unknown(cell, unknown_values) or cell in ('-1', '-1.0'):
                idx.append(k), val.append(UNKNOWN)
            elif cell in ('1', '1.0'):
                idx.append(k), val.append(POSITIVE)
            elif cell not in ('0', '0.0'):
                bad = f'column {header[col]!r}: {cell!r} is not 1, 0 or -1'
                break
        if bad:
            policy.bad(row, bad)
            continue
        seen[p] = row
        paths.append(p)
        builder.add(idx, val)
    policy.finish()
    return LabelSet(classes, paths, builder.build(), os.path.dirname(path), [], policy.skipped, path, 'multihot')


def _refuse_label_list_columns(path, header, path_col, rows, unknown_values):
    """A column of many distinct values that hold separators is a label list read as one attribute value per label
    combination: refuse it, naming the flag that reads it right."""
    for col, name in enumerate(header):
        if col == path_col:
            continue
        cells = [r[col].strip() for r in rows if len(r) == len(header) and not is_unknown(r[col], unknown_values)]
        listed = sum(any(d in c for d in DELIMITER_CANDIDATES[:3]) for c in cells)
        if cells and (listed > 0.5 * len(cells) or (listed > 0.1 * len(cells) and len(set(cells)) > 10)):
            raise LabelFileError(
                f'{path}: column {name!r} looks like a label list ({len(set(cells))} distinct values, {listed} cells '
                f'holding , ; or |), not an attribute: pass --labels-column {name} to read it as labels, or '
                '--label-format attributes if each cell really is one value')


def read_attribute_csv(path: str, attributes=None, on_bad: str = 'error', path_column=None,
                       unknown_values: Sequence[str] = (), check_label_lists: bool = False) -> LabelSet:
    """ Args:
        path: The CSV file. attributes: Fixed attribute groups (from the training split).
        on_bad: 'error' or 'skip'. path_column: Path column name (default: the first of PATH_COLUMNS, else column 0).
        unknown_values: Extra cell spellings meaning "unknown" (besides #N/A, empty, NaN).
        check_label_lists: Refuse columns that look like label lists (format chosen automatically).
    """
    header, rows = read_csv_rows(path)
    path_col = pick_path_column(path, header, path_column)
    if check_label_lists:
        _refuse_label_list_columns(path, header, path_col, rows, unknown_values)
    policy = _RowPolicy(path, on_bad)
    attr_cols = [i for i in range(len(header)) if i != path_col]
    if not attr_cols:
        raise LabelFileError(f'{path}: row 1: no attribute columns besides the path column {header[path_col]!r}')
    names = [header[i] for i in attr_cols]
    if attributes is not None:
        missing = [g.name for g in attributes if g.name not in names]
        if missing:
            raise LabelFileError(f'{path}: row 1: attribute columns {missing} missing from header {header}')
        attr_cols = [header.index(g.name) for g in attributes]
        value_index = [{v: j for j, v in enumerate(g.values)} for g in attributes]
        fixed = True
    else:
        value_index = [{} for _ in attr_cols]
        fixed = False
    paths, cells_per_row, seen = [], [], {}
    for row, cells, p in image_rows(rows, header, path_col, policy, seen):
        values = []
        bad = None
        for a, col in enumerate(attr_cols):
            cell = cells[col]
            if is_unknown(cell, unknown_values):
                values.append(-1)
                continue
            cell = cell.strip()
            j = value_index[a].get(cell)
            if j is None:
                if fixed:
                    bad = f'value {cell!r} of attribute {header[col]!r} is not one of {list(value_index[a])}'
                    break
                j = value_index[a][cell] = len(value_index[a])
            values.append(j)
        if bad:
            policy.bad(row, bad)
            continue
        seen[p] = row
        paths.append(p)
        cells_per_row.append(values)
    policy.finish()
    if attributes is None:
        empty = [header[col] for a, col in enumerate(attr_cols) if not value_index[a]]
        if empty:
            raise LabelFileError(f'{path}: attribute columns {empty} have no known value in any row (every cell is '
                                 'unknown): a softmax head needs at least one value; remove the column or annotate it')
        attributes, remaps, start = [], [], 0
        for a, col in enumerate(attr_cols):
            values = sorted(value_index[a])
            order = {v: j for j, v in enumerate(values)}
            remaps.append([order[v] for v in value_index[a]])
            attributes.append(AttributeGroup(header[col], values, start))
            start += len(values)
    else:
        remaps = [None] * len(attributes)
        attributes = [AttributeGroup(g.name, list(g.values), g.start) for g in attributes]
    classes = attribute_class_names(attributes)
    builder = SparseTargetsBuilder(len(classes), fill=NEGATIVE)
    for values in cells_per_row:
        idx, val = [], []
        for a, j in enumerate(values):
            g = attributes[a]
            if j < 0:
                idx.extend(range(g.start, g.end))
                val.extend([UNKNOWN] * len(g.values))
            else:
                idx.append(g.start + (remaps[a][j] if remaps[a] else j))
                val.append(POSITIVE)
        builder.add(idx, val)
    return LabelSet(classes, paths, builder.build(), os.path.dirname(path), attributes, policy.skipped, path,
                    'attributes')


