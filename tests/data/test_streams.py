""" WebDataset shards: the converter round-trips every target, a streamed epoch reads each sample once across ranks x
loader workers whatever the shard counts, and a resumed stream continues exactly."""
import json
import io
import os

import numpy as np
import pytest
import torch
from hypothesis import example, given, settings
from hypothesis import strategies as st

from tests.helpers import read
from timm_ml.data import LabelFileError
from timm_ml.data.streams import StreamDataset, read_stream_split
from timm_ml.data.to_shards import convert

TO_TENSOR = lambda img: torch.from_numpy(np.asarray(img).copy()).permute(2, 0, 1)  # noqa: E731


@pytest.fixture(scope='module')
def shards(mosaic_data, tmp_path_factory):
    out = str(tmp_path_factory.mktemp('shards'))
    convert(mosaic_data, out, ['train', 'val'], shard_size=23, verify=True, log=lambda *a: None)  # 192 = 8 x 23 + 8
    return out


def test_converter_writes_timm_info_and_verifies_every_sample(shards, mosaic_data):
    info = json.load(open(os.path.join(shards, '_info.json')))
    train = info['splits']['train']
    assert train['num_samples'] == 192 and train['shard_lengths'] == [23] * 8 + [8]
    assert info['classes'] == read(mosaic_data, 'train').classes
    labels = read_stream_split(shards, 'validation')  # timm's default name finds val
    assert labels.split == 'val' and len(labels) == 97
    assert (labels.class_counts() == read(mosaic_data, 'val').targets.class_counts()).all()


def test_an_interrupted_conversion_resumes_and_a_tampered_shard_fails_verify(mosaic_data, tmp_path):
    out = str(tmp_path / 's')
    convert(mosaic_data, out, ['val'], shard_size=40, log=lambda *a: None)
    os.remove(os.path.join(out, 'val-000001.tar'))  # as if killed before it was written
    written = []
    convert(mosaic_data, out, ['val'], shard_size=40, log=written.append)
    assert len(written) == 1 and 'shard 2/3' in written[0]  # only the missing shard is written again
    from timm_ml.data.to_shards import verify_split
    labels = read(mosaic_data, 'val')
    with open(os.path.join(out, 'val-000002.tar'), 'r+b') as f:
        f.seek(700)
        f.write(b'\x00' * 8)  # corrupt an image's bytes
    with pytest.raises(LabelFileError, match='val-000002.tar: sample .* image bytes differ'):
        verify_split(labels, 'val', out, ['val-000000.tar', 'val-000001.tar', 'val-000002.tar'])


def test_a_rerun_after_the_labels_changed_rewrites_the_changed_shards(mosaic_data, tmp_path):
    import shutil
    root, out = str(tmp_path / 'data'), str(tmp_path / 's')
    shutil.copytree(mosaic_data, root)
    convert(root, out, ['val'], shard_size=40, log=lambda *a: None)
    label_file = read(root, 'val').source
    data = json.load(open(label_file))  # {"classes": [...], "images": [[path, [labels]], ...]}
    path, labels_of = data['images'][0]
    data['images'][0] = [path, [c for c in data['classes'] if c not in labels_of][:1]]  # the first image relabelled
    json.dump(data, open(label_file, 'w'))
    written = []
    convert(root, out, ['val'], shard_size=40, verify=True, log=written.append)  # verify: the shards hold the new labels
    assert written[0].startswith('val: rewriting val-000000.tar: its images or labels changed')
    assert not any('val-000001' in w or 'shard 2/3' in w for w in written)  # unchanged shards are kept
    # an image replaced by another of the same size, its mtime restored (cp -p): the shard is rewritten too
    second = os.path.join(root, data['images'][45][0])
    other = os.path.join(root, data['images'][46][0])
    before = os.stat(second)
    with open(other, 'rb') as f:
        replacement = f.read()
    with open(second, 'wb') as f:
        f.write(replacement[:before.st_size].ljust(before.st_size, b'\0'))
    os.utime(second, ns=(before.st_atime_ns, before.st_mtime_ns))
    written = []
    convert(root, out, ['val'], shard_size=40, log=written.append)
    assert written[0].startswith('val: rewriting val-000001.tar: its images or labels changed'), written


# --- found by an adversarial pass (each failed before its fix) ---

