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
