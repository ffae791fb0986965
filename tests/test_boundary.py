""" The trust harness: files someone else wrote (hostile names, paths, values, meanings) never make the tools run a
command, read or write outside their folders, or render markup; every output refuses a symlink, a file that is not
ours, a read-only target and a size limit with one error, leaving the target as it was.

A sentinel fixture snapshots the test's folders: it fails the test when a command ran (the sentinel file appears) or a
file outside the output changed."""
import errno
import json
import os
import re
import resource

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from timm_ml.data import LabelOptions, read_label_set
from timm_ml.data.streams import read_stream_split
from timm_ml.schema import LabelGroup, LabelSchema, SchemaError
from timm_ml.utils.checkpoint_io import CheckpointError, check_ml_config
from timm_ml.utils.escape import html_text, markdown_text, plot_text
from timm_ml.utils.outside import OutsideValueError, check_plain_name
from timm_ml.utils.outputs import OutputError
from timm_ml.utils.writer import write_text

SENTINEL = 'PWNED'
HOSTILE = [
    f'x; touch {SENTINEL}', f'$(touch {SENTINEL})', f'`touch {SENTINEL}`', f'a|touch {SENTINEL}', f'a && touch {SENTINEL}',
    '../escape.tar', '/etc/passwd', 'a/../../b', '..', '-rf', ' lead', 'tab\there', 'new\nline', '<script>x</script>',
    '$x^$', 'a"b', "a'b", 'nan', 'NaN', '', '\x00', 'ü/../x',
]
hostile_text = st.one_of(st.sampled_from(HOSTILE), st.text(min_size=1, max_size=30))


def _snapshot(*roots):
    out = {}
    for root in roots:
        for d, _, files in os.walk(root):
            for f in files:
                p = os.path.join(d, f)
                try:
                    st_ = os.lstat(p)
                except OSError:
                    continue
                out[p] = (st_.st_size, st_.st_mtime_ns)
    return out


@pytest.fixture
def sentinel(tmp_path, monkeypatch):
    """Runs the test in tmp_path/work; afterwards no sentinel file anywhere, and `victims` (files outside the outputs
    that the test registers) unchanged."""
    work = tmp_path / 'work'
    work.mkdir()
    monkeypatch.chdir(work)
    victims = []
    yield victims
    found = [os.path.join(d, f) for d, _, files in os.walk(tmp_path) for f in files if SENTINEL in f]
    assert found == [], 'a command from a file ran'
    for path, content in victims:
        assert open(path, 'rb').read() == content, f'{path} changed'


# names that reach a path or a shell ------------------------------------------------------------------------------

