""" The folder-per-class layout timm's ImageFolder reads: `<root>/<split>/<class>/<image>`. Each image has exactly one
class, so the classes form one exclusive group (one softmax, `--ml-head attributes`, accuracy as the headline):
the single-label task as a multi-label model states it. Class order is sorted, as timm's."""
import os

import numpy as np

from timm_ml.schema import LabelGroup, LabelSchema, attribute_class_names

from ..label_set import LabelSet
from ..targets import SparseTargets
from .reader import LabelFileError, LabelOptions, LabelReader

IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.webp', '.bmp', '.tif', '.tiff', '.gif')
GROUP = 'class'


def _class_folders(folder: str):
    """The class sub-folders of a split folder holding images, or None when it is not that layout."""
    try:
        subs = sorted(d for d in os.listdir(folder) if os.path.isdir(os.path.join(folder, d)) and not d.startswith('.'))
    except OSError:
        return None
    if len(subs) < 2 or any(f.lower().endswith(IMAGE_EXTENSIONS) for f in os.listdir(folder)):
        return None
    with_images = [d for d in subs if any(f.lower().endswith(IMAGE_EXTENSIONS)
                                          for f in os.listdir(os.path.join(folder, d)))]
    return subs if len(with_images) == len(subs) else None


class ImageFolderReader(LabelReader):
    name = 'folder'
    fallback = True
    meanings = 'the folder an image is in is its class (one class per image: one softmax)'
    layout = 'folder per class (timm\'s ImageFolder): `<split>/<class>/<image>`'

    def locate(self, root, split):
        for name in self.split_names(split):
            folder = os.path.join(root, name) if root else ''
            if folder and os.path.isdir(folder) and _class_folders(folder):
                return folder
        return None

    def recognise(self, source, options=None):
        classes = os.path.isdir(source) and _class_folders(source)
        return f'a folder per class ({len(classes)} class folders)' if classes else None

    def read(self, source: str, split: str, options: LabelOptions) -> LabelSet:
        folders = _class_folders(source)
        given = options.schema if options.schema is not None and options.schema.groups else None
        values = list(given.groups[0].values) if given is not None else folders
        extra = sorted(set(folders) - set(values))
        if extra:  # a val folder of a class training never saw (a val folder without one class is fine)
            raise LabelFileError(f'{source}: class folders {extra[:5]} are not training classes {values[:5]}...')
        paths, rows = [], []
        for i, value in enumerate(values):
            folder = os.path.join(source, value)
            if not os.path.isdir(folder):
                continue
            for root, dirs, files in os.walk(folder):
                dirs.sort()
                for f in sorted(files):
                    if f.lower().endswith(IMAGE_EXTENSIONS):
                        paths.append(os.path.relpath(os.path.join(root, f), source))
                        rows.append(i)
        dense = np.zeros((len(paths), len(values)), dtype=np.int8)
        dense[np.arange(len(paths)), rows] = 1
        schema = LabelSchema(attribute_class_names(GROUP, values), groups=[LabelGroup(GROUP, list(values))])
        return LabelSet(schema, paths, SparseTargets.from_dense(dense), source, [], source, self.name,
                        os.path.basename(os.path.normpath(source)))