def test_a_conversion_that_fails_leaves_no_info_to_read_the_shards_through(mosaic_data, tmp_path, monkeypatch):
    """A reconversion killed or failed after rewriting some shards (say with a changed class list) left the old
    _info.json: training read the new class indices through the old list, silently."""
    import timm_ml.data.to_shards as to_shards
    out = str(tmp_path / 's')
    convert(mosaic_data, out, ['val'], shard_size=40, log=lambda *a: None)
    real = to_shards.write_split

    def fail_after_a_shard(labels, split, out_, shard_size, progress, log=print, allow_outside=False):
        real(labels, split, out_, shard_size, progress, log, allow_outside)
        raise OSError('disk full')
    monkeypatch.setattr(to_shards, 'write_split', fail_after_a_shard)
    with pytest.raises(OSError):
        convert(mosaic_data, out, ['val'], shard_size=40, log=lambda *a: None)
    with pytest.raises(LabelFileError, match='no readable _info.json'):
        read_stream_split(out, 'val')
    monkeypatch.setattr(to_shards, 'write_split', real)
    convert(mosaic_data, out, ['val'], shard_size=40, log=lambda *a: None)  # the rerun finishes the dataset
    assert len(read_stream_split(out, 'val')) == 97


def test_a_second_conversion_into_the_same_folder_is_refused(mosaic_data, tmp_path):
    """Two conversions shared the shards' temp files: a shard truncated, reported written."""
    from timm_ml.utils.lock import LockedError as RunFolderError, RunLock
    out = str(tmp_path / 's')
    os.makedirs(out)
    holder = RunLock(out, 'timm_ml.data.to_shards')
    try:
        with pytest.raises(RunFolderError, match='being written by timm_ml.data.to_shards pid .*another --out'):
            convert(mosaic_data, out, ['val'], shard_size=40, log=lambda *a: None)
    finally:
        holder.release()
    convert(mosaic_data, out, ['val'], shard_size=40, log=lambda *a: None)


def test_a_truncated_shard_or_unreadable_progress_is_written_again(mosaic_data, tmp_path):
    """A truncated shard kept its matching stamp and was kept; an empty _progress.json was a traceback."""
    out = str(tmp_path / 's')
    convert(mosaic_data, out, ['val'], shard_size=40, log=lambda *a: None)
    with open(os.path.join(out, 'val-000001.tar'), 'r+b') as f:
        f.truncate(1000)
    written = []
    convert(mosaic_data, out, ['val'], shard_size=40, verify=True, log=written.append)
    assert written[0].startswith('val: rewriting val-000001.tar') and not any('val-000000' in w for w in written)
    open(os.path.join(out, '_progress.json'), 'w').close()
    written = []
    convert(mosaic_data, out, ['val'], shard_size=40, verify=True, log=written.append)
    assert 'unreadable; every shard is written again' in written[0] and sum(': shard ' in w for w in written) == 3
    with pytest.raises(LabelFileError, match='--shard-size must be at least 1'):
        convert(mosaic_data, out, ['val'], shard_size=0, log=lambda *a: None)


def _keys(labels, training, world, workers, batch=8, epoch=0):
    keys = []
    for rank in range(world):
        ds = StreamDataset(labels, is_training=training, batch_size=batch, seed=0, rank=rank, world_size=world)
        ds.set_loader_cfg(workers)
        ds.set_epoch(epoch)
        per_rank = [ds.keys(w) for w in range(workers)]
        keys.append(per_rank)
        assert sum(map(len, per_rank)) == len(ds)
    return keys