@settings(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(hostile_text)
def test_a_shard_name_from_info_json_never_reaches_a_shell_or_another_folder(sentinel, tmp_path, name):
    """Shard names read from _info.json are appended to the object-storage recipe's `pipe:` command: one with shell
    or path syntax is refused before anything runs (regression: `; touch ...` ran on train and validate)."""
    shards = tmp_path / f'shards{abs(hash(name))}'
    shards.mkdir(exist_ok=True)
    (shards / '_info.json').write_text(json.dumps(dict(classes=['a'], splits=dict(train=dict(
        filenames=[name], shard_lengths=[1], num_samples=1)))))
    if re.fullmatch(r'[A-Za-z0-9_][A-Za-z0-9_.+=,@%-]*', name) and '..' not in name:
        assert read_stream_split(str(shards), 'train').filenames == [name]  # a plain name is read
        return
    with pytest.raises(OutsideValueError, match='not a plain file name'):
        read_stream_split(str(shards), 'train')


def test_a_pipe_url_reads_plain_shard_names_and_runs_nothing_else(sentinel, tmp_path):
    from timm_ml.data.streams import open_url
    (tmp_path / 'work' / 'a.tar').write_bytes(b'tar bytes')
    root = 'pipe:cat ' + str(tmp_path / 'work') + '/'
    with open_url(root, 'a.tar') as f:
        assert f.read() == b'tar bytes'
    with pytest.raises(OutsideValueError):
        open_url(root, f'a.tar; touch {tmp_path}/{SENTINEL}')


@settings(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.sampled_from(['/etc/passwd', '../outside.png', 'a/../../outside.png', '..', 'C:\\Windows\\x.png',
                        '\\\\server\\share\\x.png', '/tmp/x.png']))
@example('../../../../etc/shadow')
def test_image_paths_of_a_label_file_stay_in_its_root_unless_allowed(sentinel, tmp_path, path):
    """to_shards copied /etc/passwd into a shard (and --verify passed) from a label CSV naming it."""
    folder = tmp_path / 'data'
    folder.mkdir(exist_ok=True)
    (folder / 'train.csv').write_text(f'path,labels\n"{path}",cat\ninside.png,dog\n')
    with pytest.raises(OutsideValueError, match='outside the image root .*--allow-outside-root'):
        read_label_set(str(folder), 'train', 'auto', LabelOptions(), log=False)
    allowed = read_label_set(str(folder), 'train', 'auto', LabelOptions(allow_outside_root=True), log=False)
    assert len(allowed) == 2


def test_to_shards_never_copies_a_file_outside_the_root(sentinel, tmp_path):
    from timm_ml.data.to_shards import convert
    secret = tmp_path / 'secret.png'
    secret.write_bytes(b'not for the shards')
    folder = tmp_path / 'data'
    folder.mkdir()
    (folder / 'train.csv').write_text('path,labels\n../secret.png,cat\n')
    with pytest.raises(OutsideValueError, match='outside the image root'):
        convert(str(folder), str(tmp_path / 'shards'), ['train'], log=lambda *a: None)
    assert not (tmp_path / 'shards').exists()  # refused before its first shard: not even an empty folder is left


# names that reach a renderer ---------------------------------------------------------------------------------------

@settings(deadline=None)
@given(hostile_text)
def test_escaped_text_renders_as_written_and_never_as_markup(name):
    assert '<' not in html_text(name) and '>' not in html_text(name) and '"' not in html_text(name)
    md = markdown_text(name)
    assert '<' not in md and not re.search(r'(?<!\\)[`*_\[\]|$]', md)  # $ starts math in model-card viewers
    assert not re.search(r'(?<!\\)\$', plot_text(name))


@settings(deadline=None, max_examples=15, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.sampled_from(['<script>alert(1)</script>', '$x^$', '$\\frac{', 'a|b', '`code`', '[link](x)',
                                 '<img src=x onerror=alert(1)>', 'plain']), min_size=2, max_size=4, unique=True))
def test_hostile_class_names_in_the_charts_page_and_card(tmp_path, names):
    """A class name with mathtext ($x^$) crashed the per-class chart after the results were written; class names went
    into the model card as raw HTML (a script ran in a markdown preview) with the absolute data root."""
    from timm_ml.deploy.hf_folder import _card
    from timm_ml.report import write_error_report, write_per_class_report
    schema = LabelSchema(names)
    rows = [dict(index=i, name=n, ap=50., positives=3, unknown=0, precision=1., recall=1., f1=1., threshold=.5,
                 group='') for i, n in enumerate(names)]
    import tempfile
    out = __import__('pathlib').Path(tempfile.mkdtemp(dir=tmp_path))
    write_per_class_report(rows, str(out / 'v'), title=names[0])  # no mathtext error
    rng = np.random.default_rng(0)
    page = write_error_report(str(out / 'page'), rng.random((6, len(names))).astype(np.float32),
                              rng.integers(0, 2, (6, len(names))).astype(np.int8), [f'{names[i % len(names)]}.png' for i in range(6)],
                              lambda i: __import__('PIL.Image').Image.new('RGB', (8, 8)), schema,
                              np.full(len(names), .5, np.float32), rows, {'map': 50.}, names[-1])
    html = open(page).read()
    assert '<script>alert' not in html and '<img src=x' not in html  # titles escaped, data as \u003c in the JSON
    config = dict(model='test_resnet', ml_head='linear', classes=names, schema=schema.to_dict(),
                  data=dict(root='/home/someone/private/data', label_format='csv'))
    meta = dict(preprocessing=dict(input_size=[3, 32, 32], mean=[0.5] * 3, std=[0.5] * 3, interpolation='bilinear',
                                   crop_pct=1.0), thresholds=None, default_threshold=0.5)
    card = _card(config, meta, 'folder', dict(data='/home/someone/private/data', model='test_resnet'), None, None,
                 [dict(index=str(i), name=n, ap='50', positives='3') for i, n in enumerate(names)])
    assert '<script' not in card and '<img' not in card and '/home/someone' not in card


