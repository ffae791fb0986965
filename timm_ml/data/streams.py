""" Streamed training data: WebDataset tar shards (`--dataset wds/...`) read with exact epochs and exact mid-epoch
resume, across ranks and loader workers.

The shard layout is timm's (`_info.json` with per-split `filenames` / `shard_lengths` / `num_samples`; samples
`<key>.<jpg|png|webp>` + `<key>.json`), so timm's own ReaderWds reads the positives; timm_ml adds what timm's stops
short of (python -m timm_ml.data.to_shards writes them):
- targets with unknowns: the sidecar holds `pos` / `neg` / `unk` class indices around a `fill` value (0: unlisted
  classes are negatives; -1: unlisted are unknown, OpenImages-style), and `_info.json` the classes and label schema;
- exact epochs: an epoch's sample sequence (shards in a seeded order, then a seeded shuffle buffer per worker) is cut
  into contiguous ranges, one per rank x loader worker, so every sample is read once per epoch whatever the shard
  counts (no shard-level split that leaves a worker short, no hang). Training ranks get equal shares (whole batches);
  the few samples beyond them (fewer than ranks x workers x batch) are that epoch's dropped last batch, as
  drop_last drops them in timm's map-style loader. Evaluation under DDP pads the last rank with fully-unknown
  targets, which every masked metric ignores;
- exact resume: the stream of each worker is a pure function of (seed, epoch, rank, worker), so a recovery checkpoint
  taken after b batches resumes by replaying each worker's first batches without decoding their images.
Shards on object storage: `--data-dir 'pipe:curl -s https://host/shards/'` (webdataset's pipe: URL convention: the
shard file name is appended to the command).
"""
import hashlib
import io
import json
import logging
import math
import os
import random
import shlex
from typing import Dict, List, Optional

import numpy as np
import torch
import torch.distributed as dist
from timm.data.readers.shared_count import SharedCount
from torch.utils.data import IterableDataset, get_worker_info

from timm_ml.image import decode_image
from timm_ml.schema import LabelSchema
from timm_ml.utils.outside import check_plain_name

from .readers import LabelFileError
from .seeding import seed_sample
from .targets import NEGATIVE, UNKNOWN

_logger = logging.getLogger(__name__)

INFO_FILE = '_info.json'
IMAGE_EXTENSIONS = ('jpg', 'jpeg', 'png', 'webp', 'bmp', 'tif', 'tiff', 'gif')  # what the one decoder reads
SHUFFLE_BUFFER = 1000
MAX_MEMBER_BYTES = 1 << 30  # a larger member of an image shard is a damaged header, not an image


def open_url(root: str, name: str):
    """A binary file object for `name` under `root`: a local folder, or a webdataset pipe:/http URL prefix."""
    check_plain_name(name, 'shard file name', root)
    if root.startswith('pipe:'):  # the command runs in a shell: the name is one quoted word of it
        import webdataset
        return webdataset.gopen(root + shlex.quote(name), 'rb')
    if '://' in root:
        import webdataset
        return webdataset.gopen(root + name, 'rb')
    return open(os.path.join(root, name), 'rb')


def read_info(root: str) -> dict:
    try:
        with open_url(root, INFO_FILE) as f:
            return json.load(f)
    except (OSError, ValueError) as e:
        raise LabelFileError(f'{root}: no readable {INFO_FILE} ({e}); write shards with python -m timm_ml.data.to_shards') \
            from e


