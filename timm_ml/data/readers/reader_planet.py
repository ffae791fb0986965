""" Planet: Understanding the Amazon from Space (Kaggle) as downloaded: `train_v2.csv` (`image_name,tags`: names without
an extension, tags separated by spaces; a listed tag positive, the others negative) and `train-jpg/<name>.jpg`. The
labelled CSV is the only split file: train / val / test are a seeded split of it (--split-seed, --split-fractions),
written beside the run as split.csv. `sample_submission_v2.csv` holds no labels (the same placeholder tags on every
test image) and is never read as a split."""
import csv
import os

from ..label_set import LabelSet
from .reader import LabelFileError, LabelListRows, LabelOptions, LabelReader, open_text

LABEL_FILES = ('train_v2.csv', 'train.csv')
IMAGE_DIRS = ('train-jpg', 'train-tif-v2')


class PlanetReader(LabelReader):
    name = 'planet'
    specific = True
    meanings = 'a tag listed in `tags` = positive, an unlisted tag = negative'
    layout = ('Planet (Kaggle): `train_v2.csv` (`image_name,tags`, names without extension) + `train-jpg/`; split by '
              'seed')

    def locate_whole(self, root):
        if not root or not any(os.path.isdir(os.path.join(root, d)) for d in IMAGE_DIRS):
            return None
        for name in LABEL_FILES:
            path = os.path.join(root, name)
            if os.path.isfile(path):
                return path
        return None

    def recognise(self, source, options=None):
        if not source.endswith('.csv') or not any(os.path.isdir(os.path.join(os.path.dirname(source), d))
                                                 for d in IMAGE_DIRS):
            return None
        with open_text(source) as f:
            header = f.readline().strip()
        return 'Planet labels (image_name,tags) beside train-jpg/' if header == 'image_name,tags' else None

    def read(self, source: str, split: str, options: LabelOptions) -> LabelSet:
        root = os.path.dirname(source)
        folder = next(d for d in IMAGE_DIRS if os.path.isdir(os.path.join(root, d)))
        ext = '.jpg' if folder == 'train-jpg' else '.tif'
        rows = LabelListRows(source, options.classes, options.on_bad)
        with open_text(source, newline='') as f:
            reader = csv.reader(f)
            header = next(reader, None)
            if header != ['image_name', 'tags']:
                raise LabelFileError(f'{source}: row 1: expected image_name,tags, got {header}')
            for row, cells in enumerate(reader, start=2):
                if len(cells) != 2:
                    rows.policy.bad(row, f'expected 2 fields, got {len(cells)}')
                    continue
                rows.add(row, f'{folder}/{cells[0].strip()}{ext}', cells[1].split())
        return rows.build(root, self.name, split)