# values and meanings -----------------------------------------------------------------------------------------------

@pytest.mark.parametrize('thresholds,message', [
    ([float('nan'), 0.5], 'finite probabilities'), ([5.0, 0.5], 'finite probabilities'),
    ([-1.0, 0.5], 'finite probabilities'), ([0.5], '1 thresholds for 2 classes'), (['a', 0.5], 'not numbers'),
])
def test_checkpoint_thresholds_are_finite_probabilities_one_per_class(thresholds, message):
    """NaN, 5.0 or -1 thresholds in a checkpoint were accepted (NaN also written into the exported config.json)."""
    config = dict(model='test_resnet', ml_head='linear', classes=['a', 'b'], thresholds=thresholds)
    with pytest.raises(CheckpointError, match=message):
        check_ml_config(config, 'ck.pth.tar')
    assert check_ml_config(dict(config, thresholds=[0.2, 0.9]), 'ck.pth.tar')['thresholds'] == \
        pytest.approx([0.2, 0.9])


@pytest.mark.parametrize('name', ['path', 'labels', 'scores', 'error', 'tags', 'top3'])
def test_a_group_named_like_a_prediction_field_is_refused(name):
    """A group named path / labels / scores overwrote the prediction record's fields."""
    with pytest.raises(SchemaError, match=f'named {name!r}, a field every prediction record has'):
        LabelSchema(['a', 'b'], [LabelGroup(name, ['a', 'b'], 0)])


def test_export_metadata_names_one_class_per_output_column():
    """The torch-free reader accepted fewer class names than output columns and shifted every label."""
    from timm_ml.deploy.onnx_model import ExportedMultiLabelModel
    meta = dict(classes=['a', 'b'], schema=dict(classes=['a', 'b']), thresholds=None, default_threshold=0.5,
                preprocessing=dict(input_size=[3, 8, 8], mean=[0.5] * 3, std=[0.5] * 3))
    model = ExportedMultiLabelModel()
    model._setup(meta, 2, 'm.onnx')
    with pytest.raises(OutsideValueError, match='2 class names for 3 output columns'):
        model._setup(meta, 3, 'm.onnx')
    with pytest.raises(OutsideValueError, match='finite probabilities'):
        model._setup(dict(meta, thresholds=[float('nan'), 0.5]), 2, 'm.onnx')
    with pytest.raises(OutsideValueError, match='preprocessing is damaged'):
        model._setup(dict(meta, preprocessing=dict(input_size=[3, 8, 8], mean=[0.5] * 3, std=[0.] * 3)), 2, 'm.onnx')


@settings(deadline=None)
@given(st.text(min_size=0, max_size=20))
@example('0\n')  # `$` matches before a trailing newline: found by hypothesis in the suite
@example('checkpoint-1.pth.tar\n')
def test_plain_names_are_exactly_the_safe_ones(name):
    safe = bool(re.fullmatch(r'[A-Za-z0-9_][A-Za-z0-9_.+=,@%-]*', name)) and '..' not in name
    try:
        check_plain_name(name, 'shard', 'x')
        assert safe
    except OutsideValueError:
        assert not safe


# every writer -------------------------------------------------------------------------------------------------------

def _writers(tmp_path):
    """(name, kind of file it writes, write(path)) for every writer of the tools."""
    from timm_ml.deploy.predictions import write_predictions_csv, write_predictions_json
    from timm_ml.metrics import save_thresholds
    from timm_ml.plot import plot_summaries
    from timm_ml.report import write_per_class_report
    from timm_ml.cli.validate_script import write_results
    from timm_ml.cli.run_folder import append_summary_row
    schema = LabelSchema(['a', 'b'])
    scores = np.array([[0.2, 0.9]], np.float32)
    summary = tmp_path / 'run' / 'summary.csv'
    summary.parent.mkdir(exist_ok=True)
    summary.write_text('epoch,train_loss,eval_map,lr\n0,1.0,10.0,0.1\n1,0.5,20.0,0.1\n')
    row = dict(index=0, name='a', ap=1., positives=1, unknown=0, precision=1., recall=1., f1=1., threshold=.5, group='')
    return [
        ('predictions csv', lambda p: write_predictions_csv(p, ['x.png'], scores, schema, np.full(2, .5))),
        ('predictions json', lambda p: write_predictions_json(p, ['x.png'], scores, schema, np.full(2, .5))),
        ('thresholds', lambda p: save_thresholds(p, ['a', 'b'], [0.3, 0.6])),
        ('plot', lambda p: plot_summaries([str(summary)], p)),
        ('per-class', lambda p: write_per_class_report([row], p[:-len('_per_class.csv')])),
        ('results', lambda p: write_results(p, dict(model='m', map=1., checkpoint='c', split='val', per_class=[row]))),
        ('summary row', lambda p: append_summary_row(p, 2, {'loss': 0.1}, {'map': 30.}, 0.1)),
        ('text', lambda p: write_text(p, 'model: x\n' * 20, kinds=None)),
    ]


