""" Attribute CSV: `<split>.csv` (or one `attributes.csv` for the whole set, split by seed) with a path column and one
column per attribute, one value per cell: one softmax head per attribute (an exclusive group of the schema).

'#N/A', empty and NaN cells (and --unknown-values) mean the attribute is unknown for that image.
`--attribute-columns` reads only the named columns; `--tree-columns` reads columns as a label tree (top level first:
each value's children become a softmax group under it, the tree inferred from the rows and checked); with either,
`--labels-column` adds a label-list column as a multi-label block of free tags.
"""
import logging
import os
import shlex
from typing import List, Optional

import numpy as np

from timm_ml.schema import VALUE_SEP, LabelGroup, LabelSchema, attribute_class_names, complete_hierarchy

from ..label_set import LabelSet
from ..targets import NEGATIVE, POSITIVE, UNKNOWN, SparseTargets, SparseTargetsBuilder
from .csv_rows import (IDENTIFIER_WORDS, column_cells, find_labels_column, holds_separators, image_rows, known_cells,
                       metadata_reason, one_hot_columns, pick_path_column, read_csv_rows)
from .reader import LabelFileError, LabelOptions, LabelReader, RowPolicy, has_extension, is_unknown, split_file
from .reader_csv import cell_labels, choose_delimiter, is_list_literal
from .reader_multihot import value_map_of

WHOLE_SET_FILE = 'attributes.csv'
_logger = logging.getLogger(__name__)


def refuse_label_list_columns(path, header, columns, rows, unknown_values):
    """A column of many distinct values that hold separators is a label list read as one attribute value per label
    combination: refuse it, naming the flag that reads it right."""
    for col in columns:
        cells = known_cells(rows, header, col, unknown_values)
        listed = holds_separators(cells)
        tokens = [c.split() for c in cells]
        spaced = sum(len(t) > 1 for t in tokens)
        words = {t for ts in tokens if len(ts) > 1 for t in ts}
        alone = {ts[0] for ts in tokens if len(ts) == 1}
        if spaced > 0.1 * len(cells) and len(set(cells)) >= 5 and len(words | alone) < len(set(cells)) and \
                (all(w.isdigit() for w in words) or len(words & alone) >= 0.8 * len(words)):
            # the cells are combinations of class ids ('25 0', '17 16 0') or of words that also stand alone, unlike
            # values such as 'light blue' / 'dark blue' / 'blue'
            raise LabelFileError(
                f'{path}: column {header[col]!r} looks like a space-separated label list ({len(set(cells))} distinct '
                f'cells made of {len({t for ts in tokens for t in ts})} distinct words), not an attribute: pass '
                f'--labels-column {shlex.quote(header[col])} --label-delimiter \' \' to read it as labels')
        if cells and (listed > 0.5 * len(cells) or (listed > 0.1 * len(cells) and len(set(cells)) > 10)):
            raise LabelFileError(
                f'{path}: column {header[col]!r} looks like a label list ({len(set(cells))} distinct values, {listed} '
                f'cells holding , ; or |), not an attribute: pass --labels-column {shlex.quote(header[col])} to read '
                'it as labels, '
                'or --label-format attributes if each cell really is one value')


def attribute_columns(path, header, path_col, names: Optional[List[str]], rows=None, log: bool = False,
                      unknown_values=()) -> List[int]:
    """The attribute columns: --attribute-columns, else every column but the path column and those that look like
    metadata (ids, dates, free text, many distinct numbers: left out and named; a softmax over sex or view is an
    attribute)."""
    if names:
        missing = [n for n in names if n not in header]
        if missing:
            raise LabelFileError(f'{path}: row 1: --attribute-columns {missing} not in the columns {header}')
        return [header.index(n) for n in names]
    cols = [i for i in range(len(header)) if i != path_col]
    if not cols:
        raise LabelFileError(f'{path}: row 1: no attribute columns besides the path column {header[path_col]!r}')
    if rows is None:
        return cols
    refuse_label_list_columns(path, header, cols, rows, unknown_values)  # a list is no attribute, nor metadata
    metadata = {c: why for c in cols
                for why in [metadata_reason(header[c], column_cells(rows, header, c), IDENTIFIER_WORDS)] if why}
    kept = [c for c in cols if c not in metadata]
    if not kept:
        raise LabelFileError(f'{path}: every column looks like metadata, not a label (' + ', '.join(
            f'{header[c]}: {why}' for c, why in metadata.items()) + '): name the label columns with --attribute-columns '
            'or --labels-column')
    if metadata and log:
        _logger.info(f'{path}: metadata columns left out (not attributes): ' + ', '.join(
            f'{header[c]} ({why})' for c, why in metadata.items()) + '; --attribute-columns names the columns to read')
    return kept


