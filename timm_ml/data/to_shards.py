""" Write any supported label source as WebDataset tar shards for `--dataset wds/...` (resumable, verifiable).

    python -m timm_ml.data.to_shards <data root> --out DIR [--splits train validation test] [--shard-size 1000]
                                     [--label-format ... --label-delimiter ... (train.py's label options)] [--verify]

Each split becomes `<split>-000000.tar`, ... holding `<key>.<ext>` (the image bytes as stored, no re-encoding) and
`<key>.json` ({"path": original path, "pos"/"neg"/"unk": class indices around "fill"}); `_info.json` holds timm's split
info (filenames, shard_lengths, num_samples) plus the classes, the label schema and per-split class counts. The classes
and schema come from the first split; the others must hold them. Every shard is written to a temp file and renamed;
a rerun skips the shards already finished (`_progress.json`: the shard's source and its size), so a killed conversion
resumes. `_info.json` is removed when a conversion starts and written when it ends: shards half rewritten (a class
list changed, a run killed or failed) are never read through the old class list. One conversion writes a folder at a
time (a lock). `--verify` re-reads every shard and checks each sample's key, image bytes and targets against the
source.
"""
import argparse
import hashlib
import io
import json
import os
import sys
import tarfile
import time

import numpy as np

from timm_ml.config import label_options
from timm_ml.utils.lock import LOCK_FILE, LockedError, RunLock
from timm_ml.utils.outputs import GENERATOR, OutputError, own_folder_kind
from timm_ml.utils.writer import write_file, write_text

from .label_args import add_label_args
from .label_set import LabelSet
from .label_sets import reader_options
from .readers import LabelFileError, LabelOptions, read_label_set
from .streams import IMAGE_EXTENSIONS, INFO_FILE, _tar_samples, decode_target

PROGRESS_FILE = '_progress.json'


def sample_meta(labels: LabelSet, i: int) -> dict:
    t = labels.targets
    s, e = t.indptr[i], t.indptr[i + 1]
    idx, val = t.indices[s:e], t.values[s:e]
    meta = dict(path=labels.paths[i], fill=int(t.fill))
    for key, value in (('pos', 1), ('neg', 0), ('unk', -1)):
        chosen = idx[val == value]
        if len(chosen):
            meta[key] = [int(c) for c in chosen]
    return meta


def _atomic_json(path, data):
    """_info.json / _progress.json, whole, marked as ours (a later conversion may replace this folder)."""
    write_text(path, json.dumps(dict(data, writer=GENERATOR)), 'shard folder', kinds=None)


def _add(tar, name, data: bytes):
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = 0
    tar.addfile(info, io.BytesIO(data))


def _shard_source_digest(labels: LabelSet, rows) -> str:
    """What a finished shard was made of: each sample's path and targets and its image file's size, mtime, inode and
    change time, so a rerun after the labels or images changed rewrites the shard instead of keeping the old content
    (an image replaced by one of the same size with its mtime restored, as `cp -p` does, still has a new ctime; a
    moved source folder is converted again, never kept stale)."""
    digest = hashlib.sha1()
    for i in rows:
        stat = os.stat(os.path.join(labels.root, labels.paths[i]))
        digest.update(json.dumps([sample_meta(labels, i), stat.st_size, stat.st_mtime_ns, stat.st_ino,
                                  stat.st_ctime_ns]).encode())
    return digest.hexdigest()