_NAMES = {'predictions csv': 'p.csv', 'predictions json': 'p.json', 'thresholds': 'thresholds.npy',
          'plot': 'curves.png', 'per-class': 'r_per_class.csv', 'results': 'results.csv', 'summary row': 'summary.csv',
          'text': 'args.yaml'}


@pytest.mark.parametrize('writer', list(_NAMES))
@pytest.mark.parametrize('target', ['symlink', 'foreign', 'read-only', 'size-limit'])
def test_every_writer_refuses_a_symlink_a_foreign_file_a_read_only_folder_and_a_size_limit(tmp_path, writer, target,
                                                                                           monkeypatch):
    write = dict((n, w) for n, _, w in [(n, None, w) for n, w in _writers(tmp_path)])[writer]
    out = tmp_path / 'out'
    out.mkdir()
    path = out / _NAMES[writer]
    victim = tmp_path / 'victim.txt'
    victim.write_bytes(b'precious\n')
    if target == 'symlink':
        os.symlink(victim, path)
        with pytest.raises(OutputError, match='symbolic link'):
            write(str(path))
        assert victim.read_bytes() == b'precious\n' and os.path.islink(path)
        return
    if target == 'foreign':
        if writer in ('summary row', 'text'):
            pytest.skip('the run folder is locked and ours: its files are ours to replace')
        path.write_bytes(b'precious\n')
        with pytest.raises(OutputError, match='not a file of ours'):
            write(str(path))
        assert path.read_bytes() == b'precious\n'
        return
    before = path.read_bytes() if path.exists() else None
    if target == 'read-only':
        real_replace = os.replace
        monkeypatch.setattr(os, 'replace', lambda *a: (_ for _ in ()).throw(OSError(errno.EROFS, 'Read-only')))
        with pytest.raises(OutputError, match='read-only'):
            write(str(path))
        monkeypatch.setattr(os, 'replace', real_replace)
    else:
        soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
        resource.setrlimit(resource.RLIMIT_FSIZE, (8, hard))
        try:
            with pytest.raises(OutputError, match='file-size limit'):
                write(str(path))
        finally:
            resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
    after = path.read_bytes() if path.exists() else None
    assert after == before  # the earlier file (if any) intact, no partial one
    assert [n for n in os.listdir(out) if n.endswith('.tmp')] == []


# a run folder and folder outputs someone else prepared -------------------------------------------------------------

def _victim(tmp_path, victims):
    victim = tmp_path / 'victim.txt'
    victim.write_text('precious')
    victims.append((str(victim), b'precious'))
    return victim


