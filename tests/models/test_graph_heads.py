""" Label-graph heads (ML-GCN, SSGRL): graph statistics, label embeddings, parameter counts, rebuild from config."""
import numpy as np
import pytest
import torch

from timm_ml.models import (GCNHead, LabelEmbeddingError, SSGRLHead, conditional_cooccurrence, create_ml_model,
                            create_model_from_config, gcn_adjacency, read_label_embeddings)
from timm_ml.data.targets import SparseTargets


def trainable(module):
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


def test_conditional_cooccurrence_matches_a_loop_and_ignores_unknowns():
    rng = np.random.default_rng(0)
    t = rng.choice([1, 0, -1], size=(300, 7), p=[0.3, 0.5, 0.2])
    expected = np.zeros((7, 7))
    for i in range(7):
        for j in range(7):
            if i == j:
                continue
            rows = [r for r in t if r[i] == 1 and r[j] != -1]  # both labels known
            expected[i, j] = np.mean([r[j] == 1 for r in rows]) if rows else 0.
    got = conditional_cooccurrence(t, chunk_rows=64)  # several chunks
    np.testing.assert_allclose(got, expected, atol=1e-12)
    # the sparse targets of a label file give the same statistics
    np.testing.assert_allclose(conditional_cooccurrence(SparseTargets.from_dense(t.astype(np.int8))), expected,
                               atol=1e-12)


def test_unknown_entries_are_not_counted_as_absent():
    # class 1 is unknown whenever class 0 is positive in half the rows: P(1 | 0) stays 1, not 0.5
    t = np.array([[1, 1], [1, -1], [1, 1], [1, -1]])
    assert conditional_cooccurrence(t)[0, 1] == 1.0


def test_gcn_adjacency_by_hand():
    # P(j | i): 0 -> 1 (0.5), 0 -> 2 (0.9), 1 -> 0 (0.3), 2 -> 0 (0.45), 1 -> 2 (0.39)
    p = np.array([[0, .5, .9], [.3, 0, .39], [.45, 0, 0]])
    a = gcn_adjacency(p, tau=0.4, rho=0.25)
    # binary: row 0 -> {1, 2}, row 1 -> {}, row 2 -> {0}; re-weighted rows: [1, .125, .125], [0, 1, 0], [.25, 0, 1]
    raw = np.array([[1, .125, .125], [0, 1, 0], [.25, 0, 1]])
    d = raw.sum(1) ** -0.5
    np.testing.assert_allclose(a, d[:, None] * raw * d[None, :], atol=1e-12)
    assert a[1, 1] == pytest.approx(1.0) and a[0, 1] == pytest.approx(0.125 / np.sqrt(1.25))


def test_gcn_parameter_count_matches_the_resnet101_coco_configuration():
    # ML-GCN on ResNet-101 / COCO: GloVe 300-d inputs (not trained), gc1 300 x 1024, gc2 1024 x 2048, no biases
    emb = np.zeros((80, 300), dtype=np.float32)
    assert trainable(GCNHead(2048, 80, embeddings=emb)) == 300 * 1024 + 1024 * 2048 == 2_404_352
    # without a file the 80 x 300 embeddings are learned
    assert trainable(GCNHead(2048, 80)) == 2_404_352 + 80 * 300


def test_ssgrl_parameter_count_matches_the_resnet101_coco_configuration():
    # SSGRL on ResNet-101 / COCO, D = 2048, word vectors 300-d, intermediary 1024, GGNN at 2048, output 2048
    semantic = 2048 * 1024 + 300 * 1024 + (1024 * 1024 + 1024) + (1024 + 1)  # fc_1, fc_2 (no bias), fc_3, fc_a
    ggnn = 3 * ((2 * 2048 * 2048 + 2048) + (2048 * 2048 + 2048))  # W and U for update, reset and state
    output = (2 * 2048 * 2048 + 2048) + (80 * 2048 + 80)  # fc_output, per-class element-wise classifier
    assert semantic + ggnn + output == 49_770_577
    head = SSGRLHead(2048, 80, embeddings=np.zeros((80, 300), dtype=np.float32))
    assert trainable(head) == 49_770_577