def _tree_groups(path, header, rows, tree_cols, unknown_values):
    """Exclusive groups of a label tree read off its columns (top level first): one root group, then per parent value
    the child values seen under it. A value seen under two parents, or never under a known one, is an error."""
    groups = []
    top = tree_cols[0]
    values = sorted({r[top].strip() for r in rows if len(r) == len(header) and not is_unknown(r[top], unknown_values)})
    if not values:
        raise LabelFileError(f'{path}: tree column {header[top]!r} has no known value')
    groups.append((header[top], values, None))
    for parent_col, col in zip(tree_cols, tree_cols[1:]):
        parent_of = {}
        for row, r in enumerate(rows, start=2):
            if len(r) != len(header) or is_unknown(r[col], unknown_values):
                continue
            child = r[col].strip()
            parent = None if is_unknown(r[parent_col], unknown_values) else r[parent_col].strip()
            if parent is None:
                parent_of.setdefault(child, None)
                continue
            seen = parent_of.get(child)
            if seen is not None and seen[0] != parent:
                raise LabelFileError(
                    f'{path}: row {row}: {header[col]} {child!r} lies under {header[parent_col]} {parent!r} here and '
                    f'under {seen[0]!r} at row {seen[1]}: a label tree gives every value one parent')
            parent_of[child] = seen or (parent, row)
        orphans = sorted(c for c, p in parent_of.items() if p is None)
        if orphans:
            raise LabelFileError(f'{path}: {header[col]} values {orphans[:5]} never appear with a known '
                                 f'{header[parent_col]}: they cannot be placed in the tree')
        for parent in sorted({p for p, _ in parent_of.values()}):
            children = sorted(c for c, (p, _) in parent_of.items() if p == parent)
            groups.append((header[col], children, f'{header[parent_col]}{VALUE_SEP}{parent}'))
    return groups


def read_attribute_rows(path, header, rows, path_col, cols, tree_cols, tags_col, options: LabelOptions, fmt: str,
                        split: str, image_path=None) -> LabelSet:
    """ The LabelSet of attribute CSV rows: one exclusive group per column in `cols` (values sorted by name), the label
    tree of `tree_cols` (top level first), and the label lists of `tags_col` as a multi-label block; a schema in
    `options` fixes all of it (val after train). `image_path(cells, path)` maps a row to its image path."""
    unknown_values = options.unknown_values
    policy = RowPolicy(path, options.on_bad)
    schema = options.schema if options.schema is not None and options.schema.groups else None
    if schema is None:
        spec = []
        for col in cols:
            values = sorted({c for c in known_cells(rows, header, col, unknown_values)})
            if not values:
                raise LabelFileError(f'{path}: attribute columns {[header[col]]} have no known value in any row (every '
                                     'cell is unknown): a softmax head needs at least one value; remove the column or '
                                     'annotate it')
            spec.append((header[col], values, None))
        if tree_cols:
            spec += _tree_groups(path, header, rows, list(tree_cols), unknown_values)
        classes, groups = [], []
        for name, values, parent in spec:
            groups.append(LabelGroup(name, values, len(classes), parent))
            classes += attribute_class_names(name, values)
        tag_classes = None
        if tags_col is not None:
            cells = known_cells(rows, header, tags_col, unknown_values)
            delimiter = options.label_delimiter or choose_delimiter(
                [c for c in cells if not is_list_literal(c)], None, f'{path}: column {header[tags_col]!r}')
            where = f'{path}: column {header[tags_col]!r}'
            tag_classes = sorted({t.strip() for c in cells for t in cell_labels(c, delimiter, (), where) if t.strip()})
            clash = sorted(set(tag_classes) & set(classes))
            if clash:
                raise LabelFileError(f'{path}: tags {clash[:5]} are also attribute classes')
            classes += tag_classes
        schema = LabelSchema(classes, groups)
    columns = {}
    for g in schema.groups:
        if g.name not in header:
            raise LabelFileError(f'{path}: row 1: attribute column {g.name!r} missing from header {header}')
        columns.setdefault(g.name, header.index(g.name))
    tag_columns = schema.multilabel
    if len(tag_columns) and tags_col is None:
        raise LabelFileError(f'{path}: the schema has {len(tag_columns)} multi-label tags but no --labels-column')
    delimiter = None
    known_tags = {schema.classes[c]: c for c in tag_columns}
    if tags_col is not None:
        delimiter = options.label_delimiter or choose_delimiter(
            [c for c in known_cells(rows, header, tags_col, unknown_values) if not is_list_literal(c)],
            list(known_tags), f'{path}: column {header[tags_col]!r}')
    column_of = {}
    for g in schema.groups:
        for j, v in enumerate(g.values):
            column_of[(g.name, v)] = g.start + j
    paths, dense_rows, where, seen = [], [], [], {}
    for row, cells, p in image_rows(rows, header, path_col, policy, seen):
        t = np.full(schema.num_classes, NEGATIVE, dtype=np.int8)
        for g in schema.groups:
            t[g.start:g.end] = UNKNOWN
        bad = None
        for name, col in columns.items():
            cell = cells[col]
            if is_unknown(cell, unknown_values):
                continue
            c = column_of.get((name, cell.strip()))
            if c is None:
                values = sorted({v for (n, v) in column_of if n == name})
                bad = f'value {cell.strip()!r} of attribute {name!r} is not one of {values[:20]}'
                break
            g = schema.group_of_column(c)
            t[g.start:g.end] = NEGATIVE
            t[c] = POSITIVE
        if bad is None and tags_col is not None:
            cell = cells[tags_col]
            if is_unknown(cell, unknown_values):
                t[tag_columns] = UNKNOWN if cell.strip() else NEGATIVE
            else:
                for tag in cell_labels(cell, delimiter, known_tags, f'{path}: row {row}: column {header[tags_col]!r}'):
                    if not tag.strip():
                        continue
                    if tag.strip() not in known_tags:
                        bad = f'tag {tag.strip()!r} is not in the class list'
                        break
                    t[known_tags[tag.strip()]] = POSITIVE
        if bad:
            policy.bad(row, bad)
            continue
        seen[p] = row
        paths.append(image_path(cells, p) if image_path else p)
        dense_rows.append(t)
        where.append(f'{path}: row {row}')
    policy.finish()
    dense = np.stack(dense_rows) if dense_rows else np.zeros((0, schema.num_classes), np.int8)
    try:
        complete_hierarchy(dense, schema, rows=where)
    except ValueError as e:
        raise LabelFileError(str(e)) from e
    return LabelSet(schema, paths, SparseTargets.from_dense(dense) if len(dense) else
                    SparseTargetsBuilder(schema.num_classes).build(), os.path.dirname(path), policy.skipped, path, fmt,
                    split)


