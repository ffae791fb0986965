""" NIH ChestX-ray14 as published: `Data_Entry_2017.csv` (or `_v2020`: `Image Index,Finding Labels,...`, findings joined
with `|`, `No Finding` for an image with none of the 14; the bracketed header names split on their inner commas; a
trailing comma on some lines), `train_val_list.txt` / `test_list.txt` (the official patient-level split) and the
images in `images/` or Kaggle's `images_001/images/` ... `images_012/images/`.

Splits: test = test_list.txt; train and val = train_val_list.txt divided by patient (`Patient ID`), a seeded share
of the patients (--split-fractions' val share, --split-seed) for val, written beside the run as split.csv.
`No Finding` is no class: every finding negative. Every other cell is read as listed."""
import glob
import hashlib
import os
from typing import Dict

import numpy as np

from timm_ml.schema import LabelSchema

from ..label_set import LabelSet
from ..targets import SparseTargets
from .reader import LabelFileError, LabelOptions, LabelReader, open_text

FINDINGS = ['Atelectasis', 'Cardiomegaly', 'Consolidation', 'Edema', 'Effusion', 'Emphysema', 'Fibrosis', 'Hernia',
            'Infiltration', 'Mass', 'Nodule', 'Pleural_Thickening', 'Pneumonia', 'Pneumothorax']
NO_FINDING = 'No Finding'
ENTRY_FILES = ('Data_Entry_2017_v2020.csv', 'Data_Entry_2017.csv')
SPLITS = {'train': 'train', 'val': 'val', 'validation': 'val', 'test': 'test'}


def patient_val(patient: str, seed: int, share: float) -> bool:
    """A patient's seeded draw into val (a hash of (seed, patient): stable whatever else the list holds)."""
    digest = hashlib.blake2b(f'{seed}:{int(patient)}'.encode(), digest_size=8).digest()
    return int.from_bytes(digest, 'big') / 2 ** 64 < share


def image_folders(root: str) -> Dict[str, str]:
    """image file name -> path relative to root, over `images/` and Kaggle's `images_<NNN>/images/`."""
    found = {}
    for folder in ['images'] + sorted(glob.glob(os.path.join(root, 'images_*', 'images'))):
        full = folder if os.path.isabs(folder) else os.path.join(root, folder)
        if os.path.isdir(full):
            rel = os.path.relpath(full, root)
            for name in os.listdir(full):
                found.setdefault(name, f'{rel}/{name}')
    return found


class ChestXray14Reader(LabelReader):
    name = 'chestxray14'
    specific = True
    meanings = f'a finding listed in Finding Labels = positive, the others negative; {NO_FINDING!r} = all 14 negative'
    layout = ('NIH ChestX-ray14: `Data_Entry_2017.csv` + `train_val_list.txt` / `test_list.txt`, images in `images/` '
              'or `images_<NNN>/images/`')

    def locate(self, root, split):
        if not root or not os.path.isdir(root) or split not in SPLITS:
            return None
        for name in ENTRY_FILES:
            if os.path.isfile(os.path.join(root, name)):
                return os.path.join(root, name)
        return None

    def recognise(self, source, options=None):
        if not os.path.basename(source).startswith('Data_Entry_2017'):
            return None
        with open_text(source) as f:
            header = f.readline()
        return 'NIH ChestX-ray14 data entry file' if header.startswith('Image Index,Finding Labels') else None

    def read(self, source: str, split: str, options: LabelOptions) -> LabelSet:
        root = os.path.dirname(source)
        wanted = SPLITS[split]
        listed = os.path.join(root, 'test_list.txt' if wanted == 'test' else 'train_val_list.txt')
        if not os.path.isfile(listed):
            raise LabelFileError(f'{root}: no {os.path.basename(listed)} (the official split of ChestX-ray14)')
        with open_text(listed) as f:
            members = {line.strip() for line in f if line.strip()}
        classes = list(options.classes) if options.classes is not None else FINDINGS
        if classes != FINDINGS:
            raise LabelFileError(f'{source}: the 14 findings differ from the training classes')
        index = {c: i for i, c in enumerate(FINDINGS)}
        share = options.split_fractions[1] / max(1e-9, options.split_fractions[0] + options.split_fractions[1])
        images = image_folders(root)
        paths, rows = [], []
        with open_text(source) as f:
            f.readline()
            for n, line in enumerate(f, start=2):
                cells = line.rstrip('\r\n').split(',')
                if cells and cells[-1] == '' and len(cells) == 12:
                    cells = cells[:-1]  # a trailing comma
                if len(cells) != 11:
                    if line.strip():
                        raise LabelFileError(f'{source}: line {n}: {len(cells)} fields, expected 11')
                    continue
                name, findings, patient = cells[0].strip(), cells[1].strip(), cells[3].strip()
                if name not in members:
                    continue
                if wanted != 'test' and patient_val(patient, options.split_seed, share) != (wanted == 'val'):
                    continue
                row = np.zeros(len(FINDINGS), np.int8)
                if findings != NO_FINDING:
                    for finding in findings.split('|'):
                        if finding not in index:
                            raise LabelFileError(f'{source}: line {n}: finding {finding!r} is not one of the 14 '
                                                 f'({NO_FINDING!r} stands alone)')
                        row[index[finding]] = 1
                if name not in images:
                    raise LabelFileError(f'{root}: image {name} (line {n} of {os.path.basename(source)}) is in neither '
                                         'images/ nor images_<NNN>/images/')
                paths.append(images[name])
                rows.append(row)
        dense = np.stack(rows) if rows else np.zeros((0, len(FINDINGS)), np.int8)
        how = '' if wanted == 'test' else \
            f' (seeded split {options.split_seed} of train_val_list.txt by patient, val share {share:.2f})'
        return LabelSet(LabelSchema(classes), paths, SparseTargets.from_dense(dense), root, [], source, self.name,
                        f'{wanted}{how}')
