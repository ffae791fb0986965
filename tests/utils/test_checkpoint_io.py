""" Checkpoint files: refused / unreadable files named, full disks named with nothing partial left."""
import datetime
import errno
import os

import pytest
import timm
import torch

from timm_ml.models import create_ml_model
from timm_ml.utils import MultiLabelCheckpointSaver, load_checkpoint_file


def test_empty_garbage_and_code_carrying_checkpoints_are_refused(tmp_path):
    (tmp_path / 'zero.pth.tar').write_bytes(b'')
    with pytest.raises(ValueError, match=r'zero\.pth\.tar is empty \(0 bytes\)'):
        load_checkpoint_file(str(tmp_path / 'zero.pth.tar'))
    (tmp_path / 'junk.pth.tar').write_bytes(os.urandom(300))
    with pytest.raises(ValueError, match=r'Cannot read checkpoint .*junk\.pth\.tar'):
        load_checkpoint_file(str(tmp_path / 'junk.pth.tar'))
    torch.save({'state_dict': {}, 'payload': datetime.datetime(2020, 1, 1)}, tmp_path / 'obj.pth.tar')
    with pytest.raises(ValueError, match=r'Refused to load .*obj\.pth\.tar'):
        load_checkpoint_file(str(tmp_path / 'obj.pth.tar'))


def test_pretrained_path_for_another_architecture_is_an_error(tmp_path):
    torch.save(timm.create_model('test_resnet').state_dict(), tmp_path / 'resnet.pth')
    with pytest.raises(ValueError, match=r'only 1 of the 86 backbone tensors of test_efficientnet match.*'
                                         r'python -m timm_ml\.models\.convert'):
        create_ml_model('test_efficientnet', ['a', 'b'], pretrained_path=str(tmp_path / 'resnet.pth'))
    loaded = create_ml_model('test_resnet', ['a', 'b'], pretrained_path=str(tmp_path / 'resnet.pth'))
    source = torch.load(tmp_path / 'resnet.pth')
    assert torch.equal(loaded.conv1[0].weight, source['conv1.0.weight']) and loaded.fc.weight.shape == (2, 96)


def test_full_disk_names_the_folder_and_leaves_no_partial_file(tmp_path, monkeypatch):
    model = create_ml_model('test_resnet', ['a', 'b'])
    saver = MultiLabelCheckpointSaver(model, torch.optim.SGD(model.parameters(), lr=0.1), checkpoint_dir=str(tmp_path),
                                      recovery_dir=str(tmp_path))
    saver.save_checkpoint(0, metric=1.)
    before = load_checkpoint_file(str(tmp_path / 'last.pth.tar'))['epoch']

    def short_write(obj, path, *a, **k):
        with open(path, 'wb') as f:
            f.write(b'PK\x03\x04partial')
        raise RuntimeError('[enforce fail at inline_container.cc:626] . unexpected pos 1472 vs 1366')
    monkeypatch.setattr(torch, 'save', short_write)
    with pytest.raises(OSError, match=f'No space left on the device holding {tmp_path} while writing tmp.pth.tar') \
            as e:
        saver.save_checkpoint(1, metric=2.)
    assert e.value.errno == errno.ENOSPC
    assert not os.path.exists(tmp_path / 'tmp.pth.tar')
    monkeypatch.undo()
    assert load_checkpoint_file(str(tmp_path / 'last.pth.tar'))['epoch'] == before  # the earlier one is intact