def test_ssgrl_decoupling_equals_the_unfused_reference():
    # fc_a(fc_3(.)) is applied as one vector product: it must equal the two layers applied in turn
    torch.manual_seed(0)
    head = SSGRLHead(16, 5, embed_dim=8, attention_dim=12)
    tokens = torch.randn(2, 9, 16)
    joint = torch.tanh(head.fc_1(tokens).unsqueeze(1) * head.fc_2(head.label_embeddings)[None, :, None])
    scores = head.fc_a(head.fc_3(joint)).squeeze(-1).softmax(-1)
    reference = torch.einsum('bcn,bnd->bcd', scores, tokens)
    torch.testing.assert_close(head.decouple(tokens), reference, rtol=1e-5, atol=1e-6)


def test_gated_graph_step_by_hand():
    torch.manual_seed(0)
    head = SSGRLHead(4, 3, embed_dim=4, attention_dim=4, time_steps=1)
    g = head.ggnn
    h = torch.randn(2, 3, 4)
    p = torch.rand(3, 3)
    a = torch.cat([torch.einsum('ij,bjd->bid', p, h), torch.einsum('ji,bjd->bid', p, h)], -1)
    z = torch.sigmoid(g.update_w(a) + g.update_u(h))
    r = torch.sigmoid(g.reset_w(a) + g.reset_u(h))
    new = (1 - z) * h + z * torch.tanh(g.state_w(a) + g.state_u(r * h))
    torch.testing.assert_close(g(h, p), new)


@pytest.mark.parametrize('model_name,kwargs', [('test_resnet', {}), ('test_vit', dict(img_size=32))])
@pytest.mark.parametrize('ml_head', ['gcn', 'ssgrl'])
def test_graph_heads_on_a_cnn_and_a_vit_rebuild_from_config(model_name, kwargs, ml_head):
    rng = np.random.default_rng(0)
    cond = conditional_cooccurrence(rng.choice([1, 0, -1], size=(50, 6)))
    torch.manual_seed(0)
    model = create_ml_model(model_name, list('abcdef'), ml_head, cond_prob=cond, timm_kwargs=kwargs).eval()
    x = torch.randn(2, 3, 32, 32)
    out = model(x)
    assert out.shape == (2, 6) and torch.isfinite(out).all()
    # the checkpoint alone rebuilds it: graph and embeddings travel in the state dict, options in ml_config
    rebuilt = create_model_from_config(model.ml_config)
    rebuilt.load_state_dict(model.state_dict())
    torch.testing.assert_close(rebuilt.eval()(x), out)
    # the gradient reaches the backbone, the graph layers and the learned embeddings
    model.train()
    model(x).sum().backward()
    assert model.head.label_embeddings.grad is not None
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.backbone.parameters())


def test_gcn_otx_variant_gates_channels():
    torch.manual_seed(0)
    head = GCNHead(8, 4, cond_prob=np.zeros((4, 4)), variant='otx')
    x = torch.randn(3, 8)
    gate = head.class_vectors().max(0).values.sigmoid()
    torch.testing.assert_close(head(x), head.fc(x * gate))
    paper = GCNHead(8, 4, cond_prob=np.zeros((4, 4)))
    torch.testing.assert_close(paper(x), x @ paper.class_vectors().t())


def test_label_embeddings_text_file_by_name_and_word_mean(tmp_path):
    path = tmp_path / 'vectors.txt'
    path.write_text('3 2\ndog 1 2\ntraffic 0 4\nlight 2 0\nperson -1 1\n')  # word2vec header line skipped
    emb = read_label_embeddings(str(path), ['Dog', 'traffic light', 'person'])
    np.testing.assert_allclose(emb, [[1, 2], [1, 2], [-1, 1]])
    with pytest.raises(LabelEmbeddingError, match=r"no vector for 1 of 2 classes.*'cat'"):
        read_label_embeddings(str(path), ['dog', 'cat'])


