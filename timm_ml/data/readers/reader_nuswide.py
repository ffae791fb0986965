""" NUS-WIDE as the NUS lab distributes it: `ImageList/TrainImagelist.txt` / `TestImagelist.txt` (Windows paths,
`actor\\0001_2124494179.jpg`, relative to `Flickr/`), `Groundtruth/TrainTestLabels/Labels_<concept>_Train.txt` /
`_Test.txt` (one 0 / 1 a line, line i for image i of the list) and `ConceptsList/Concepts81.txt` (the 81 concepts).

Splits: test = the official test list; train and val = the official train list divided by a seeded share (--split-seed,
--split-fractions' val share), written beside the run as split.csv. Images with no positive concept are kept (all 81
negative); several papers drop them."""
import hashlib
import os

import numpy as np

from timm_ml.schema import LabelSchema

from ..label_set import LabelSet
from ..targets import SparseTargets
from .reader import LabelFileError, LabelOptions, LabelReader, normalize_path, open_text

SPLITS = {'train': 'train', 'val': 'val', 'validation': 'val', 'test': 'test'}


def concepts_file(root: str):
    for rel in ('ConceptsList/Concepts81.txt', 'Concepts81.txt'):
        if os.path.isfile(os.path.join(root, rel)):
            return os.path.join(root, rel)
    return None


def _lines(path):
    with open_text(path) as f:
        return [line.strip() for line in f if line.strip()]


class NusWideReader(LabelReader):
    name = 'nuswide'
    specific = True
    meanings = '1 = the concept is in the image, 0 = it is not (NUS-WIDE ground truth, one file per concept)'
    layout = ('NUS-WIDE: `ImageList/TrainImagelist.txt` / `TestImagelist.txt`, `Groundtruth/TrainTestLabels/'
              'Labels_<concept>_Train.txt`, `ConceptsList/Concepts81.txt`, images in `Flickr/`')

    def locate(self, root, split):
        if not root or not os.path.isdir(root) or split not in SPLITS:
            return None
        lists = os.path.join(root, 'ImageList', 'TrainImagelist.txt')
        return lists if os.path.isfile(lists) and concepts_file(root) else None

    def recognise(self, source, options=None):
        return 'NUS-WIDE image list with its concepts' if os.path.basename(source) == 'TrainImagelist.txt' else None

    def read(self, source: str, split: str, options: LabelOptions) -> LabelSet:
        root = os.path.dirname(os.path.dirname(source))
        wanted = SPLITS[split]
        part = 'Test' if wanted == 'test' else 'Train'
        images = _lines(os.path.join(root, 'ImageList', f'{part}Imagelist.txt'))
        concepts = _lines(concepts_file(root))
        classes = list(options.classes) if options.classes is not None else concepts
        if classes != concepts:
            raise LabelFileError(f'{concepts_file(root)}: the concepts differ from the training classes')
        dense = np.zeros((len(images), len(concepts)), np.int8)
        for k, concept in enumerate(concepts):
            path = os.path.join(root, 'Groundtruth', 'TrainTestLabels', f'Labels_{concept}_{part}.txt')
            if not os.path.isfile(path):
                raise LabelFileError(f'{root}: no ground truth for concept {concept!r} ({os.path.relpath(path, root)})')
            values = _lines(path)
            if len(values) != len(images):
                raise LabelFileError(f'{path}: {len(values)} lines for the {len(images)} images of '
                                     f'{part}Imagelist.txt (line i is image i)')
            bad = next((v for v in values if v not in ('0', '1')), None)
            if bad is not None:
                raise LabelFileError(f'{path}: {bad!r} is neither 1 (the concept is there) nor 0')
            dense[:, k] = np.asarray(values) == '1'
        paths = ['Flickr/' + normalize_path(p) for p in images]
        keep = np.ones(len(paths), bool)
        how = ''
        if wanted != 'test':
            share = options.split_fractions[1] / max(1e-9, options.split_fractions[0] + options.split_fractions[1])
            draws = np.array([int.from_bytes(hashlib.blake2b(f'{options.split_seed}:{p}'.encode(), digest_size=8)
                                             .digest(), 'big') / 2 ** 64 < share for p in paths])
            keep = draws if wanted == 'val' else ~draws
            how = f' (seeded split {options.split_seed} of TrainImagelist.txt, val share {share:.2f})'
        seen, rows = set(), []
        for i in np.flatnonzero(keep):
            if paths[i] not in seen:  # the list repeats a few images: the first row counts
                seen.add(paths[i])
                rows.append(i)
        return LabelSet(LabelSchema(classes), [paths[i] for i in rows], SparseTargets.from_dense(dense[rows]), root, [],
                        source, self.name, f'{wanted}{how}')