@pytest.mark.parametrize('plant', ['lock', 'checkpoint', 'dangling', 'folder'])
def test_a_planted_symlink_never_makes_a_run_write_through_it(sentinel, tmp_path, plant):
    """A `.lock` link made the lock write its holder line into the link's target; links at checkpoint names made
    timm's saver copy a checkpoint through them (a dangling one created a file outside); a linked run folder took the
    whole run elsewhere."""
    from timm_ml.cli.run_folder import RunFolderError, open_run_folder
    from timm_ml.cli.run_state import RunState
    from timm_ml.utils.lock import LockedError, RunLock
    victim = _victim(tmp_path, sentinel)
    out = tmp_path / 'out'
    (out / 'run').mkdir(parents=True)
    if plant == 'lock':
        os.symlink(victim, out / 'run' / '.lock')
        with pytest.raises(LockedError, match='a symlink is never followed'):
            RunLock(str(out / 'run'))
        return
    if plant == 'folder':
        (out / 'run').rmdir()
        (tmp_path / 'elsewhere').mkdir()
        os.symlink(tmp_path / 'elsewhere', out / 'run')
    else:
        target = victim if plant == 'checkpoint' else tmp_path / 'planted.pth.tar'
        os.symlink(target, out / 'run' / 'checkpoint-3.pth.tar')
    with pytest.raises(RunFolderError, match='symlink'):  # continuing in place (--resume <run>/last.pth.tar)
        open_run_folder(str(out), 'run', RunState({}, {}), resume=str(out / 'run' / 'last.pth.tar'))
    assert not (tmp_path / 'planted.pth.tar').exists()


def test_a_users_folder_is_never_taken_for_a_run_that_failed_to_start(tmp_path):
    """A folder holding only a user's args.yaml was reused and its args.yaml overwritten."""
    from timm_ml.cli.run_folder import never_started
    (tmp_path / 'mine').mkdir()
    (tmp_path / 'mine' / 'args.yaml').write_text('my: notes\n')
    assert not never_started(str(tmp_path / 'mine'))
    (tmp_path / 'mine' / '.lock').write_text('train.py pid 1 on host\n')  # what a failed start of ours leaves
    assert never_started(str(tmp_path / 'mine'))


def test_replacing_a_folder_output_never_deletes_a_file_someone_put_there(tmp_path):
    """One marked file (a copied index.html) made a user's folder count as ours: replaced, thesis.tex deleted."""
    from timm_ml.utils.writer import MANIFEST, replace_folder
    out = tmp_path / 'report'

    def build(folder):
        open(os.path.join(folder, 'index.html'), 'w').write('<meta name="generator" content="timm_ml">page')
        os.makedirs(os.path.join(folder, 'img'))
        open(os.path.join(folder, 'img', 'a.png'), 'w').write('x')
    replace_folder(str(out), build, kinds=('report',))
    assert json.load(open(out / MANIFEST))['files'] == ['img/a.png', 'index.html']
    replace_folder(str(out), build, kinds=('report',))  # our own earlier output: replaced
    (out / 'thesis.tex').write_text('years of work')
    with pytest.raises(OutputError, match=r'holds files this output did not write \(thesis\.tex\)'):
        replace_folder(str(out), build, kinds=('report',))
    assert (out / 'thesis.tex').read_text() == 'years of work' and not [p for p in os.listdir(tmp_path)
                                                                          if p.endswith('.tmp')]


def test_outputs_get_the_modes_the_umask_gives(tmp_path):
    """mkstemp / mkdtemp left every output 0600 / 0700: a report or export nobody else could read."""
    from timm_ml.utils.writer import replace_folder
    old = os.umask(0o022)
    try:
        write_text(str(tmp_path / 'a.csv'), 'x')
        replace_folder(str(tmp_path / 'f'), lambda d: open(os.path.join(d, 'x'), 'w').close(), kinds=('report',))
    finally:
        os.umask(old)
    assert oct(os.stat(tmp_path / 'a.csv').st_mode & 0o777) == '0o644'
    assert oct(os.stat(tmp_path / 'f').st_mode & 0o777) == '0o755'


@pytest.mark.parametrize('folder', [False, True])
def test_a_full_disk_in_a_third_party_writer_is_one_output_error(tmp_path, folder):
    """safetensors reports a full disk as its own SafetensorError: it came out as a traceback."""
    from timm_ml.utils.writer import replace_folder, write_file

    class ThirdPartyError(Exception):
        pass

    def fail(path):
        raise ThirdPartyError('Error while serializing: IoError(Os { code: 28, kind: StorageFull, message: '
                              '"No space left on device" })')
    with pytest.raises(OutputError, match='not written, No space left on device'):
        replace_folder(str(tmp_path / 'hf'), fail, kinds=('hf-folder',)) if folder else \
            write_file(str(tmp_path / 'a.bin'), fail)
    assert os.listdir(tmp_path) == []


