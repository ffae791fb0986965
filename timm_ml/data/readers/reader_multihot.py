""" One-hot / multi-hot CSV: `<split>.csv` with a path column and one column per class holding 1 (positive), 0
(negative) or -1 / #N/A / empty (unknown)."""
import os

from timm_ml.schema import LabelSchema

from ..label_set import LabelSet
from ..targets import NEGATIVE, POSITIVE, UNKNOWN, SparseTargetsBuilder
from .csv_rows import (NEGATIVE_CELLS, POSITIVE_CELLS, UNKNOWN_CELLS, image_rows, is_multi_hot, pick_path_column,
                       read_csv_rows)
from .reader import LabelFileError, LabelOptions, LabelReader, RowPolicy, has_extension, is_unknown, split_file


class MultiHotCsvReader(LabelReader):
    name = 'multihot'
    layout = ('`<split>.csv`: `filename,cat,dog,...` with 1 / 0 / -1 (or true / false) cells (-1, `#N/A`, empty = '
              'unknown)')

    def locate(self, root, split):
        return split_file(root, split, ('.csv',))

    def recognise(self, source, options=None):
        options = options or LabelOptions()
        if not has_extension(source, '.csv') or options.labels_column is not None:
            return None
        header, rows = read_csv_rows(source)
        if is_multi_hot(header, pick_path_column(source, header, options.path_column), rows, options.unknown_values):
            return 'one 0 / 1 column per class'
        return None

    def read(self, source: str, split: str, options: LabelOptions) -> LabelSet:
        header, rows = read_csv_rows(source)
        path_col = pick_path_column(source, header, options.path_column)
        columns = [h for i, h in enumerate(header) if i != path_col]
        classes = list(options.classes) if options.classes is not None else columns
        missing = [c for c in classes if c not in header]
        if missing:
            raise LabelFileError(f'{source}: row 1: class columns {missing[:5]} missing from header {header}')
        col_of = [header.index(c) for c in classes]
        policy = RowPolicy(source, options.on_bad)
        builder = SparseTargetsBuilder(len(classes), fill=NEGATIVE)
        paths, seen = [], {}
        for row, cells, p in image_rows(rows, header, path_col, policy, seen):
            idx, val, bad = [], [], None
            for k, col in enumerate(col_of):
                cell = cells[col].strip()
                folded = cell.lower()
                if is_unknown(cell, options.unknown_values) or folded in UNKNOWN_CELLS:
                    idx.append(k), val.append(UNKNOWN)
                elif folded in POSITIVE_CELLS:
                    idx.append(k), val.append(POSITIVE)
                elif folded not in NEGATIVE_CELLS:
                    bad = f'column {header[col]!r}: {cell!r} is not 1 / 0 / -1 (or true / false, #N/A)'
                    break
            if bad:
                policy.bad(row, bad)
                continue
            seen[p] = row
            paths.append(p)
            builder.add(idx, val)
        policy.finish()
        return LabelSet(LabelSchema(classes), paths, builder.build(), os.path.dirname(source), policy.skipped, source,
                        self.name, split)