def write_split(labels: LabelSet, split: str, out: str, shard_size: int, progress: dict, log=print,
                allow_outside: bool = False):
    """Shards of one split; returns (filenames, shard lengths)."""
    n = len(labels)
    names, lengths = [], []
    done = progress.setdefault(split, {})
    classes = hashlib.sha1(json.dumps(labels.classes).encode()).hexdigest()[:12]
    for shard, start in enumerate(range(0, n, shard_size)):
        name = f'{split}-{shard:06d}.tar'
        rows = range(start, min(n, start + shard_size))
        stamp = f'{start}:{len(rows)}:{classes}:{_shard_source_digest(labels, rows)}'
        names.append(name)
        lengths.append(len(rows))
        target = os.path.join(out, name)
        if os.path.isfile(target):
            if done.get(name) == f'{stamp}:{os.path.getsize(target)}':
                continue
            if name in done:
                log(f'{split}: rewriting {name}: its images or labels changed since it was written, or the shard did')
        def write(tmp):
            with tarfile.open(tmp, 'w') as tar:
                for i in rows:
                    key = f'{split}-{i:09d}'
                    path = os.path.join(labels.root, labels.paths[i])
                    ext = os.path.splitext(path)[1].lower().lstrip('.') or 'jpg'
                    ext = 'jpg' if ext == 'jpeg' else ext
                    if ext not in IMAGE_EXTENSIONS:
                        raise LabelFileError(f'{labels.source}: image {labels.paths[i]!r}: extension .{ext} is not an '
                                             f'image format the stream reader decodes ({", ".join(IMAGE_EXTENSIONS)})')
                    check_copy_inside(labels, i, allow_outside)
                    with open(path, 'rb') as f:
                        _add(tar, f'{key}.{ext}', f.read())
                    _add(tar, f'{key}.json', json.dumps(sample_meta(labels, i)).encode())
        try:
            write_file(target, write, '--out', kinds=None)
        except OutputError as e:
            cause = e.__cause__
            if isinstance(cause, OSError) and getattr(cause, 'filename', None) and \
                    not os.path.basename(cause.filename).startswith('.' + name):
                raise cause  # it names its file (a source image)
            raise
        done[name] = f'{stamp}:{os.path.getsize(target)}'
        _atomic_json(os.path.join(out, PROGRESS_FILE), progress)
        log(f'{split}: shard {shard + 1}/{-(-n // shard_size)} ({start + len(rows)}/{n} samples)')
    return names, lengths


def check_copy_inside(labels: LabelSet, i: int, allow_outside: bool):
    """An image copied into a shard must be a file inside the data root, symlinks resolved: a link planted in a data
    folder from someone else must not copy this machine's files into an artifact (--allow-outside-root allows it)."""
    if allow_outside:
        return
    root = os.path.realpath(labels.root or '.')
    real = os.path.realpath(os.path.join(labels.root, labels.paths[i]))
    if os.path.commonpath([root, real]) != root:
        raise LabelFileError(f'{labels.source}: image {labels.paths[i]!r} links to {real}, outside the data root '
                             f'{root}: not copied into the shards (--allow-outside-root copies it)')


def verify_split(labels: LabelSet, split: str, out: str, names) -> int:
    """Re-read every shard of a split against the source: keys in order, image bytes and targets. Returns samples."""
    i = 0
    for name in names:
        with open(os.path.join(out, name), 'rb') as f:
            for key, parts in _tar_samples(f):
                if key != f'{split}-{i:09d}':
                    raise LabelFileError(f'{name}: sample {key!r} where {split}-{i:09d} was expected')
                with open(os.path.join(labels.root, labels.paths[i]), 'rb') as src:
                    digest = hashlib.sha1(src.read()).hexdigest()
                image = next(v for k, v in parts.items() if k != 'json')
                if hashlib.sha1(image).hexdigest() != digest:
                    raise LabelFileError(f'{name}: sample {key!r}: image bytes differ from {labels.paths[i]}')
                got = decode_target(json.loads(parts['json']), labels.num_classes)
                if not np.array_equal(got, labels.targets.row(i)):
                    raise LabelFileError(f'{name}: sample {key!r}: targets differ from the source')
                i += 1
    if i != len(labels):
        raise LabelFileError(f'{split}: {i} samples in the shards, {len(labels)} in the source')
    return i