def test_label_embeddings_npy_shape_checked(tmp_path):
    path = tmp_path / 'e.npy'
    np.save(path, np.ones((3, 5), dtype=np.float32))
    assert read_label_embeddings(str(path), ['a', 'b', 'c']).shape == (3, 5)
    with pytest.raises(LabelEmbeddingError, match=r'expected a \(4, dim\) array'):
        read_label_embeddings(str(path), ['a', 'b', 'c', 'd'])


def test_embeddings_from_a_file_are_fixed_and_recorded():
    emb = np.random.default_rng(0).normal(size=(6, 12)).astype(np.float32)
    model = create_ml_model('test_resnet', list('abcdef'), 'gcn', cond_prob=np.zeros((6, 6)), label_embeddings=emb)
    assert model.ml_config['head_args'] == dict(embed_dim=12, learn_embeddings=False)
    assert 'head.label_embeddings' in model.state_dict()
    assert not any(n.endswith('label_embeddings') for n, _ in model.named_parameters())
    np.testing.assert_allclose(model.head.label_embeddings.numpy(), emb)


@pytest.mark.slow
@pytest.mark.parametrize('ml_head,model', [('gcn', ['--model', 'test_resnet']),
                                           ('ssgrl', ['--model', 'test_vit', '--model-kwargs', 'img_size=32'])])
def test_graph_head_trains_with_partial_labels_validates_and_exports_without_head_flags(mosaic_data, tmp_path, ml_head,
                                                                                         model):
    import json
    import pandas as pd
    from tests.helpers import TINY, run_script
    from timm_ml.utils.checkpoint_io import load_checkpoint_file
    from timm_ml.models import load_model_from_checkpoint
    ort = pytest.importorskip('onnxruntime')
    proc = run_script(['train.py', mosaic_data, *TINY, *model, '--epochs', '2', '--ml-head', ml_head, '--ssgrl-graph-dim', '32',
                       '--ssgrl-attention-dim', '32', '--simulate-partial', 'rps:0.3', '--lr', '1e-2',
                       '--head-lr-scale', '10',
                       '--output', str(tmp_path), '--experiment', 'g'])
    assert 'label embeddings learned' in proc.stdout + proc.stderr
    assert 'Head learning rate: 10 x --lr' in proc.stdout + proc.stderr
    summary = pd.read_csv(tmp_path / 'g' / 'summary.csv')
    ck_path = str(tmp_path / 'g' / 'model_best.pth.tar')
    ck = load_checkpoint_file(ck_path)
    # --head-lr-scale puts the head and the backbone in different optimizer groups, 10 x apart
    lrs = sorted({round(g['lr'] / ck['optimizer']['param_groups'][0]['lr'], 6) for g in ck['optimizer']['param_groups']})
    assert lrs == [1.0, 10.0]
    # validate.py: no head flags, and it reproduces the best epoch's mAP
    res = tmp_path / 'v.json'
    run_script(['validate.py', mosaic_data, '--checkpoint', ck_path, '--results-file', str(res), '-j', '0'])
    assert json.loads(res.read_text())['map'] == pytest.approx(summary.eval_map.max(), abs=1e-3)
    # ONNX export with no head flags matches the model
    run_script(['infer.py', '--checkpoint', ck_path, '--export', 'onnx', '--output', str(tmp_path / 'm.onnx')])
    model, config, _ = load_model_from_checkpoint(ck_path)
    x = torch.randn(3, *config['data_config']['input_size'])
    with torch.no_grad():
        ref = model.eval()(x).sigmoid().numpy()
    got = ort.InferenceSession(str(tmp_path / 'm.onnx'), providers=['CPUExecutionProvider']).run(
        ['scores'], {'input': x.numpy()})[0]
    assert np.abs(got - ref).max() < 1e-4
