""" One way to read labels: `read_label_set(root, split, label_format, options)`.

The reader is named (`--label-format coco`) or recognised (`auto`): each registered reader says where its files of a
split live in a dataset root as distributed (`locate`) and whether it reads a file (`recognise`, on the file's
structure); auto never tries one reader after another. A root without split files but with one whole-set label file
(`attributes.csv`, `styles.csv`) is split by seed. When nothing matches, the error lists the label files that are
there and the flag that reads each. A new format is one `reader_<format>.py` and one line in READERS below.
"""
import glob
import hashlib
import logging
import os
import re
from collections import OrderedDict
from typing import List, Optional, Sequence, Tuple

import numpy as np

from timm_ml.schema import SchemaError

from ..label_set import LabelSet
from .reader import LabelFileError, LabelOptions, LabelReader
from .reader_attributes import AttributeCsvReader
from .reader_celeba import CelebaReader
from .reader_chestxray14 import ChestXray14Reader
from .reader_coco import CocoReader
from .reader_csv import LabelListCsvReader
from .reader_datumaro import DatumaroReader
from .reader_deepfashion import DeepFashionReader
from .reader_folder import ImageFolderReader
from .reader_hfds import HfFolderReader
from .reader_multihot import MultiHotCsvReader
from .reader_nuswide import NusWideReader
from .reader_openimages import OpenImagesReader, split_of_file
from .reader_otx import OtxReader
from .reader_planet import PlanetReader
from .reader_products import ProductsReader
from .reader_tsv import TsvReader
from .reader_voc import VocReader
from .reader_vg import VisualGenomeReader

_logger = logging.getLogger(__name__)

_READERS: 'OrderedDict[str, LabelReader]' = OrderedDict()


def register_label_reader(reader: LabelReader) -> LabelReader:
    """Add a reader (instance of a LabelReader subclass) under its `name`; auto recognition asks readers in
    registration order."""
    if not reader.name or reader.name == 'auto':
        raise ValueError(f'a label reader needs a name other than "auto", got {reader.name!r}')
    _READERS[reader.name] = reader
    return reader


READERS = [CocoReader(), DatumaroReader(), VocReader(), OpenImagesReader(), CelebaReader(), ChestXray14Reader(),
           NusWideReader(), HfFolderReader(), OtxReader(), LabelListCsvReader(), MultiHotCsvReader(),
           AttributeCsvReader(), TsvReader(), ProductsReader(), PlanetReader(), VisualGenomeReader(), DeepFashionReader(),
           ImageFolderReader()]
for _reader in READERS:
    register_label_reader(_reader)


def label_formats() -> Tuple[str, ...]:
    return ('auto',) + tuple(_READERS)


def create_label_reader(name: str) -> LabelReader:
    if name not in _READERS:
        raise ValueError(f'--label-format {name!r}: choose one of {label_formats()}')
    return _READERS[name]


SPLIT_SHARES = {'train': 0, 'val': 1, 'validation': 1, 'test': 2}  # of a whole set split by seed


def split_of(path: str, seed: int, fractions: Sequence[float]) -> str:
    """The seeded split ('train', 'val' or 'test') of one image: a hash of (seed, path), so it depends on nothing else
    (adding images never moves others) and every run with the seed agrees."""
    digest = hashlib.blake2b(f'{seed}:{path}'.encode('utf-8'), digest_size=8).digest()
    u = int.from_bytes(digest, 'big') / 2 ** 64
    total = sum(fractions)
    return 'train' if u < fractions[0] / total else 'val' if u < (fractions[0] + fractions[1]) / total else 'test'


def seeded_split(whole: LabelSet, split: str, seed: int, fractions: Sequence[float]) -> LabelSet:
    if split not in SPLIT_SHARES:
        raise LabelFileError(f'{whole.source} holds the whole set and is split by seed into train / val / test; '
                             f'split {split!r} is none of them')
    name = 'val' if split == 'validation' else split
    rows = [i for i, p in enumerate(whole.paths) if split_of(p, seed, fractions) == name]
    out = whole.subset(rows)
    out.split = f'{name} (seeded split {seed}, fractions {"/".join(f"{f:g}" for f in fractions)} of the whole set)'
    return out


