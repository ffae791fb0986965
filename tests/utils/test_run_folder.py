""" Run-folder invariants: one writer (a lock), one summary row per epoch, columns that keep their meaning, outputs
that never overwrite inputs, and a checkpoint that never names files outside its folder."""
import csv
import os

import pytest
import torch

from timm.utils import update_summary

from timm_ml.cli.run_folder import RunFolder, RunFolderError, check_summary_columns, reconcile_summary
from timm_ml.cli.run_state import RunState
from timm_ml.models import create_ml_model
from timm_ml.utils.lock import LockedError, RunLock
from timm_ml.utils.checkpoint_io import MultiLabelCheckpointSaver
from timm_ml.utils.outputs import OutputError, check_outputs_are_not_inputs, check_replaceable, own_output_kind


def write_epoch_summary(epoch, train, evaluation, path, lr):
    update_summary(epoch, train, evaluation, filename=path, lr=lr)


def test_a_second_writer_is_refused_and_a_dead_ones_lock_is_taken_over(tmp_path):
    first = RunLock(str(tmp_path))
    with pytest.raises(LockedError, match=rf'{tmp_path} is being written by train.py pid {os.getpid()}'):
        RunLock(str(tmp_path))
    first.release()  # what the kernel does when the holder dies (even by SIGKILL): the file stays, the lock goes
    assert os.path.exists(tmp_path / '.lock')
    RunLock(str(tmp_path)).release()


def _rows(path):
    with open(path, newline='') as f:
        return list(csv.reader(f))


def test_summary_keeps_one_row_per_epoch_whatever_interrupted_the_run(tmp_path):
    path = str(tmp_path / 'summary.csv')
    for epoch in range(3):
        write_epoch_summary(epoch, {'loss': 1. / (epoch + 1)}, {'map': 10. * epoch}, path, lr=0.1)
    # killed after the summary row of epoch 2, before its checkpoint: last.pth.tar holds epoch 1
    reconcile_summary(path, start_epoch=2, checkpoint_row=(1, {'loss': 0.5}, {'map': 10.}, 0.1))
    assert [r[0] for r in _rows(path)] == ['epoch', '0', '1']
    # killed after the checkpoint of epoch 2, before its summary row: the row comes from the checkpoint
    reconcile_summary(path, start_epoch=3, checkpoint_row=(2, {'loss': 1 / 3}, {'map': 20.}, 0.1))
    rows = _rows(path)
    assert [r[0] for r in rows] == ['epoch', '0', '1', '2'] and float(rows[-1][2]) == 20.
    reconcile_summary(path, start_epoch=3, checkpoint_row=(2, {'loss': 1 / 3}, {'map': 20.}, 0.1))  # idempotent
    assert len(_rows(path)) == 4


def test_changed_columns_on_resume_are_refused(tmp_path):
    path = str(tmp_path / 'summary.csv')
    write_epoch_summary(0, {'loss': 1.}, {'map': 1., 'top3_CF1': 2.}, path, lr=0.1)
    check_summary_columns(path, ['epoch', 'train_loss', 'eval_map', 'eval_top3_CF1', 'lr'])  # the same: fine
    with pytest.raises(RunFolderError, match=r"no longer written: \['eval_top3_CF1'\], new: \['eval_top5_CF1'\].*--topk"):
        check_summary_columns(path, ['epoch', 'train_loss', 'eval_map', 'eval_top5_CF1', 'lr'])


def test_an_output_that_is_an_input_is_refused(tmp_path):
    labels = tmp_path / 'val.csv'
    labels.write_text('path,labels\n')
    os.symlink(labels, tmp_path / 'link.csv')
    with pytest.raises(OutputError, match='--output .*link.csv: that is an input'):
        check_outputs_are_not_inputs([str(tmp_path / 'link.csv')], [str(labels), None], '--output')
    check_outputs_are_not_inputs([str(tmp_path / 'p.csv')], [str(labels)], '--output')