class AttributeCsvReader(LabelReader):
    name = 'attributes'
    meanings = "a cell's value = positive, the attribute's other values = negative, #N/A / empty / NaN = the attribute unknown"
    layout = ('`<split>.csv` (or one `attributes.csv`, split by seed): `filename,neck,sleeve_length,pattern`, one '
              'value per cell; `#N/A` / empty / NaN = unknown; one softmax per attribute')

    def locate(self, root, split):
        return split_file(root, split, ('.csv',))

    def locate_whole(self, root):
        path = os.path.join(root, WHOLE_SET_FILE)
        return path if os.path.isfile(path) else None

    def recognise(self, source, options=None):
        options = options or LabelOptions()
        grouped = options.tree_columns or options.attribute_columns
        if not has_extension(source, '.csv') or (options.labels_column is not None and not grouped):
            return None
        header, rows = read_csv_rows(source)
        path_col = pick_path_column(source, header, options.path_column)
        if options.tree_columns:
            attribute_columns(source, header, path_col, options.attribute_columns)
            return f'--tree-columns {" ".join(options.tree_columns)}'
        if options.attribute_columns is None:
            if one_hot_columns(header, path_col, rows, value_map_of(options), options.unknown_values) is not None:
                return None  # one value-coded column per class: the one-hot reader reads it
            label_col = find_labels_column(header, path_col)
            if label_col is not None and (len(header) == 2 or holds_separators(
                    known_cells(rows, header, label_col, options.unknown_values))):
                return None  # a label-list file: the label-list reader reads it (or names the flag)
        cols = attribute_columns(source, header, path_col, options.attribute_columns, rows,
                                 unknown_values=options.unknown_values)
        refuse_label_list_columns(source, header, cols, rows, options.unknown_values)
        return f'one value per cell in {len(cols)} attribute columns'

    def read(self, source: str, split: str, options: LabelOptions) -> LabelSet:
        header, rows = read_csv_rows(source)
        path_col = pick_path_column(source, header, options.path_column)
        return read_attribute_rows(source, header, rows, path_col, *selected_columns(source, header, path_col, options,
                                                                                   rows=rows),
                                   options, self.name, split)


def selected_columns(source, header, path_col, options: LabelOptions, default_attributes=None, rows=None):
    """(attribute columns, tree columns, tags column) of a CSV under the options."""
    tree = [_column(source, header, c, '--tree-columns') for c in options.tree_columns or ()]
    tags = _column(source, header, options.labels_column, '--labels-column') if options.labels_column else None
    names = options.attribute_columns or (None if tree else default_attributes)  # a tree given is read instead
    if names:
        attrs = [_column(source, header, c, '--attribute-columns') for c in names]
        attrs = [c for c in attrs if c not in tree]
    elif tree:
        attrs = []
    else:
        attrs = attribute_columns(source, header, path_col, None, rows, log=True)
    return attrs, tree, tags


def _column(source, header, name, flag):
    if name not in header:
        raise LabelFileError(f'{source}: row 1: {flag} {name!r} not in the columns {header}')
    return header.index(name)
