""" Image dataset over a LabelSet: PIL loading, timm transforms, dense float targets (-1 = unknown)."""
import logging
import os
from typing import Callable, List, Optional

import torch
from PIL import Image
from timm.data.readers.shared_count import SharedCount
from timm.data.target_transforms import MultiLabelTarget
from tqdm import tqdm

from timm_ml.image import decode_image

from .label_set import LabelSet
from .seeding import seed_sample

_logger = logging.getLogger(__name__)


class BadImageError(ValueError):
    """An image file that cannot be read; the message names the file and its label-file row."""


VERIFY_LEVELS = ('none', 'header', 'full')


def load_image(path: str, mode: str = 'RGB') -> Image.Image:
    """The one image decoder (timm_ml.image.decode_image): EXIF orientation applied, transparency on white, 16-bit
    scaled to 8 bits."""
    return decode_image(path, mode)


class MultiLabelDataset(torch.utils.data.Dataset):
    """ Images of a LabelSet with (C,) float32 targets: 1 positive, 0 negative, -1 unknown.

    Fully annotated rows (no unknown entries) are encoded by timm's MultiLabelTarget from their positive indices.

    Args:
        label_set: What a reader returned.
        transform: Image transform (timm's create_loader sets it).
        bad_images: 'error' raises BadImageError naming the file; 'skip' drops unreadable images found by the up-front
            check, counted in `skipped` and logged.
        img_mode: PIL mode the images are converted to (timm's --input-img-mode).
        repeats: timm's --epoch-repeats: one epoch passes over the images this many times (0 or 1: once).
        verify: Up-front check of every image: 'none', 'header' (open and parse the header: missing, empty and
            non-image files) or 'full' (decode every pixel: truncated files too). Default: 'full' with
            bad_images='skip', else 'none' (then a bad image stops training when it is reached).
        seed: Training: the augmentation of each sample is seeded by (seed, epoch, index) (seed_sample).
    """

    def __init__(self, label_set: LabelSet, transform: Optional[Callable] = None, bad_images: str = 'error',
                 img_mode: str = 'RGB', repeats: float = 0., verify: Optional[str] = None, seed: Optional[int] = None):
        if bad_images not in ('error', 'skip'):
            raise ValueError(f"bad_images must be 'error' or 'skip', got {bad_images!r}")
        verify = verify or ('full' if bad_images == 'skip' else 'none')
        if verify not in VERIFY_LEVELS:
            raise ValueError(f'verify must be one of {VERIFY_LEVELS}, got {verify!r}')
        self.transform = transform
        self.img_mode = img_mode
        self.repeats = max(1., float(repeats or 1.))
        self.skipped: List[str] = []
        if verify != 'none':
            label_set = self._check_images(label_set, verify, bad_images)
        self.label_set = label_set
        self.targets = label_set.targets
        self._multi_hot = MultiLabelTarget(label_set.num_classes)
        self.seed = seed
        self._epoch = SharedCount(0)  # seen by persistent loader workers

    def set_epoch(self, epoch: int):
        self._epoch.value = epoch

    @property
    def classes(self):
        return self.label_set.classes

    def _check_images(self, label_set: LabelSet, level: str, bad_images: str) -> LabelSet:
        keep, bad = [], []
        for i, rel in enumerate(tqdm(label_set.paths, desc=f'checking images ({level})', unit='img', disable=None,
                                     leave=False)):
            path = os.path.join(label_set.root, rel)
            try:
                if level == 'full' or getattr(label_set, 'images', None) is not None:
                    self.label_set = label_set
                    self._load(i)
                else:
                    with Image.open(path) as img:
                        if not img.size[0] or not img.size[1]:
                            raise ValueError('zero-size image')
                keep.append(i)
            except Exception as e:
                bad.append(f'{path} (entry {i}): {type(e).__name__}: {e}')
        if bad and bad_images == 'error':
            raise BadImageError(f'{len(bad)} unreadable images in {label_set.source}, first: {bad[0]}. Fix or remove '
                                'them, or pass --bad-images skip to drop them with a count.')
        if bad and not keep:
            raise BadImageError(f'Every image of {label_set.source} is unreadable ({len(bad)}), first: {bad[0]}')
        if bad:
            self.skipped = bad
            _logger.warning(f'{label_set.source}: skipped {len(bad)} unreadable images (--bad-images skip), '
                            f'first: {bad[0]}')
            label_set = label_set.subset(keep)
        return label_set

    def __len__(self):
        return int(len(self.label_set) * self.repeats)

    def target(self, index: int) -> torch.Tensor:
        t = self.targets
        s, e = t.indptr[index], t.indptr[index + 1]
        if t.fill == 0 and (t.values[s:e] == 1).all():
            return self._multi_hot(torch.from_numpy(t.indices[s:e].astype('int64')))
        return torch.from_numpy(t.row(index))

    def _load(self, index: int):
        rel = self.label_set.paths[index]
        images = getattr(self.label_set, 'images', None)  # e.g. the rows of a Hugging Face dataset
        if images is not None:
            return images.load(rel, self.img_mode)
        return load_image(os.path.join(self.label_set.root, rel), self.img_mode)

    def __getitem__(self, index: int):
        if self.seed is not None:
            seed_sample(self.seed, self._epoch.value, index)
        index = index % len(self.label_set)
        rel = self.label_set.paths[index]
        path = os.path.join(self.label_set.root, rel)
        try:
            img = self._load(index)
        except Exception as e:
            raise BadImageError(
                f'Cannot read image {path} (entry {index} of {self.label_set.source}): {type(e).__name__}: {e}. '
                'Fix or remove it, or pass --bad-images skip to drop unreadable images with a count.') from e
        if self.transform is not None:
            img = self.transform(img)
        return img, self.target(index)


class ImageListDataset(torch.utils.data.Dataset):
    """ Images by path for prediction; the target is the image's index (negative, -(index + 1), for an unreadable image
    under bad_images='skip', which yields a blank image; `error(index)` then says why).

    Args:
        root: Folder the paths are relative to. paths: Image paths.
        transform: Set by timm's create_loader. bad_images: 'error' or 'skip'. img_mode: PIL mode.
    """

    def __init__(self, root: str, paths: List[str], transform: Optional[Callable] = None, bad_images: str = 'error',
                 img_mode: str = 'RGB'):
        self.root, self.paths, self.transform = root, list(paths), transform
        self.bad_images, self.img_mode = bad_images, img_mode

    def __len__(self):
        return len(self.paths)

    def error(self, index: int) -> str:
        try:
            load_image(os.path.join(self.root, self.paths[index]), self.img_mode)
            return ''
        except Exception as e:  # noqa: BLE001 - the reason is what we report
            return f'{type(e).__name__}: {e}'

    def __getitem__(self, index: int):
        path = os.path.join(self.root, self.paths[index])
        try:
            img, target = load_image(path, self.img_mode), index
        except Exception as e:
            if self.bad_images != 'skip':
                raise BadImageError(f'Cannot read image {path}: {type(e).__name__}: {e}. Pass --bad-images skip to mark '
                                    'unreadable images in the output and go on.') from e
            img, target = Image.new(self.img_mode, (8, 8)), -(index + 1)
        if self.transform is not None:
            img = self.transform(img)
        return img, target