def test_run_state_rides_in_the_saver_state_and_the_row_follows_its_checkpoint(tmp_path):
    """The one hook: the run folder's state in checkpoint['saver']['run']; the epoch's summary row is written after
    the checkpoint holding it, and a resume reads both back (also from the task state of older checkpoints)."""
    state = RunState(dict(batch_size=4, seed=1), dict(threshold=0.5))
    folder = RunFolder(str(tmp_path), state)
    model = create_ml_model('test_resnet', ['a', 'b'])
    saver = folder.create_saver(model=model, optimizer=torch.optim.SGD(model.parameters(), lr=0.1))
    state.early_stop = dict(best=3., best_epoch=0, epoch=0, bad_epochs=0)
    folder.add_summary_row(0, {'loss': 1.}, {'map': 3.}, 0.1)
    assert not os.path.exists(tmp_path / 'summary.csv')  # held until its checkpoint is written
    saver.save_checkpoint(0, metric=3.)
    assert [r[0] for r in _rows(tmp_path / 'summary.csv')] == ['epoch', '0']
    saved = torch.load(tmp_path / 'last.pth.tar', weights_only=True)['saver']['run']
    assert saved['layout'] == dict(batch_size=4, seed=1) and saved['early_stop']['best'] == 3.
    assert saved['summary_row'] == (0, {'loss': 1.}, {'map': 3.}, 0.1)
    state.recovery = dict(updates=2, stream=None, meters=[[1.5, 8]])
    saver.save_recovery(1, batch_idx=1)
    recovered = RunState({}, {})
    recovered.load(torch.load(saver.curr_recovery_file, weights_only=True))
    assert recovered.resumed_updates == 2 and recovered.resumed_recovery['meters'] == [[1.5, 8]]
    legacy = RunState({}, {})
    legacy.load({'task_state': dict(recovery_updates=5, recovery_meters=[[2., 4]], run_layout=dict(seed=1))})
    assert legacy.resumed_updates == 5 and legacy.resumed['layout'] == dict(seed=1)
    resumed = RunState(dict(batch_size=8, seed=1), dict(threshold=0.4))
    resumed.load(torch.load(saver.curr_recovery_file, weights_only=True))
    with pytest.raises(ValueError, match='-b 4 -> 8'):
        resumed.check_layout()
    with pytest.raises(ValueError, match='--threshold 0.5 -> 0.4'):
        resumed.check_meaning('summary.csv')
    folder.lock.release()


def test_checkpoint_history_never_names_a_file_outside_its_folder(tmp_path):
    """The security hole: a history entry with an absolute or ../ path was joined onto the run folder and later
    deleted by cleanup."""
    run = tmp_path / 'run'
    run.mkdir()
    victims = [tmp_path / 'victim.pth.tar', tmp_path / 'other' / 'checkpoint-7.pth.tar']
    for v in victims:
        v.parent.mkdir(exist_ok=True)
        v.write_text('not yours')
    model = create_ml_model('test_resnet', ['a', 'b'])
    saver = MultiLabelCheckpointSaver(model, torch.optim.SGD(model.parameters(), lr=0.1), checkpoint_dir=str(run),
                                      recovery_dir=str(run), max_history=1)
    (run / 'checkpoint-0.pth.tar').write_text('x')
    saver.load_state_dict(dict(checkpoint_files=[('../victim.pth.tar', 9.), (str(victims[1]), 8.),
                                                 ('checkpoint-0.pth.tar', 1.)], best_epoch=0, best_metric=1.))
    assert [os.path.basename(f) for f, _ in saver.checkpoint_files] == ['checkpoint-0.pth.tar']
    saver.save_checkpoint(1, metric=2.)  # evicts the worst history entry
    saver.save_checkpoint(2, metric=3.)
    assert all(v.read_text() == 'not yours' for v in victims)
    assert sorted(os.listdir(run)) == ['checkpoint-2.pth.tar', 'last.pth.tar', 'model_best.pth.tar']


