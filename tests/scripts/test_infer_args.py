""" infer.py's arguments are checked before any model is loaded or image read."""
import pytest


@pytest.mark.parametrize('argv,message', [
    (['x.png', '--threshold', '1.5'], '--threshold 1.5: a probability threshold must be between 0 and 1'),
    (['x.png', '--output', '/no/where/p.csv'], 'folder /no/where does not exist'),
    (['nowhere.png'], "input 'nowhere.png' does not exist"),
])
def test_infer_arguments_are_checked_before_any_work(argv, message, capsys, monkeypatch, tmp_path):
    import infer
    monkeypatch.chdir(tmp_path)
    (tmp_path / 'x.png').write_bytes(b'')
    with pytest.raises(SystemExit):
        infer.check_args(infer.parser.parse_args([*argv, '--checkpoint', 'none.pth.tar']))
    assert message in capsys.readouterr().err


def test_infer_output_that_is_its_input_is_refused(tmp_path, monkeypatch):
    import infer
    from timm_ml.utils import RunFolderError
    labels = tmp_path / 'val.csv'
    labels.write_text('path,labels\na.png,cat\n')
    with pytest.raises(RunFolderError, match='that is an input'):
        infer.check_args(infer.parser.parse_args([str(labels), '--checkpoint', 'ck.pth.tar', '--output', str(labels)]))
