""" CelebA as torchvision expects its root (`celeba/` or the folder holding its files): `list_attr_celeba.txt` (a count
line, a line of 40 attribute names, then `000001.jpg -1  1 ...` rows: 1 = has the attribute, -1 = does not have it;
every cell is filled), `list_eval_partition.txt` (`000001.jpg 0`: 0 train, 1 valid, 2 test) and `img_align_celeba/`.
The identity, box and landmark files are not labels and are not read. Each attribute is one class (a sigmoid each)."""
import os
from typing import Optional

import numpy as np

from timm_ml.schema import LabelSchema

from ..label_set import LabelSet
from ..targets import SparseTargets
from .reader import LabelFileError, LabelOptions, LabelReader, open_text

ATTR_FILE = 'list_attr_celeba.txt'
PARTITION_FILE = 'list_eval_partition.txt'
IMAGE_DIR = 'img_align_celeba'
PARTITIONS = {'train': '0', 'val': '1', 'validation': '1', 'valid': '1', 'test': '2'}


def celeba_folder(root: str) -> Optional[str]:
    for folder in (root, os.path.join(root, 'celeba')):
        if os.path.isfile(os.path.join(folder, ATTR_FILE)):
            return folder
    return None


class CelebaReader(LabelReader):
    name = 'celeba'
    specific = True
    meanings = '1 = has the attribute, -1 = does not have it (CelebA, list_attr_celeba.txt)'
    layout = ('CelebA: `list_attr_celeba.txt` (1 / -1 per attribute), `list_eval_partition.txt` (0 / 1 / 2), '
              '`img_align_celeba/`')

    def locate(self, root, split):
        folder = celeba_folder(root) if root and os.path.isdir(root) else None
        return os.path.join(folder, ATTR_FILE) if folder and split in PARTITIONS else None

    def recognise(self, source, options=None):
        if os.path.basename(source) != ATTR_FILE:
            return None
        with open_text(source) as f:
            count, names = f.readline().strip(), f.readline().split()
        return 'CelebA attribute list (count line, names line, 1 / -1 rows)' if count.isdigit() and names else None

    def read(self, source: str, split: str, options: LabelOptions) -> LabelSet:
        folder = os.path.dirname(source)
        with open_text(source) as f:
            lines = [line.split() for line in f if line.strip()]
        if len(lines) < 2 or not lines[0][0].isdigit():
            raise LabelFileError(f'{source}: line 1: expected the image count, then a line of attribute names')
        names, rows = lines[1], lines[2:]  # split() drops the trailing space of the names line
        if int(lines[0][0]) != len(rows):
            raise LabelFileError(f'{source}: line 1 declares {lines[0][0]} images, the file lists {len(rows)}')
        classes = list(options.classes) if options.classes is not None else names
        if classes != names:
            raise LabelFileError(f'{source}: its attributes differ from the training ones')
        partition = {}
        part_file = os.path.join(folder, PARTITION_FILE)
        if not os.path.isfile(part_file):
            raise LabelFileError(f'{folder}: no {PARTITION_FILE} beside {ATTR_FILE} (CelebA\'s official split)')
        with open_text(part_file) as f:
            for n, line in enumerate(f, start=1):
                cells = line.split()
                if cells:
                    if len(cells) != 2 or cells[1] not in ('0', '1', '2'):
                        raise LabelFileError(f'{part_file}: line {n}: expected "<image> 0|1|2", got {line.strip()!r}')
                    partition[cells[0]] = cells[1]
        wanted = PARTITIONS[split]
        paths, values = [], []
        for n, cells in enumerate(rows, start=3):
            if len(cells) != len(names) + 1:
                raise LabelFileError(f'{source}: line {n}: {len(cells) - 1} values for {len(names)} attributes')
            if partition.get(cells[0]) is None:
                raise LabelFileError(f'{part_file}: no partition for {cells[0]} ({source} line {n})')
            if partition[cells[0]] != wanted:
                continue
            if any(v not in ('1', '-1') for v in cells[1:]):
                bad = next(v for v in cells[1:] if v not in ('1', '-1'))
                raise LabelFileError(f'{source}: line {n}: {bad!r} is neither 1 (has) nor -1 (does not have)')
            paths.append(f'{IMAGE_DIR}/{cells[0]}')
            values.append([v == '1' for v in cells[1:]])
        dense = np.asarray(values, dtype=np.int8).reshape(len(paths), len(names))
        name = {'0': 'train', '1': 'valid', '2': 'test'}[wanted]
        return LabelSet(LabelSchema(classes), paths, SparseTargets.from_dense(dense), folder, [], source, self.name,
                        f'{name} (list_eval_partition.txt {wanted})')