def _saver(run, hist=2):
    model = create_ml_model('test_resnet', ['a', 'b'])
    return MultiLabelCheckpointSaver(model, torch.optim.SGD(model.parameters(), lr=0.1), checkpoint_dir=str(run),
                                     recovery_dir=str(run), max_history=hist)


@pytest.mark.parametrize('metrics', [(1., 3., 2., 5.), (4., 3., 2., 1.), (1., 2., 3., 4.)])
def test_a_kill_after_last_was_written_keeps_the_history_and_best_an_uninterrupted_run_keeps(tmp_path, metrics):
    """Killed between writing last.pth.tar of the final epoch and linking checkpoint-<N> / model_best: the resumed
    saver links them as save_checkpoint would have (the history had lost the epoch)."""
    full, cut = tmp_path / 'full', tmp_path / 'cut'
    full.mkdir(), cut.mkdir()
    reference = _saver(full)
    for epoch, m in enumerate(metrics):
        reference.save_checkpoint(epoch, m)
    interrupted = _saver(cut)
    for epoch, m in enumerate(metrics[:-1]):
        interrupted.save_checkpoint(epoch, m)
    epoch = len(metrics) - 1
    tmp = os.path.join(cut, 'tmp.pth.tar')
    interrupted._save(tmp, epoch, metrics[-1])
    interrupted._replace(tmp, os.path.join(cut, 'last.pth.tar'))  # ...and the process dies here
    resumed = _saver(cut)
    resumed.load_state_dict_from_checkpoint(os.path.join(cut, 'last.pth.tar'))
    assert sorted(os.listdir(cut)) == sorted(os.listdir(full))
    assert [os.path.basename(f) for f, _ in resumed.checkpoint_files] == \
        [os.path.basename(f) for f, _ in reference.checkpoint_files]
    assert (resumed.best_epoch, resumed.best_metric) == (reference.best_epoch, reference.best_metric)
    best = torch.load(cut / 'model_best.pth.tar', weights_only=False)['epoch']
    assert best == reference.best_epoch


def test_resuming_in_place_from_an_older_checkpoint_or_a_finished_run_is_refused(tmp_path):
    path = str(tmp_path / 'summary.csv')
    for epoch in range(4):
        write_epoch_summary(epoch, {'loss': 1.}, {'map': 1.}, path, lr=0.1)
    folder = RunFolder(str(tmp_path), RunState({}, {}), resume=str(tmp_path / 'checkpoint-1.pth.tar'))
    with pytest.raises(RunFolderError, match=r'continues at epoch 2, but .*summary.csv already holds epochs up to 3'):
        folder.check_resume_point(2)
    folder.check_resume_point(4)  # from last: fine
    assert folder.check_epochs_left(4, 10) is False
    with pytest.raises(RunFolderError, match='already holds 4 of the 4 scheduled epochs, nothing is left to train'):
        folder.check_epochs_left(4, 4)
    assert len(_rows(path)) == 5  # nothing trimmed by the refusal
    # killed while recording the last epoch: the resume completes its records, trains nothing, and is no error
    folder.saver = _saver(tmp_path / 'run')
    folder.saver.repaired = True
    assert folder.check_epochs_left(4, 4) is True
    folder.saver.repaired = False
    reconcile_summary(path, 3)
    trim = _rows(path)[:-1]
    with open(path, 'w', newline='') as f:
        csv.writer(f).writerows(trim)  # the last row was never written
    assert folder.check_epochs_left(4, 4) is True
    folder.lock.release()