class StreamedLabels:
    """ What create_label_sets returns for a streamed split: the schema and counts, no per-image targets in memory.

    Args:
        root: Shard folder or URL prefix. split: Split name. info: The parsed _info.json.
    """
    streamed = True
    format = 'wds'

    def __init__(self, root: str, split: str, info: dict):
        splits = info.get('splits') or {}
        if split not in splits:
            for alias in {'val': ('validation',), 'validation': ('val',)}.get(split, ()):
                if alias in splits:
                    split = alias
                    break
            else:
                raise LabelFileError(f'{root}/{INFO_FILE}: no split {split!r} (splits: {sorted(splits)})')
        if 'schema' not in info and 'classes' not in info:
            raise LabelFileError(f'{root}/{INFO_FILE}: no classes: these shards were not written by '
                                 'timm_ml.data.to_shards (multi-label targets need the class list and schema)')
        s = splits[split]
        self.root, self.split, self.info = root, split, info
        self.schema = LabelSchema.from_dict(info['schema']) if info.get('schema') else LabelSchema(info['classes'])
        where = f'{root}/{INFO_FILE}'
        self.filenames = [check_plain_name(n, 'shard file name', where) for n in s['filenames']]
        self.shard_lengths = [int(n) for n in s['shard_lengths']]
        if any(n < 0 for n in self.shard_lengths) or len(set(self.filenames)) != len(self.filenames):
            raise LabelFileError(f'{where}: split {split!r}: negative shard lengths or a shard listed twice')
        if len(self.filenames) != len(self.shard_lengths) or sum(self.shard_lengths) != int(s['num_samples']):
            raise LabelFileError(f'{root}/{INFO_FILE}: split {split!r}: {len(self.filenames)} shards, '
                                 f'{len(self.shard_lengths)} lengths summing to {sum(self.shard_lengths)}, num_samples '
                                 f'{s["num_samples"]}')
        self.counts = np.asarray(s.get('class_counts') or np.zeros((3, self.schema.num_classes)), dtype=np.int64)
        self.source = f'{root} ({split}, {len(self.filenames)} shards)'
        self.skipped: List[str] = []
        self.paths = []  # no random access
        self.targets = _StreamTargets(self.counts)

    @property
    def classes(self):
        return self.schema.classes

    @property
    def num_classes(self):
        return self.schema.num_classes

    def __len__(self):
        return sum(self.shard_lengths)

    def class_counts(self) -> np.ndarray:
        return self.counts

    def describe(self) -> str:
        entries = max(1, len(self) * self.num_classes)
        line = (f'{self.source}: {len(self)} images (streamed), {self.num_classes} classes, '
                f'{self.counts[0].sum() / max(1, len(self)):.2f} positives per image, '
                f'{100 * self.counts[2].sum() / entries:.1f}% unknown')
        return line + (f', {self.schema.describe()}' if self.schema.groups else '')


def read_stream_split(root: str, split: str) -> StreamedLabels:
    return StreamedLabels(root, split, read_info(root))


class _StreamTargets:
    """class_counts() of a streamed split, where losses and checks read counts (no per-image rows)."""

    def __init__(self, counts):
        self._counts = counts

    def class_counts(self):
        return self._counts


def decode_target(meta: dict, num_classes: int) -> np.ndarray:
    """(C,) float32 target of a sample's sidecar: pos / neg / unk indices around fill."""
    fill = int(meta.get('fill', NEGATIVE))
    out = np.full(num_classes, fill, dtype=np.float32)
    for key, value in (('pos', 1), ('neg', 0), ('unk', UNKNOWN)):
        idx = meta.get(key) or []
        if idx:
            idx = np.asarray(idx, dtype=np.int64)
            if idx.min() < 0 or idx.max() >= num_classes:
                raise LabelFileError(f'sample {meta.get("__key__")}: class index out of range 0..{num_classes - 1}')
            out[idx] = value
    return out


def _pax_path(data: bytes) -> Optional[str]:
    """The `path` of a pax extended header. Records are length-prefixed ("<len> key=value\\n", len counting the whole
    record), so a value may itself hold newlines."""
    path, at = None, 0
    while at < len(data):
        space = data.find(b' ', at)
        if space < 0 or not data[at:space].isdigit():
            break
        end = at + int(data[at:space])
        key, _, value = data[space + 1:end - 1].partition(b'=')
        if key == b'path':
            path = value.decode('utf-8', 'surrogateescape')
        at = end
    return path