@pytest.mark.parametrize('world,workers', [(1, 1), (2, 2), (3, 2), (2, 3)])
def test_evaluation_reads_each_sample_once_across_ranks_and_workers(shards, world, workers):
    labels = read_stream_split(shards, 'val')  # 97 samples in 5 shards of 23, 23, 23, 23, 5: nothing divides
    keys = _keys(labels, False, world, workers)
    flat = [k for rank in keys for w in rank for k in w]
    assert sorted(set(flat)) == sorted(f'val-{i:09d}' for i in range(97))  # every sample
    padding = -(-97 // world) * world - 97
    assert len(flat) == 97 + padding and len(set(flat)) == 97  # once, plus the last rank's padding


@pytest.mark.parametrize('world,workers', [(2, 2), (3, 1)])
def test_training_epochs_are_whole_batches_equal_per_rank_and_reshuffled(shards, world, workers):
    labels = read_stream_split(shards, 'train')
    keys = _keys(labels, True, world, workers, batch=8)
    per_rank = [sum(map(len, rank)) for rank in keys]
    assert len(set(per_rank)) == 1 and per_rank[0] % (8 * workers) == 0  # same steps on every rank: no DDP hang
    flat = [k for rank in keys for w in rank for k in w]
    assert len(flat) == len(set(flat)) and 192 - len(flat) < world * workers * 8  # at most once; dropped < a batch each
    again = [k for rank in _keys(labels, True, world, workers, batch=8) for w in rank for k in w]
    assert again == flat  # seeded
    other = [k for rank in _keys(labels, True, world, workers, batch=8, epoch=1) for w in rank for k in w]
    assert other != flat  # another epoch, another order


def test_a_resumed_stream_continues_after_the_batches_done(shards):
    labels = read_stream_split(shards, 'train')
    full = StreamDataset(labels, is_training=True, batch_size=8, seed=0, transform=TO_TENSOR)
    full.set_loader_cfg(2)
    loader = torch.utils.data.DataLoader(full, batch_size=8, num_workers=2)
    targets = [t for _, t in loader]
    resumed = StreamDataset(labels, is_training=True, batch_size=8, seed=0, transform=TO_TENSOR)
    resumed.set_loader_cfg(2)
    resumed.set_skip_batches(5, saved=dict(workers=2, world_size=1, batch_size=8))
    rest = [t for _, t in torch.utils.data.DataLoader(resumed, batch_size=8, num_workers=2)]
    assert len(rest) == len(targets) - 5
    assert all(torch.equal(a, b) for a, b in zip(rest, targets[5:]))
    with pytest.raises(LabelFileError, match='workers 2 then, 1 now'):
        resumed.set_loader_cfg(1)
        resumed.set_skip_batches(5, saved=dict(workers=2, world_size=1, batch_size=8))
    # re-sharded data: the recovery position names other shards (regression: another epoch, no warning)
    resumed.set_loader_cfg(2)
    position = full.stream_position(5)
    resumed.set_skip_batches(5, saved=position)  # the same shards: accepted
    labels.shard_lengths = labels.shard_lengths[::-1]
    with pytest.raises(LabelFileError, match='not the ones the recovery checkpoint read'):
        resumed.set_skip_batches(5, saved=position)


def test_shards_shorter_than_declared_with_a_repeated_key_or_damaged_are_named(shards, tmp_path):
    """A shard shorter than _info.json declares was read short; a repeated key read as one sample; a damaged size
    field ended in MemoryError: each is now an error naming the shard."""
    import shutil
    import tarfile
    copy = str(tmp_path / 'copy')
    shutil.copytree(shards, copy)
    labels = read_stream_split(copy, 'val')
    first = os.path.join(copy, labels.filenames[0])
    with tarfile.open(first) as tar:
        members = [(m, tar.extractfile(m).read()) for m in tar.getmembers()]
    for name, keep in (('short', members[:-2]), ('dup', members[:2] + members)):
        with tarfile.open(first, 'w') as tar:
            for m, data in keep:
                tar.addfile(m, io.BytesIO(data))
        ds = StreamDataset(read_stream_split(copy, 'val'), batch_size=97, transform=TO_TENSOR)
        message = 'holds .* samples, _info.json declares' if name == 'short' else 'appears twice'
        with pytest.raises(LabelFileError, match=rf'shard {labels.filenames[0]}: .*{message}'):
            list(ds)
    with open(first, 'r+b') as f:  # an 8 GB size field
        f.seek(124)
        f.write(b'77777777777')
    with pytest.raises(LabelFileError, match=rf'shard {labels.filenames[0]}: cannot be read .*declares'):
        list(StreamDataset(read_stream_split(copy, 'val'), batch_size=97, transform=TO_TENSOR))


def test_streamed_targets_equal_the_folder_targets(shards, mosaic_data):
    folder = read(mosaic_data, 'val')
    ds = StreamDataset(read_stream_split(shards, 'val'), batch_size=97, transform=TO_TENSOR)
    (images, targets), = list(torch.utils.data.DataLoader(ds, batch_size=97))
    assert np.array_equal(targets.numpy(), folder.targets.dense(dtype=np.float32))


@settings(deadline=None)
@given(st.lists(st.tuples(st.text(st.characters(blacklist_categories=('Cs',), blacklist_characters='\x00/'),
                                  min_size=1, max_size=140), st.binary(max_size=1500)), min_size=1, max_size=6),
       st.sampled_from(['pax', 'gnu', 'ustar']))
@example([('\n\x80', b'')], 'pax')  # a newline inside a pax path record (found by CI)
@example([('a\n9 path=evil\n', b'x')], 'pax')
def test_the_block_reader_reads_what_tarfile_writes(members, fmt):
    """Long names (pax / GNU records), unicode, empty and block-sized members, folders: as tarfile reads them."""
    import io
    import tarfile
    from timm_ml.data.streams import _tar_members
    fmt = dict(pax=tarfile.PAX_FORMAT, gnu=tarfile.GNU_FORMAT, ustar=tarfile.USTAR_FORMAT)[fmt]
    buffer = io.BytesIO()
    written = []
    with tarfile.open(fileobj=buffer, mode='w', format=fmt) as tar:
        folder = tarfile.TarInfo('a_folder')
        folder.type = tarfile.DIRTYPE
        tar.addfile(folder)
        for n, (name, data) in enumerate(members):
            name = f'{n}/{name}'
            info = tarfile.TarInfo(name)
            info.size = len(data)
            try:
                tar.addfile(info, io.BytesIO(data))
            except ValueError:  # ustar cannot hold this name: nothing written
                continue
            written.append((name, data))
    buffer.seek(0)
    assert list(_tar_members(buffer)) == written
