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
    from timm_ml.utils.outputs import OutputError as RunFolderError
    labels = tmp_path / 'val.csv'
    labels.write_text('path,labels\na.png,cat\n')
    with pytest.raises(RunFolderError, match='that is an input'):
        infer.check_args(infer.parser.parse_args([str(labels), '--checkpoint', 'ck.pth.tar', '--output', str(labels)]))


@pytest.mark.parametrize('argv,message', [
    (['x.png', '--topk', '0'], '--topk 0 / -b 64: both must be >= 1'),
    (['x.png', '-b', '0'], '--topk 3 / -b 0: both must be >= 1'),
])
def test_infer_counts_must_be_positive(argv, message, capsys, monkeypatch, tmp_path):
    test_infer_arguments_are_checked_before_any_work(argv, message, capsys, monkeypatch, tmp_path)


@pytest.mark.parametrize('argv,message', [
    (['--topk', '0'], '--topk 0 / -b 256: both must be >= 1'),
    (['--estimate-thresholds'], '--estimate-thresholds tunes one checkpoint on one split; --checkpoint names a folder'),
])
def test_validate_arguments_are_checked_before_any_work(argv, message, capsys, tmp_path):
    import validate
    from timm_ml.cli import validate_script
    with pytest.raises(SystemExit):
        validate_script.check_args(validate.parser.parse_args(['data', '--checkpoint', str(tmp_path), *argv]),
                                   validate.parser)
    assert message in capsys.readouterr().err


@pytest.mark.parametrize('argv,message', [
    (['--threshold', '1.5'], '--threshold 1.5: a probability threshold must be between 0 and 1'),
    (['-b', '0'], '-b must be >= 1'),
])
def test_onnx_predict_arguments_are_checked_before_any_work(argv, message, capsys, monkeypatch):
    from timm_ml.deploy import onnx_predict
    monkeypatch.setattr('sys.argv', ['onnx_predict', 'model.onnx', 'x.png', *argv])
    with pytest.raises(SystemExit) as e:
        onnx_predict.main()
    assert e.value.code == 2 and message in capsys.readouterr().err


def test_onnx_predict_names_a_file_that_is_not_an_onnx_model(capsys, monkeypatch, tmp_path):
    from timm_ml.deploy import onnx_predict
    (tmp_path / 'model.onnx').write_text('not a model')
    monkeypatch.setattr('sys.argv', ['onnx_predict', str(tmp_path / 'model.onnx'), str(tmp_path)])
    with pytest.raises(SystemExit) as e:
        onnx_predict.main()
    err = capsys.readouterr().err
    assert e.value.code == 2 and 'model.onnx: not an ONNX model ONNX Runtime can load' in err
