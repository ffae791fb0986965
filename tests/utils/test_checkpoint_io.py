""" Checkpoint files: refused / unreadable files named, full disks named with nothing partial left."""
import datetime
import errno
import os

import pytest
import timm
import torch

from timm_ml.models import create_ml_model
from timm_ml.utils.checkpoint_io import MultiLabelCheckpointSaver, load_checkpoint_file


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


@pytest.mark.parametrize('content,message', [
    ('text', r'Cannot read checkpoint .*notes\.pth\.tar: truncated or not a torch file'),
    ([1, 2, 3], r'--resume .*notes\.pth\.tar: not a training checkpoint'),
    ({'epoch': 3}, r'--resume .*notes\.pth\.tar: not a training checkpoint'),
    ({'state_dict': {'w': 'not a tensor'}}, r'--resume .*notes\.pth\.tar: not a training checkpoint'),
])
def test_a_resume_file_that_is_not_a_training_checkpoint_is_named(tmp_path, content, message):
    from timm_ml.utils.checkpoint_io import check_training_checkpoint
    path = tmp_path / 'notes.pth.tar'
    if content == 'text':
        path.write_text('epoch 3, mAP 81.2\nthis is my lab notebook\n')
    else:
        torch.save(content, path)
    with pytest.raises(ValueError, match=message):
        check_training_checkpoint(str(path))


def test_a_damaged_ml_config_or_weights_are_named_not_a_keyerror(tmp_path):
    from timm_ml.models import load_model_from_checkpoint
    from timm_ml.task import MultiLabelTask
    from timm_ml.loss import create_ml_loss
    model = create_ml_model('test_resnet', ['a', 'b'])
    state = MultiLabelTask(model, create_ml_loss('bce'), dict(model.ml_config, data_config={})).get_checkpoint_state()
    broken = dict(state, task_state={'ml_config': {'model': 'test_resnet'}})
    torch.save(broken, tmp_path / 'config.pth.tar')
    with pytest.raises(ValueError, match=r"config\.pth\.tar: its 'ml_config' entry is damaged"):
        load_model_from_checkpoint(str(tmp_path / 'config.pth.tar'))
    torch.save(dict(state, state_dict={k: v[:1] if v.dim() else v for k, v in state['state_dict'].items()}), tmp_path / 'w.pth.tar')
    with pytest.raises(ValueError, match=r"w\.pth\.tar: its weights do not fit the model"):
        load_model_from_checkpoint(str(tmp_path / 'w.pth.tar'))
    torch.save(dict(state, state_dict=None), tmp_path / 'none.pth.tar')
    with pytest.raises(ValueError, match=r"none\.pth\.tar: its 'ml_config' entry is there but no 'state_dict'"):
        load_model_from_checkpoint(str(tmp_path / 'none.pth.tar'))