def test_to_shards_never_copies_a_file_a_symlink_leads_out_of_the_root(sentinel, tmp_path):
    from PIL import Image

    from timm_ml.data.to_shards import convert
    root = tmp_path / 'data'
    root.mkdir()
    Image.new('RGB', (8, 8)).save(root / 'a.png')
    Image.new('RGB', (8, 8), 'red').save(tmp_path / 'secret.png')
    os.symlink(tmp_path / 'secret.png', root / 'link.png')
    (root / 'train.csv').write_text('path,labels\na.png,cat\nlink.png,dog\n')
    with pytest.raises(Exception, match=r"link\.png' links to .*secret\.png, outside the data root"):
        convert(str(root), str(tmp_path / 'shards'), ['train'], log=lambda *a: None)
    assert not (tmp_path / 'shards').exists()  # refused before its first shard: no folder is left


# values a checkpoint carries -----------------------------------------------------------------------------------------

GOOD_DATA_CONFIG = dict(input_size=[3, 32, 32], mean=[0.5] * 3, std=[0.5] * 3, interpolation='bilinear',
                        crop_pct=0.95, crop_mode='center')


@pytest.mark.parametrize('change,message', [
    (dict(model='hf-hub:attacker/evil'), 'not a timm model of this install'),
    (dict(timm_kwargs={'checkpoint_path': '/tmp/victim.txt'}), "holds 'checkpoint_path'"),
    (dict(timm_kwargs={'pretrained_cfg_overlay': 'x'}), "holds 'pretrained_cfg_overlay'"),
    (dict(head_args={'num_groups': [1, 2]}), "holds 'num_groups'"),
    (dict(data_config=dict(GOOD_DATA_CONFIG, interpolation='<img src=x onerror=alert(1)>')), 'interpolation'),
    (dict(data_config=dict(GOOD_DATA_CONFIG, crop_pct='<script>')), 'crop_pct'),
    (dict(data_config=dict(GOOD_DATA_CONFIG, mean=['<b>x</b>', 0.5, 0.5])), 'mean'),
    (dict(data_config=dict(GOOD_DATA_CONFIG, std=[0.5, 0.0, 0.5])), 'std .* <= 0'),
    (dict(data_config=dict(GOOD_DATA_CONFIG, input_size=[3, 32])), 'input_size'),
])
def test_a_checkpoint_opens_nothing_and_carries_only_sane_preprocessing(change, message):
    """A checkpoint's model name and model arguments went to timm.create_model unchecked (a hub download, a file
    opened); its preprocessing reached the model card raw and crashed validate / infer (std 0: NaN scores, exit 0)."""
    config = dict(dict(model='test_resnet', ml_head='linear', classes=['a', 'b'], data_config=GOOD_DATA_CONFIG),
                  **change)
    with pytest.raises(CheckpointError, match=message):
        check_ml_config(config, 'ck.pth.tar')
    assert check_ml_config(dict(config, **{k: v for k, v in dict(
        model='test_resnet', timm_kwargs={'drop_rate': 0.1}, head_args={}, data_config=GOOD_DATA_CONFIG).items()}),
        'ck.pth.tar')


def test_a_checkpoint_never_turns_the_path_guard_off(tmp_path):
    from timm_ml.data.label_sets import saved_for_root
    saved = saved_for_root(dict(allow_outside_root=True, root=str(tmp_path), label_format='csv'), str(tmp_path))
    assert 'allow_outside_root' not in saved and saved['label_format'] == 'csv'


# names that reach outputs ------------------------------------------------------------------------------------------

@pytest.mark.parametrize('names,message', [
    (['ca\x00t', 'dog'], 'control characters'), (['cat', '\x1b[31mdog'], 'control characters'),
    (['cat', 'c\u200bat'], 'differ only in Unicode form or invisible characters'),
    (['caf\u00e9', 'cafe\u0301'], 'differ only in Unicode form'),
])
def test_class_names_that_hide_or_control_are_refused(names, message):
    with pytest.raises(SchemaError, match=message):
        LabelSchema(names)


def test_names_holding_the_csv_label_separator_are_refused_for_csv_predictions(tmp_path):
    from timm_ml.deploy.predictions import write_predictions_csv
    schema = LabelSchema(['a;b', 'a', 'b'])
    with pytest.raises(ValueError, match='write --format json'):
        write_predictions_csv(str(tmp_path / 'p.csv'), ['x.png'], np.array([[0.9, 0.9, 0.1]]), schema, [0.5] * 3)
    assert not (tmp_path / 'p.csv').exists()