def _tar_members(fileobj):
    """(name, bytes) of the regular files of a tar stream, read block by block (ustar, GNU long names, pax path
    records): several times cheaper per member than tarfile for the small members of image shards."""
    long_name, pax_path = None, None
    read = fileobj.read
    while True:
        header = read(512)
        if len(header) < 512 or header == b'\0' * 512:
            return
        size_field = header[124:136].rstrip(b'\0 ')
        if size_field[:1] in (b'\x80', b'\xff'):  # base-256 size (GNU, members over 8 GB)
            size = int.from_bytes(size_field[1:], 'big')
        else:
            try:
                size = int(size_field or b'0', 8)
            except ValueError:
                raise OSError(f'damaged tar header (size field {size_field[:12]!r})') from None
        if size > MAX_MEMBER_BYTES:
            raise OSError(f'a tar member declares {size} bytes (damaged header; members of image shards are images)')
        kind = header[156:157]
        data = read(size)
        if len(data) < size:
            raise OSError(f'truncated tar member (wanted {size} bytes, got {len(data)})')
        if size % 512:
            read(512 - size % 512)
        if kind == b'L':  # GNU long name of the next member
            long_name = data.rstrip(b'\0').decode('utf-8', 'surrogateescape')
            continue
        if kind in (b'x', b'g'):  # pax extended header: "<len> key=value\n" records
            if kind == b'x':
                pax_path = _pax_path(data) or pax_path
            continue
        if kind not in (b'0', b'\0', b'7'):
            long_name = pax_path = None
            continue
        name = header[:100].split(b'\0', 1)[0].decode('utf-8', 'surrogateescape')
        if header[257:262] == b'ustar' and header[345:500].strip(b'\0'):
            name = header[345:500].split(b'\0', 1)[0].decode('utf-8', 'surrogateescape') + '/' + name
        name = pax_path or long_name or name
        long_name = pax_path = None
        yield name, data


def _tar_samples(fileobj):
    """(key, {ext: bytes}) of a tar stream, members grouped by key (webdataset's key.ext naming)."""
    key, parts = None, {}
    for name, data in _tar_members(fileobj):
        base = os.path.basename(name)
        k, _, ext = name.rpartition('.') if '.' in base else (name, '', '')
        if key is not None and k != key:
            yield key, parts
            parts = {}
        key = k
        if ext.lower() in parts:
            raise ValueError(f'sample key {key!r} appears twice (a repeated member {name!r})')
        parts[ext.lower()] = data
    if key is not None:
        yield key, parts


