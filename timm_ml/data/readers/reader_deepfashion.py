""" DeepFashion, Category and Attribute Prediction Benchmark, as unpacked: `Anno/list_attr_cloth.txt` (a count line,
a header line, then the 1000 attribute names, which hold spaces, each followed by its type number),
`Anno/list_attr_img.txt` (a count line, a header line, then `img/<folder>/img_00000001.jpg  -1 1 0 ...`: 1 = has the
attribute, -1 = does not have it, 0 = unknown, as the benchmark's README states), `Eval/list_eval_partition.txt`
(`img/...jpg  train|val|test`) and the images under `img/`. The category, box and landmark files are not read. Each
attribute is one class (a sigmoid each)."""
import os
from typing import List

import numpy as np

from timm_ml.schema import LabelSchema

from ..label_set import LabelSet
from ..targets import SparseTargets
from .reader import LabelFileError, LabelOptions, LabelReader, open_text

ATTR_NAMES = os.path.join('Anno', 'list_attr_cloth.txt')
ATTR_FILE = os.path.join('Anno', 'list_attr_img.txt')
PARTITION_FILE = os.path.join('Eval', 'list_eval_partition.txt')
SPLITS = {'train': 'train', 'val': 'val', 'validation': 'val', 'valid': 'val', 'test': 'test'}
VALUES = {'1': 1, '-1': 0, '0': -1}


def _counted_lines(path: str, header: str) -> List[str]:
    """The data lines of a DeepFashion list file: line 1 their count, line 2 a header naming its columns."""
    with open_text(path) as f:
        lines = [line.rstrip('\n').rstrip('\r') for line in f]
    if len(lines) < 2 or not lines[0].strip().isdigit() or not lines[1].split()[:1] == [header]:
        raise LabelFileError(f'{path}: expected a count line, then a header line starting {header!r}')
    rows = [line for line in lines[2:] if line.strip()]
    if int(lines[0]) != len(rows):
        raise LabelFileError(f'{path}: line 1 declares {lines[0].strip()} rows, the file has {len(rows)}')
    return rows


def _attribute_names(path: str) -> List[str]:
    names = []
    for n, line in enumerate(_counted_lines(path, 'attribute_name'), start=3):
        name, _, kind = line.rstrip().rpartition(' ')
        if not name.strip() or not kind.isdigit():
            raise LabelFileError(f'{path}: line {n}: expected "<attribute name> <type number>", got {line.strip()!r}')
        names.append(' '.join(name.split()))
    return names


class DeepFashionReader(LabelReader):
    name = 'deepfashion'
    specific = True
    meanings = '1 = has the attribute, -1 = does not have it, 0 = unknown (DeepFashion, list_attr_img.txt)'
    layout = ('DeepFashion attributes: `Anno/list_attr_img.txt` (1 / -1 / 0), `Anno/list_attr_cloth.txt`, '
              '`Eval/list_eval_partition.txt`, `img/`')

    def locate(self, root, split):
        source = os.path.join(root, ATTR_FILE) if root else ''
        return source if split in SPLITS and os.path.isfile(source) else None

    def recognise(self, source, options=None):
        if not source.replace(os.sep, '/').endswith('Anno/list_attr_img.txt'):
            return None
        with open_text(source) as f:
            count, header = f.readline().strip(), f.readline().split()
        return 'DeepFashion attribute list (count line, header, 1 / -1 / 0 rows)' \
            if count.isdigit() and header[:1] == ['image_name'] else None

    def read(self, source: str, split: str, options: LabelOptions) -> LabelSet:
        root = os.path.dirname(os.path.dirname(source))
        names_file, part_file = os.path.join(root, ATTR_NAMES), os.path.join(root, PARTITION_FILE)
        for needed in (names_file, part_file):
            if not os.path.isfile(needed):
                raise LabelFileError(f'{root}: no {os.path.relpath(needed, root)} beside {ATTR_FILE} (DeepFashion\'s '
                                     'attribute names and official split)')
        names = _attribute_names(names_file)
        if len(set(names)) != len(names):
            dup = sorted({n for n in names if names.count(n) > 1})
            raise LabelFileError(f'{names_file}: duplicate attribute names {dup[:5]}')
        classes = list(options.classes) if options.classes is not None else names
        if classes != names:
            raise LabelFileError(f'{source}: its attributes differ from the training ones')
        partition = {}
        for n, line in enumerate(_counted_lines(part_file, 'image_name'), start=3):
            cells = line.split()
            if len(cells) != 2 or cells[1] not in ('train', 'val', 'test'):
                raise LabelFileError(f'{part_file}: line {n}: expected "<image> train|val|test", got {line.strip()!r}')
            partition[cells[0]] = cells[1]
        wanted = SPLITS[split]
        paths, values = [], []
        for n, line in enumerate(_counted_lines(source, 'image_name'), start=3):
            cells = line.split()
            if len(cells) != len(names) + 1:
                raise LabelFileError(f'{source}: line {n}: {len(cells) - 1} values for {len(names)} attributes')
            if partition.get(cells[0]) is None:
                raise LabelFileError(f'{part_file}: no partition for {cells[0]} ({source} line {n})')
            if partition[cells[0]] != wanted:
                continue
            bad = next((v for v in cells[1:] if v not in VALUES), None)
            if bad is not None:
                raise LabelFileError(f'{source}: line {n}: {bad!r} is none of 1 (has), -1 (has not), 0 (unknown)')
            paths.append(cells[0])
            values.append([VALUES[v] for v in cells[1:]])
        dense = np.asarray(values, dtype=np.int8).reshape(len(paths), len(names))
        return LabelSet(LabelSchema(classes), paths, SparseTargets.from_dense(dense), root, [], source, self.name,
                        f'{wanted} (list_eval_partition.txt)')