def _candidates(root: str, split: str, options: LabelOptions, readers) -> List[Tuple[LabelReader, str, str]]:
    found = []
    for reader in readers:
        source = reader.locate(root, split)
        if source is None:
            continue
        why = reader.recognise(source, options)
        if why:
            found.append((reader, source, why))
    return found


def _whole_set(root: str, options: LabelOptions, readers) -> List[Tuple[LabelReader, str, str]]:
    found = []
    for reader in readers:
        source = reader.locate_whole(root)
        if source is not None:
            why = reader.recognise(source, options)
            if why:
                found.append((reader, source, why))
    return found


def _label_files(root: str) -> List[str]:
    patterns = ('*.json', '*.csv', '*.tsv', '*.txt', 'annotations/*.json', 'ImageSets/Main/*.txt', '*/*.json',
                '*/*.csv')
    files = []
    for pattern in patterns:
        files += [p for p in glob.glob(os.path.join(root, pattern)) if os.path.isfile(p)]
    return sorted(set(files))[:40]


def _how_to_read(path: str, options: LabelOptions, split_flag: str = '--train-split') -> str:
    """What reads a label file found in the root, and the flag that selects it."""
    base = os.path.basename(path)
    if is_template_name(path):
        return 'a submission template (no labels): never a split'
    for reader in _READERS.values():
        try:
            why = reader.recognise(path, options)
        except (LabelFileError, ValueError) as e:
            reason = str(e)
            return f'{reader.name}, but: {reason[len(path) + 2:] if reason.startswith(path + ": ") else reason}'
        if not why:
            continue
        if reader.name == 'coco' and base.startswith('instances_'):
            name = base[len('instances_'):-len('.json')]
        elif reader.name == 'openimages':
            name = split_of_file(path)
        elif reader.name == 'products':
            return 'products (the fashion-product styles.csv): read as it is, split by seed'
        else:
            name = os.path.splitext(base)[0]
        if split_flag == '--val-split' and name.lower() in ('train', 'training', 'trainval', 'train_val'):
            return (f'{reader.name}: the training labels, no validation (--val-split "" trains without evaluation; '
                    f'a held-out file of its own evaluates)')
        return f'{reader.name}: {split_flag} {name}'
    return 'not a label file timm_ml recognises (--label-format names a format)'


OWN_FORMAT = ('or write your labels as a CSV beside the images, `path,labels` with `a.jpg,cat|dog` per row (README: '
              '"Your own data")')
TEMPLATE_NAMES = ('submission', 'sample_sub')


def is_template_name(path: str) -> bool:
    """A Kaggle submission template by its name (sample_submission.csv, sample_submission_v2.csv): no labels."""
    return any(word in os.path.basename(path).lower() for word in TEMPLATE_NAMES)


def no_layout_error(root: str, split: str, options: LabelOptions, split_flag: str) -> LabelFileError:
    files = _label_files(root)
    looked = '; '.join(f'{r.name}: {r.layout}' for r in _READERS.values())
    if not files:
        inside = sorted(os.path.relpath(d, root) for d in glob.glob(os.path.join(root, '*')) + glob.glob(
            os.path.join(root, '*', '*')) if os.path.isdir(d) and _label_files(d))[:3]
        if inside:  # e.g. the VOCdevkit/ folder the VOC tarball unpacks to, with VOC2012/ inside
            return LabelFileError(f'No labels for split {split!r} in {root!r}, but folders inside it hold label files: '
                                  + ', '.join(inside) + f' (give one of them as the data root, e.g. '
                                  f'{os.path.join(root, inside[0])})')
        return LabelFileError(f'No labels for split {split!r} in {root!r}: no label files there at all (looked for '
                              f'{looked}); {OWN_FORMAT}')
    listing = '\n'.join(f'  {os.path.relpath(p, root)}: {_how_to_read(p, options, split_flag)}' for p in files)
    return LabelFileError(
        f'No labels for split {split!r} in {root!r}. Label files there, and what reads each:\n{listing}\n'
        f'(a label file path also works as the split; converters: python -m fashion_attrs.products / '
        f'fashion_attrs.split; {OWN_FORMAT})')


