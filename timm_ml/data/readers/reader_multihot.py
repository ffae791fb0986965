""" One-hot / multi-hot CSV: `<split>.csv` with a path column and one column per class, each cell a value whose
meaning is declared: by default 1 / true positive, 0 / false negative, -1 uncertain (read as --uncertain, ignore =
unknown), empty / #N/A / NaN unknown; `--value-map` declares others (CelebA-style 1 / -1: `--value-map 1=pos,-1=neg`).
Columns that look like metadata (ids, demographics, acquisition, dates, free text: a clinical CSV's Sex, Age, view)
are left out and named in the log, never trained as labels."""
import logging
import os

from timm_ml.schema import LabelSchema

from ..label_set import LabelSet
from ..targets import NEGATIVE, SparseTargetsBuilder
from .csv_rows import image_rows, one_hot_columns, pick_path_column, read_csv_rows
from .reader import LabelFileError, LabelOptions, LabelReader, RowPolicy, has_extension, is_unknown, split_file
from .values import ONE_HOT_DEFAULT, UNKNOWN, ValueMap

_logger = logging.getLogger(__name__)


def value_map_of(options: LabelOptions, default: ValueMap = ONE_HOT_DEFAULT) -> ValueMap:
    """--value-map when given, else the format's declared default; --uncertain applied."""
    vmap = ValueMap.parse(options.value_map) if options.value_map else default
    return vmap.with_uncertain(options.uncertain)


class MultiHotCsvReader(LabelReader):
    name = 'multihot'
    layout = ('`<split>.csv`: `filename,cat,dog,...` with 1 / 0 / -1 cells (1 positive, 0 negative, -1 uncertain, empty '
              'unknown; --value-map / --uncertain declare others); metadata columns left out')

    def locate(self, root, split):
        return split_file(root, split, ('.csv',))

    def recognise(self, source, options=None):
        options = options or LabelOptions()
        if not has_extension(source, '.csv') or options.labels_column is not None or options.attribute_columns:
            return None
        header, rows = read_csv_rows(source)
        path_col = pick_path_column(source, header, options.path_column)
        found = one_hot_columns(header, path_col, rows, value_map_of(options), options.unknown_values)
        if found is None:
            return None
        coded, metadata = found
        return f'one value-coded column per class ({len(coded)})' + (
            f'; metadata columns left out: {", ".join(header[c] for c in metadata)}' if metadata else '')

    def read(self, source: str, split: str, options: LabelOptions) -> LabelSet:
        header, rows = read_csv_rows(source)
        path_col = pick_path_column(source, header, options.path_column)
        vmap = value_map_of(options)
        if options.classes is not None:
            missing = [c for c in options.classes if c not in header]
            if missing:
                raise LabelFileError(f'{source}: row 1: class columns {missing[:5]} missing from header {header}')
            classes = list(options.classes)
        else:
            found = one_hot_columns(header, path_col, rows, vmap, options.unknown_values)
            # named with --label-format: every other column is a class, its cells checked one by one
            coded, metadata = found or ([c for c in range(len(header)) if c != path_col], {})
            classes = [header[c] for c in coded]
            if metadata:
                _logger.info(f'{source}: metadata columns left out (not labels): ' + ', '.join(
                    f'{header[c]} ({why})' for c, why in metadata.items()) + '; --class-map names the class columns')
        col_of = [header.index(c) for c in classes]
        policy = RowPolicy(source, options.on_bad)
        builder = SparseTargetsBuilder(len(classes), fill=NEGATIVE)
        paths, seen = [], {}
        for row, cells, p in image_rows(rows, header, path_col, policy, seen):
            idx, val, bad = [], [], None
            for k, col in enumerate(col_of):
                cell = cells[col]
                value = UNKNOWN if is_unknown(cell, options.unknown_values) else vmap.read(cell)
                if value is None:
                    bad = (f'column {header[col]!r}: {cell.strip()!r} is not a declared value ({vmap.describe()}); '
                           'declare it with --value-map')
                    break
                if value != NEGATIVE:
                    idx.append(k), val.append(value)
            if bad:
                policy.bad(row, bad)
                continue
            seen[p] = row
            paths.append(p)
            builder.add(idx, val)
        policy.finish()
        return LabelSet(LabelSchema(classes), paths, builder.build(), os.path.dirname(source), policy.skipped, source,
                        self.name, split, meanings=vmap.describe())