def test_a_users_table_is_never_taken_for_a_results_file(tmp_path):
    from timm_ml.utils.outputs import own_output_kind
    (tmp_path / 'runs.csv').write_text('model,checkpoint,notes\nresnet50,best.pth,my notes\n')
    (tmp_path / 'runs.json').write_text('{"model": "resnet50", "notes": "mine"}')
    assert own_output_kind(str(tmp_path / 'runs.csv')) is None and own_output_kind(str(tmp_path / 'runs.json')) is None


def test_a_title_holding_a_placeholder_is_shown_as_written():
    from timm_ml.report.error_analysis import _page
    page = _page(dict(title='x __DATA__ y', classes=[]))
    title = re.search(r'<title>(.*?)</title>', page, re.S).group(1)
    assert title == 'x __DATA__ y'


def test_an_error_line_stays_short_and_keeps_its_advice():
    from timm_ml.cli.errors import MAX_ERROR_CHARS, _one_line
    text = _one_line(ValueError('columns: ' + ', '.join(f'c{i}' for i in range(200000)) + '; pass --labels-column x'))
    assert len(text) < MAX_ERROR_CHARS + 100 and text.endswith('pass --labels-column x')


# names that reach a spreadsheet ------------------------------------------------------------------------------------

FORMULAS = ['=HYPERLINK("http://x","click")', '=cmd|\' /C calc\'!A0', '+1', '-2+3', '@SUM(A1)', '\tx', "'quoted",
            "'=already", 'plain']


@settings(deadline=None)
@given(st.one_of(hostile_text, st.sampled_from(FORMULAS)))
def test_a_spreadsheet_cell_never_starts_a_formula_and_reads_back_as_written(name):
    from timm_ml.utils.escape import read_spreadsheet_cell, spreadsheet_cell
    cell = spreadsheet_cell(name)
    assert not cell.startswith(('=', '+', '-', '@', '\t', '\r'))
    assert read_spreadsheet_cell(cell) == name


def _cells(path):
    import csv
    with open(path, newline='') as f:
        return [c for row in csv.reader(f) for c in row]


def test_class_names_and_paths_written_to_csv_are_text_in_a_spreadsheet_and_read_back(tmp_path):
    """A class name or file name starting with = + - @ reached thresholds.csv, the class prior, predictions and the
    per-class table as it was: a formula when the file is opened in a spreadsheet."""
    from timm_ml.deploy.predictions import write_predictions_csv
    from timm_ml.loss.prior import read_class_prior, write_class_prior
    from timm_ml.metrics.thresholds import read_thresholds, save_thresholds
    from timm_ml.report import write_per_class_report
    names = [n for n in FORMULAS if n != '\tx']  # control characters are refused by the schema
    schema = LabelSchema(names)
    thresholds = np.linspace(0.1, 0.9, len(names)).astype(np.float32)
    written = save_thresholds(str(tmp_path / 'thresholds.npy'), names, thresholds)
    write_class_prior(str(tmp_path / 'prior.csv'), names, thresholds)
    write_predictions_csv(str(tmp_path / 'p.csv'), ['=1+1.png', 'ok.png'], np.full((2, len(names)), 0.95), schema,
                          [0.5] * len(names))
    rows = [dict(index=i, name=n, ap=50., positives=3, unknown=0, precision=1., recall=1., f1=1., threshold=.5,
                 group='') for i, n in enumerate(names)]
    write_per_class_report(rows, str(tmp_path / 'v'), title='t')
    for path in (written, tmp_path / 'prior.csv', tmp_path / 'p.csv', tmp_path / 'v_per_class.csv'):
        formulas = [c for c in _cells(path) if c.startswith(('=', '+', '-', '@', '\t'))]
        assert formulas == [], (path, formulas)
    np.testing.assert_allclose(read_thresholds(written, names), thresholds, rtol=1e-5)
    np.testing.assert_allclose(read_class_prior(str(tmp_path / 'prior.csv'), names).numpy(), thresholds, rtol=1e-6)
    assert "'=1+1.png" in _cells(tmp_path / 'p.csv')