def _resolve_image_root(label_set: LabelSet, image_dir: Optional[str]) -> LabelSet:
    """--image-dir, else an `images/` folder beside the label file when the paths resolve there and not beside it."""
    if image_dir:
        label_set.root = image_dir
        return label_set
    sample = label_set.paths[:20]
    if not sample or any(os.path.exists(os.path.join(label_set.root, p)) for p in sample):
        return label_set
    images = os.path.join(label_set.root, 'images')
    if all(os.path.exists(os.path.join(images, p)) for p in sample):
        _logger.info(f'{label_set.source}: image paths resolve under {images}, not beside the label file: using it '
                     '(--image-dir sets the image folder explicitly)')
        label_set.root = images
        return label_set
    parent = os.path.dirname(os.path.abspath(label_set.root))  # CheXpert: paths start with the dataset folder's name
    if all(p.split('/')[0] == os.path.basename(os.path.abspath(label_set.root)) and
           os.path.exists(os.path.join(parent, p)) for p in sample):
        _logger.info(f'{label_set.source}: image paths start with the name of its folder: read from {parent}')
        label_set.root = parent
        return label_set
    if not any(os.path.splitext(p)[1].lower() in IMAGE_EXTENSIONS for p in sample):  # ids, not file names (Kaggle)
        split = (label_set.split or '').split(' ')[0]
        for folder in (label_set.root, images, os.path.join(label_set.root, f'{split}_images'),
                       os.path.join(label_set.root, split)):  # Kaggle: images/, train_images/, train/
            fitting = [e for e in IMAGE_EXTENSIONS if all(os.path.isfile(os.path.join(folder, p + e)) for p in sample)]
            if len(fitting) == 1:
                _logger.info(f'{label_set.source}: its image ids name the files {folder}/<id>{fitting[0]}')
                label_set.paths = [p + fitting[0] for p in label_set.paths]
                label_set.root = folder
                break
    return label_set


IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.webp', '.bmp', '.tif', '.tiff', '.gif')
_ABSOLUTE = re.compile(r'^(/|[A-Za-z]:[/\\]|\\\\)')


def check_paths_inside(labels: LabelSet, allow_outside: bool = False):
    """ The image paths of a label file stay under its image root: an absolute path or one climbing above the root
    (`..`) is refused, naming the row, unless --allow-outside-root (a label file from someone else must not make the
    tools read, convert or copy any file of this machine). Symlinks inside the root are followed (image folders are
    often links)."""
    if allow_outside or getattr(labels, 'images', None) is not None:  # rows of a dataset, not paths
        return
    for i, path in enumerate(labels.paths):
        if _ABSOLUTE.match(path) or path == '..' or path.startswith('../'):
            raise LabelFileError(f'{labels.source}: image {i} is {path!r}, outside the image root '
                                 f'{labels.root or "."}; the paths of a label file are relative to its images. Pass '
                                 '--allow-outside-root if the files really live there.')


def check_not_a_template(labels: LabelSet, min_rows: int = 20):
    """A file whose every row carries the same labels holds no labels (a submission template, Kaggle's
    sample_submission.csv): never a split. A file named like a submission template is refused whatever it holds."""
    if labels.source and os.path.isfile(labels.source) and is_template_name(labels.source):
        raise LabelFileError(f'{labels.source}: a submission template (its name), whose labels are placeholders: '
                             'never a split. Name a labelled file, or leave the split out (a split of the labelled '
                             'file is seeded)')
    t = labels.targets
    if len(labels) < min_rows:
        return
    lengths = np.diff(t.indptr)
    if (lengths != lengths[0]).any():
        return
    width = int(lengths[0])
    if width and (t.indices.reshape(-1, width) != t.indices[:width]).any() or \
            width and (t.values.reshape(-1, width) != t.values[:width]).any():
        return
    raise LabelFileError(f'{labels.source}: every one of its {len(labels)} rows carries the same labels '
                         f'({[labels.classes[i] for i in t.indices[:width][t.values[:width] == 1]][:5]}): a submission '
                         'template or a file without labels, not a split. Name the labelled file (e.g. train_v2.csv).')