class StreamDataset(IterableDataset):
    """ An epoch of a streamed split for one rank, its loader workers reading disjoint contiguous sample ranges.

    Args:
        labels: StreamedLabels. is_training: Shuffle (shard order and a per-worker buffer) and equal whole batches.
        batch_size: Loader batch size (training shares are whole batches). seed: Base seed.
        img_mode: PIL mode. rank / world_size: DDP position (default: from torch.distributed).
        shuffle_buffer: Samples held by each worker's shuffle buffer.
    """

    def __init__(self, labels: StreamedLabels, is_training: bool = False, batch_size: int = 1, seed: int = 0,
                 img_mode: str = 'RGB', rank: Optional[int] = None, world_size: Optional[int] = None,
                 shuffle_buffer: int = SHUFFLE_BUFFER, transform=None):
        self.labels = labels
        self.label_set = labels
        self.targets = _StreamTargets(labels.counts)
        self.skipped: List[str] = []
        self.is_training, self.batch_size, self.seed = is_training, max(1, batch_size), seed
        self.img_mode, self.shuffle_buffer, self.transform = img_mode, shuffle_buffer, transform
        distributed = dist.is_available() and dist.is_initialized()
        self.rank = rank if rank is not None else (dist.get_rank() if distributed else 0)
        self.world_size = world_size if world_size is not None else (dist.get_world_size() if distributed else 1)
        self.num_workers = 1
        self._epoch = SharedCount(0)  # shared with persistent loader workers, as timm's stream readers do
        self._skip = SharedCount(0)
        self.num_classes = labels.num_classes

    @property
    def epoch(self) -> int:
        return self._epoch.value

    @property
    def skip_batches(self) -> int:
        return self._skip.value

    # what timm's create_loader and train.py call
    def set_loader_cfg(self, num_workers: Optional[int] = None):
        self.num_workers = max(1, num_workers or 0)

    def set_epoch(self, epoch: int):
        self._epoch.value = epoch
        self._skip.value = 0

    def set_skip_batches(self, batches: int, saved: Optional[dict] = None):
        """Resume inside an epoch: the rank's first `batches` batches were trained before the recovery checkpoint
        (`saved`: the stream position it recorded, checked against this reading layout)."""
        check_resume_layout(saved, self)
        self._skip.value = batches

    def stream_position(self, batches: int) -> Dict[str, int]:
        """What a recovery checkpoint records of the stream: the batches done and the reading layout."""
        return stream_position(self, batches)

    # the epoch's plan
    def _rank_range(self):
        total = len(self.labels)
        per_rank = math.ceil(total / self.world_size)
        if self.is_training:
            per_rank = (total // self.world_size // (self.num_workers * self.batch_size)) * \
                (self.num_workers * self.batch_size)
            if per_rank == 0:
                raise LabelFileError(f'{self.labels.source}: {total} samples are fewer than one batch of '
                                     f'{self.batch_size} per loader worker ({self.num_workers}) and rank '
                                     f'({self.world_size}); lower -b or -j')
        start = self.rank * per_rank
        return start, per_rank

    def _worker_range(self, worker: int):
        start, per_rank = self._rank_range()
        if self.is_training:
            share = per_rank // self.num_workers
            return start + worker * share, share
        base, extra = divmod(per_rank, self.num_workers)
        share = base + (worker < extra)
        return start + worker * base + min(worker, extra), share

    def __len__(self):
        return self._rank_range()[1]

    @property
    def num_valid_samples(self):
        """Real (not padding) samples of this rank in evaluation."""
        start, per_rank = self._rank_range()
        return max(0, min(per_rank, len(self.labels) - start))

    def _shard_order(self):
        order = list(range(len(self.labels.filenames)))
        if self.is_training:
            random.Random(self.seed * 1000003 + self.epoch).shuffle(order)
        return order

    def _samples(self, first: int, count: int):
        """(key, parts, padding) of the global sequence positions first .. first + count (positions past the end wrap
        to the beginning and are padding)."""
        order = self._shard_order()
        starts = np.cumsum([0] + [self.labels.shard_lengths[i] for i in order])
        total = int(starts[-1])
        pos, end = first, first + count
        while pos < end:
            p = pos % total
            s = int(np.searchsorted(starts, p, side='right') - 1)
            shard = order[s]
            offset = p - int(starts[s])
            take = min(end - pos, self.labels.shard_lengths[shard] - offset)
            yield from self._read_shard(shard, offset, take, pos, total)
            pos += take

    def _read_shard(self, shard: int, offset: int, take: int, pos: int, total: int):
        """Samples offset .. offset + take of a shard; a shard shorter than _info.json declares, a repeated key or a
        damaged tar is an error naming the shard."""
        name = self.labels.filenames[shard]
        where = f'{self.labels.root}: shard {name}'
        seen, read = set(), 0
        try:
            with open_url(self.labels.root, name) as f:
                for i, (key, parts) in enumerate(_tar_samples(f)):
                    if key in seen:
                        raise LabelFileError(f'{where}: sample key {key!r} appears twice (damaged or concatenated '
                                             'shard); rewrite it with python -m timm_ml.data.to_shards')
                    seen.add(key)
                    if i < offset:
                        continue
                    if i >= offset + take:
                        break
                    read += 1
                    yield key, parts, pos + (i - offset) >= total, pos + (i - offset)
        except (OSError, ValueError, EOFError) as e:
            if isinstance(e, LabelFileError):
                raise
            raise LabelFileError(f'{where}: cannot be read ({e}); rewrite it with python -m timm_ml.data.to_shards') \
                from None
        if read < take:
            raise LabelFileError(f'{where}: holds {offset + read} samples, {INFO_FILE} declares '
                                 f'{self.labels.shard_lengths[shard]}: truncated or replaced; rewrite it with python -m '
                                 'timm_ml.data.to_shards')

    def _worker_stream(self, worker: int):
        first, count = self._worker_range(worker)
        stream = self._samples(first, count)
        if not self.is_training or self.shuffle_buffer <= 1:
            yield from stream
            return
        rng = random.Random(((self.seed * 7919 + self.epoch) * 104729 + self.rank) * 1009 + worker)
        buffer = []
        for sample in stream:
            buffer.append(sample)
            if len(buffer) >= self.shuffle_buffer:
                i = rng.randrange(len(buffer))
                buffer[i], buffer[-1] = buffer[-1], buffer[i]
                yield buffer.pop()
        rng.shuffle(buffer)
        yield from buffer

    def keys(self, worker: int = 0) -> List[str]:
        """The sample keys worker `worker` reads this epoch, in order (for tests and checks)."""
        return [k for k, _, _, _ in self._worker_stream(worker)]

    def __iter__(self):
        info = get_worker_info()
        worker = info.id if info is not None else 0
        if info is not None and info.num_workers != self.num_workers:
            self.num_workers = info.num_workers
        skip = 0
        if self.skip_batches:
            # round robin: the rank's batch b came from worker b % num_workers, and a new loader starts its round at
            # worker 0; so worker w continues the stream of worker (w + done) % num_workers after its first batches
            done = self.skip_batches
            worker = (worker + done) % self.num_workers
            skip = max(0, -(-(done - worker) // self.num_workers)) * self.batch_size
        for n, (key, parts, padding, position) in enumerate(self._worker_stream(worker)):
            if n < skip:
                continue
            yield self._decode(key, parts, padding, position)

    def _decode(self, key, parts, padding, position):
        image_ext = next((e for e in IMAGE_EXTENSIONS if e in parts), None)
        if image_ext is None or 'json' not in parts:
            raise LabelFileError(f'{self.labels.root}: sample {key!r} has no image ({"/".join(IMAGE_EXTENSIONS)}) or '
                                 'no .json sidecar')
        meta = json.loads(parts['json'])
        meta['__key__'] = key
        target = decode_target(meta, self.num_classes)
        if padding:
            target[:] = UNKNOWN  # a duplicate that evens out the ranks: every masked metric ignores it
        img = decode_image(io.BytesIO(parts[image_ext]), self.img_mode)
        if self.is_training:
            seed_sample(self.seed, self.epoch, position)
        if self.transform is not None:
            img = self.transform(img)
        return img, torch.from_numpy(target)


def create_stream_dataset(labels: StreamedLabels, is_training: bool, batch_size: int, seed: int = 0,
                          input_img_mode: str = 'RGB', shuffle_buffer: Optional[int] = None):
    """The StreamDataset of a streamed split (training: shuffled through `shuffle_buffer`, default SHUFFLE_BUFFER)."""
    return StreamDataset(labels, is_training=is_training, batch_size=batch_size, seed=seed, img_mode=input_img_mode,
                         shuffle_buffer=(SHUFFLE_BUFFER if shuffle_buffer is None else shuffle_buffer) if is_training
                         else 0)


def stream_position(dataset: StreamDataset, batches: int) -> Dict[str, int]:
    """What a recovery checkpoint records of a stream: the batches done and the reading layout they assume."""
    return dict(batches=int(batches), workers=dataset.num_workers, world_size=dataset.world_size,
                batch_size=dataset.batch_size, epoch=dataset.epoch, shards=shard_layout(dataset.labels))


def shard_layout(labels: 'StreamedLabels') -> str:
    """The shards a streamed split is read from (names and lengths): the samples an epoch's batches hold depend on
    it, so a recovery resume on re-sharded data is refused."""
    return hashlib.sha1(json.dumps([labels.filenames, labels.shard_lengths]).encode()).hexdigest()[:16]


def check_resume_layout(saved: Optional[dict], dataset: StreamDataset):
    """A streamed epoch resumes exactly only with the layout it was read with."""
    if not saved:
        return
    now = dict(workers=dataset.num_workers, world_size=dataset.world_size, batch_size=dataset.batch_size)
    diff = {k: (saved.get(k), v) for k, v in now.items() if saved.get(k) != v}
    if diff:
        raise LabelFileError('--resume inside a streamed epoch needs the reading layout it was saved with: '
                             + ', '.join(f'{k} {a} then, {b} now' for k, (a, b) in diff.items())
                             + ' (give the same -j, -b and number of processes)')
    if saved.get('shards') is not None and saved['shards'] != shard_layout(dataset.labels):
        raise LabelFileError(f'--resume inside a streamed epoch: the shards of {dataset.labels.source} are not the ones '
                             'the recovery checkpoint read (re-sharded or rewritten), so the rest of the epoch would be '
                             'other samples. Resume from the last epoch checkpoint (last.pth.tar).')