def convert(root, out, splits, shard_size=1000, label_format='auto', options=None, verify=False, log=print):
    options = options or LabelOptions()
    if os.path.islink(out):
        raise OutputError(f'--out {out}: that is a symbolic link; the shards are never written through one')
    held = os.path.isdir(out) and [n for n in os.listdir(out) if n != LOCK_FILE and not n.startswith('.')]
    if held and own_folder_kind(out) != 'shards':
        raise OutputError(f'--out {out}: that folder exists and is not a shard folder of timm_ml.data.to_shards (another '
                          'tool\'s WebDataset folder, or files of yours); converting into it would replace what it '
                          'holds. Name a new folder.')
    created = not os.path.exists(out)
    os.makedirs(out, exist_ok=True)
    lock = RunLock(out, 'timm_ml.data.to_shards', 'two conversions must not write one shard folder (wait for it to '
                                                  'end, or give this one another --out)')
    try:
        return _convert(root, out, splits, shard_size, label_format, options, verify, log)
    except BaseException:
        if created and os.listdir(out) == [LOCK_FILE]:  # refused before its first shard: leave no folder behind
            os.remove(os.path.join(out, LOCK_FILE))
            os.rmdir(out)
        raise
    finally:
        lock.release()


def _read_progress(path, log):
    if not os.path.isfile(path):
        return {}
    try:
        with open(path) as f:
            progress = json.load(f)
        if isinstance(progress, dict):
            progress.pop('writer', None)
            return progress
    except ValueError:
        pass
    log(f'{path}: unreadable; every shard is written again')
    return {}


def _convert(root, out, splits, shard_size, label_format, options, verify, log):
    if shard_size < 1:
        raise LabelFileError(f'--shard-size must be at least 1, got {shard_size}')
    progress = _read_progress(os.path.join(out, PROGRESS_FILE), log)
    if os.path.exists(os.path.join(out, INFO_FILE)):
        os.remove(os.path.join(out, INFO_FILE))  # until this conversion ends, the shards are not a dataset
    info = dict(format='timm_ml-wds-1', source=os.path.abspath(root), splits={})
    first = None
    for split in splits:
        labels = read_label_set(root, split, label_format, options if first is None else
                                options.with_classes(first.schema), split_flag='--splits')
        if first is None:
            first = labels
            info.update(classes=labels.classes, schema=labels.schema.to_dict())
        names, lengths = write_split(labels, split, out, shard_size, progress, log, options.allow_outside_root)
        info['splits'][split] = dict(name=split, num_samples=len(labels), filenames=names, shard_lengths=lengths,
                                     class_counts=labels.targets.class_counts().tolist(), source=labels.source)
        if verify:
            log(f'{split}: verified {verify_split(labels, split, out, names)} samples against {labels.source}')
    _atomic_json(os.path.join(out, INFO_FILE), info)
    return info


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('data', help='a dataset root (any layout train.py reads) or a label file')
    parser.add_argument('--out', required=True, help='shard folder')
    parser.add_argument('--splits', nargs='+', default=['train', 'validation'])
    parser.add_argument('--shard-size', type=int, default=1000, help='samples per shard (default: 1000)')
    parser.add_argument('--verify', action='store_true', help='re-read every shard against the source')
    add_label_args(parser)
    args = parser.parse_args()
    if os.path.abspath(args.out) == os.path.abspath(args.data):
        sys.exit('error: --out must not be the data folder (the shards would sit among the source files)')
    label_format, options = reader_options(label_options(args))
    start = time.time()
    try:
        info = convert(args.data, args.out, args.splits, args.shard_size, label_format, options, args.verify)
    except (LabelFileError, LockedError, OutputError, OSError) as e:
        print(f'error: {e}', file=sys.stderr)
        sys.exit(2)
    counts = {s: v['num_samples'] for s, v in info['splits'].items()}
    print(f'wrote {counts} samples, {len(info["classes"])} classes to {args.out} in {time.time() - start:.1f} s')


if __name__ == '__main__':
    main()