def read_label_set(
        root: Optional[str],
        split: str,
        label_format: Optional[str] = 'auto',
        options: Optional[LabelOptions] = None,
        log: bool = True,
        split_flag: str = '--train-split',
) -> LabelSet:
    """ Read one split of a dataset in any registered layout.

    Args:
        root: The dataset root as distributed (may be None when `split` is a label file).
        split: Split name, or a label file path.
        label_format: A registered reader name, or 'auto' (recognised from the files, logged).
        options: LabelOptions (classes / schema to enforce, CSV options, image folder, row policy, seeded split).
        split_flag: The flag naming the split, for messages.
    """
    options = options or LabelOptions()
    label_format = label_format or 'auto'
    readers = list(_READERS.values()) if label_format == 'auto' else [create_label_reader(label_format)]
    root = root or ''
    if split and os.path.isfile(split):
        reader, why = None, None
        for candidate in readers:
            why = candidate.recognise(split, options) if label_format == 'auto' else 'given with --label-format'
            if why:
                reader = candidate
                break
        if reader is None:
            raise LabelFileError(f'{split}: not a label file timm_ml recognises; name its format with --label-format')
        whole = None
        found = [(reader, split, why)]
    else:
        if not root or not os.path.isdir(root):
            raise LabelFileError(f'Dataset folder {root!r} does not exist' if root else
                                 'No dataset folder given: pass it as the first argument (or --data-dir).')
        if label_format == 'auto':
            found = _candidates(root, split, options, readers)
        else:
            reader = readers[0]
            source = reader.locate(root, split)
            found = [(reader, source, 'given with --label-format')] if source else []
        whole = None
        if not found:
            whole = _whole_set(root, options, readers) if label_format == 'auto' else [
                (r, r.locate_whole(root), 'given with --label-format') for r in readers if r.locate_whole(root)]
            found = whole
    if not found:
        raise no_layout_error(root, split, options, split_flag)
    if len(found) > 1 and not all(r.fallback for r, _, _ in found):  # a label file wins over the folders alone
        found = [f for f in found if not f[0].fallback]
    if len(found) > 1 and sum(r.specific for r, _, _ in found) == 1:  # a published layout's own reader wins
        found = [f for f in found if f[0].specific]
    if len(found) > 1:
        listing = ', '.join(f'{r.name} ({os.path.relpath(s, root) if root else s}: {w})' for r, s, w in found)
        raise LabelFileError(f'Split {split!r} in {root!r} matches several layouts: {listing}; choose one with '
                             '--label-format')
    reader, source, why = found[0]
    try:
        if whole:
            label_set = seeded_split(reader.read(source, split, options), split, options.split_seed,
                                     options.split_fractions)
            why += f'; no split files, {label_set.split}'
        else:
            label_set = reader.read(source, split, options)
    except UnicodeDecodeError as e:
        raise LabelFileError(f'{source}: not UTF-8 text (byte {e.start}: {e.reason}); save the file as UTF-8') from e
    except SchemaError as e:  # the classes / groups the file declares (a reserved group name, look-alike names)
        raise LabelFileError(f'{source}: {e}') from None
    label_set.format = reader.name
    label_set.split = label_set.split or split
    label_set.meanings = label_set.meanings or reader.meanings
    if not whole and source and os.path.isfile(source) and not os.path.isfile(split) and \
            reader.name in ('otx', 'csv', 'multihot', 'attributes', 'tsv', 'datumaro'):
        label_set.split = os.path.splitext(os.path.basename(source))[0]  # the name found on disk (val for validation)
    if not len(label_set):
        raise LabelFileError(f'{label_set.source}: no images' + (
            f' ({len(label_set.skipped)} rows skipped)' if label_set.skipped else '') + (
            f' in split {split!r}' if whole else ''))
    if not label_set.num_classes:
        raise LabelFileError(f'{label_set.source}: no class is named in any row: give the class list (--class-map)')
    label_set = _resolve_image_root(label_set, options.image_dir)
    check_paths_inside(label_set, options.allow_outside_root)
    check_not_a_template(label_set)
    if log:
        classes = label_set.classes
        _logger.info(f'{label_set.source}: label format {reader.name} ({why}); {len(classes)} '
                     f'{"class" if len(classes) == 1 else "classes"}, first {classes[:5]}; images under '
                     f'{label_set.root or "."}')
    return label_set