def test_an_existing_file_is_replaced_only_when_it_is_an_earlier_output_of_the_same_kind(tmp_path):
    """Rerunning validate.py / infer.py into the same file works, whatever the writer's options (json lines under a
    .json name, an unreadable first image, a failed validation, a big file); a label file, a checkpoint, a user's table
    or the other tool's output at that path is refused."""
    import json
    import numpy as np
    from timm_ml.deploy.predictions import write_predictions_csv, write_predictions_json
    from timm_ml.schema import LabelSchema
    schema, scores = LabelSchema(['cat', 'dog']), np.array([[0.9, 0.2], [0.1, 0.7]], np.float32)
    predictions = {}
    for name, lines in (('p.json', False), ('p.jsonl', True), ('lines_as.json', True)):
        write_predictions_json(str(tmp_path / name), ['a.png', 'b.png'], scores, schema, [0.5, 0.5], lines=lines)
        predictions[name] = None
    write_predictions_json(str(tmp_path / 'err.jsonl'), ['a.png', 'b.png'], scores, schema, [0.5, 0.5], lines=True,
                           errors={0: 'cannot read a.png'})
    write_predictions_csv(str(tmp_path / 'p.csv'), ['a.png', 'b.png'], scores, schema, [0.5, 0.5])
    write_predictions_csv(str(tmp_path / 'err.csv'), ['a.png', 'b.png'], scores, schema, [0.5, 0.5],
                          errors={0: 'cannot read a.png'})
    results = {
        'r.json': json.dumps({'model': 'm', 'map': 1.0, 'checkpoint': 'c.pth.tar', 'split': 'val'}, indent=4),
        'bulk.json': json.dumps([{'model': 'm', 'checkpoint': 'c', 'split': 'val'}] * 2, indent=4),
        'none.json': json.dumps([], indent=4),  # a bulk run where every checkpoint failed
        'failed.json': json.dumps({'model': 'm', 'error': 'out of memory'}, indent=4),
        'r.csv': 'model,loss,map,checkpoint,split\nm,0.1,50,c,val\n',
        'failed.csv': 'model,error\nm,out of memory\n',
        'r_per_class.csv': 'index,name,ap,positives,unknown\n0,cat,50,3,0\n',
    }
    for name, content in results.items():
        (tmp_path / name).write_text(content)
    foreign = {
        'train.json': json.dumps({'classes': ['cat'], 'images': [['a.png', ['cat']]]}),
        'labels.csv': 'path,labels\na.png,cat\n',
        'val.json': json.dumps([{'path': 'a.png', 'labels': ['cat']}]),
        'other.pth.tar': b'PK\x03\x04 torch zip',
        'notes.txt': 'my notes\n',
        'summary.csv': 'epoch,train_loss,eval_map\n0,0.5,40\n',
        'alone_per_class.png': b'\x89PNG\r\n\x1a\n',  # no per-class table beside it
    }
    for name, content in foreign.items():
        (tmp_path / name).write_bytes(content if isinstance(content, bytes) else content.encode())
    big = tmp_path / 'big.jsonl'  # far over any size a full parse would take
    with open(big, 'w') as f:
        for i in range(3000):
            f.write(json.dumps({'path': f'{i}.png', 'labels': [], 'scores': {f'c{j}': 0.1 for j in range(100)}}) + '\n')
    for name in list(predictions) + ['err.jsonl', 'p.csv', 'err.csv', 'big.jsonl']:
        assert own_output_kind(str(tmp_path / name)) == 'predictions', name
        check_replaceable([str(tmp_path / name)], '--output', ('predictions',))
        with pytest.raises(OutputError, match='it holds predictions of ours'):
            check_replaceable([str(tmp_path / name)], '--results-file', ('results', 'per-class'))
    for name in results:
        check_replaceable([str(tmp_path / name)], '--results-file', ('results', 'per-class'))
        with pytest.raises(OutputError, match='that file exists and it holds (results|per-class) of ours'):
            check_replaceable([str(tmp_path / name)], '--output', ('predictions',))
    check_replaceable([str(tmp_path / 'new.json'), None], '--output', ('predictions',))
    for name in foreign:
        with pytest.raises(OutputError, match=rf'--output .*{name}: that file exists and it is not a file of ours'):
            check_replaceable([str(tmp_path / name)], '--output', ('predictions', 'results', 'per-class'))
