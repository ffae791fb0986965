""" Adding a label format is one file (a LabelReader subclass) and one line (its registration): this toy JSON Lines
format is then found by --label-format auto beside the built-in ones, read with the shared row checks, and trained on
like any other."""
import json
import os

import pytest

from tests.helpers import png
from timm_ml.data import LabelFileError, LabelOptions, read_label_set
from timm_ml.data.readers import reader_factory
from timm_ml.data.readers.reader import LabelListRows, LabelReader, has_extension, open_text, split_file


class JsonLinesReader(LabelReader):  # the "one file": what a user writes for their own format
    name = 'jsonl'
    layout = '`<split>.jsonl`: one {"image": ..., "labels": [...]} per line'

    def locate(self, root, split):
        return split_file(root, split, ('.jsonl',))

    def recognise(self, source, options=None):
        return 'one JSON object per line' if has_extension(source, '.jsonl') else None

    def read(self, source, split, options):
        rows = LabelListRows(source, options.classes, options.on_bad)
        with open_text(source) as f:
            for n, line in enumerate(f, start=1):
                if line.strip():
                    record = json.loads(line)
                    rows.add(n, record.get('image'), record.get('labels', []))
        return rows.build(os.path.dirname(source), self.name, split)


@pytest.fixture
def registered(monkeypatch):
    monkeypatch.setattr(reader_factory, '_READERS', reader_factory._READERS.copy())  # undone after the test
    reader_factory.register_label_reader(JsonLinesReader())  # the "one line"


def _write(root, name, rows):
    with open(os.path.join(root, name), 'w') as f:
        f.writelines(json.dumps(r) + '\n' for r in rows)


def test_a_toy_format_is_found_read_and_checked_like_the_built_in_ones(tmp_path, registered):
    _write(tmp_path, 'train.jsonl', [dict(image='a.png', labels=['cat']), dict(image='b.png', labels=['cat', 'dog'])])
    labels = read_label_set(str(tmp_path), 'train', 'auto', LabelOptions(), log=False)
    assert labels.format == 'jsonl' and labels.classes == ['cat', 'dog']
    assert labels.targets.dense().tolist() == [[1, 0], [1, 1]]
    _write(tmp_path, 'val.jsonl', [dict(image='c.png', labels=['cow'])])  # the shared checks apply to it too
    with pytest.raises(LabelFileError, match=r"val\.jsonl: row 1: .*'cow'"):
        read_label_set(str(tmp_path), 'val', 'auto', LabelOptions(classes=['cat', 'dog']), log=False)


@pytest.mark.slow
def test_train_py_trains_on_a_registered_format(tmp_path):
    from tests.helpers import TINY, run_script
    for i in range(40):
        png(tmp_path / f'{i}.png', value=(i * 37) % 255, size=32)
    rows = [dict(image=f'{i}.png', labels=['dark'] if (i * 37) % 255 < 128 else ['light']) for i in range(40)]
    _write(tmp_path, 'train.jsonl', rows[:30])
    _write(tmp_path, 'val.jsonl', rows[30:])
    plugin = tmp_path / 'my_format.py'
    plugin.write_text(open(__file__).read().split('@pytest.fixture')[0] +
                      'reader_factory.register_label_reader(JsonLinesReader())\n')
    run_script(['-c', f'import runpy, sys; sys.path.insert(0, {str(tmp_path)!r}); import my_format; '
                      f'sys.argv = ["train.py", {str(tmp_path)!r}, *{TINY!r}, "--epochs", "1", "-b", "10", "--output", '
                      f'{str(tmp_path / "out")!r}, "--experiment", "r"]; runpy.run_path("train.py", run_name="__main__")'])
    assert os.path.isfile(tmp_path / 'out' / 'r' / 'model_best.pth.tar')
