""" A hierarchical set in OTX's published Datumaro h-label layout, end to end (slow tier): it trains with --ml-head
alone, validates, predicts and exports; validate.py, infer.py and the torch-free ONNX reader decode alike, a child
only under its predicted parent."""
import json
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from tests.helpers import ROOT, run_script

pytestmark = pytest.mark.slow

LABELS = [('Heart', ''), ('Heart_King', 'Heart'), ('Heart_Queen', 'Heart'), ('Spade', ''), ('Spade_Queen', 'Spade'),
          ('Spade_King', 'Spade'), ('shiny', '')]  # and a free tag (OTX: a singleton group)
GROUPS = [('default', ['Heart', 'Spade']), ('default___Heart_Group', ['Heart_King', 'Heart_Queen']),
          ('default___Spade_Group', ['Spade_King', 'Spade_Queen']), ('shiny_group', ['shiny'])]


def make_hlabel(root, n_train=48, n_val=24):
    names = [n for n, _ in LABELS]
    leaves = ['Heart_King', 'Heart_Queen', 'Spade_Queen', 'Spade_King']
    colours = {'Heart_King': (200, 30, 30), 'Heart_Queen': (230, 90, 90), 'Spade_Queen': (40, 40, 200),
               'Spade_King': (30, 30, 90)}
    for split, n in (('train', n_train), ('val', n_val)):
        items = []
        os.makedirs(os.path.join(root, 'images', split))
        rng = np.random.default_rng(len(split))
        for i in range(n):
            leaf = leaves[i % 4]
            shiny = i % 3 == 0
            pixels = np.clip(np.array(colours[leaf]) + rng.normal(0, 20, (16, 16, 3)), 0, 255).astype(np.uint8)
            if shiny:
                pixels[:4] = 255
            Image.fromarray(pixels).save(os.path.join(root, 'images', split, f'{i:03d}.jpg'))
            annotations = [dict(id=0, type='label', attributes={}, group=0, label_id=names.index(leaf))]
            if shiny:
                annotations.append(dict(id=1, type='label', attributes={}, group=0, label_id=names.index('shiny')))
            if i % 7 == 6:  # an image whose leaf is ignored: only its suit is known
                annotations = [dict(id=0, type='label', attributes={}, group=0, label_id=names.index(leaf.split('_')[0]))]
            items.append(dict(id=f'{i:03d}', annotations=annotations, attr=dict(has_empty_label=False),
                              image=dict(path=f'{i:03d}.jpg', size=[16, 16])))
        data = dict(dm_format_version='1.0', media_type=2, infos={}, categories=dict(label=dict(
            labels=[dict(name=n, parent=p, attributes=[]) for n, p in LABELS],
            label_groups=[dict(name=g, group_type='exclusive', labels=ls) for g, ls in GROUPS], attributes=[])),
            items=items)
        os.makedirs(os.path.join(root, 'annotations'), exist_ok=True)
        with open(os.path.join(root, 'annotations', f'{split}.json'), 'w') as f:
            json.dump(data, f)


def test_hlabel_trains_validates_predicts_and_exports_consistently(tmp_path):
    root = str(tmp_path / 'hlabel')
    make_hlabel(root)
    run_script(['train.py', root, '--ml-head', 'hierarchical', '--model', 'test_resnet', '--input-size', '3', '16',
                '16', '-b', '8', '-j', '0', '--epochs', '4', '--warmup-epochs', '0', '--opt', 'adamw', '--lr', '3e-3',
                '--output', str(tmp_path / 'out'), '--experiment', 'h'])
    summary = pd.read_csv(tmp_path / 'out' / 'h' / 'summary.csv')
    for col in ('eval_default_acc', 'eval_level_default___Heart_Group_acc', 'eval_attr_mean_acc', 'eval_map',
                'eval_hier_consistency', 'eval_hier_consistency_raw'):
        assert col in summary.columns or col.replace('default___Heart_Group', 'default@1') in summary.columns, col
    assert (summary.eval_hier_consistency == 100).all()
    ck = str(tmp_path / 'out' / 'h' / 'model_best.pth.tar')
    proc = run_script(['validate.py', '--checkpoint', ck, '-j', '0', '-b', '8', '--results-file',
                       str(tmp_path / 'r.json')])
    result = json.load(open(tmp_path / 'r.json'))
    assert f"* mAP {result['map']:.3f}" in proc.stdout and f"acc {result['attr_mean_acc']:.3f}" in proc.stdout
    assert '  level ' in proc.stdout and result['hier_consistency'] == 100.
    # infer.py and the ONNX reader: the same decoded labels, a child only under its predicted parent
    val = os.path.join(root, 'images', 'val')
    run_script(['infer.py', val, '--checkpoint', ck, '--output', str(tmp_path / 'p.csv'), '-j', '0'])
    preds = pd.read_csv(tmp_path / 'p.csv', keep_default_na=False)
    assert {'Predicted default', 'Predicted default___Heart_Group', 'Predicted default___Spade_Group',
            'tags'} <= set(preds.columns)
    for _, row in preds.iterrows():
        suit = row['Predicted default']
        other = 'Spade' if suit == 'Heart' else 'Heart'
        assert row[f'Predicted default___{suit}_Group'].startswith(suit)
        assert row[f'Predicted default___{other}_Group'] == ''  # nothing under the parent not predicted
    run_script(['infer.py', '--checkpoint', ck, '--export', 'onnx', '--output', str(tmp_path / 'm.onnx')])
    subprocess.run([sys.executable, '-m', 'timm_ml.deploy.onnx_predict', str(tmp_path / 'm.onnx'), val, '--output',
                    str(tmp_path / 'o.csv')], cwd=str(tmp_path), check=True, env=dict(os.environ, PYTHONPATH=ROOT))
    onnx = pd.read_csv(tmp_path / 'o.csv', keep_default_na=False)
    assert onnx['labels'].tolist() == preds['labels'].tolist()
    assert onnx['Predicted default'].tolist() == preds['Predicted default'].tolist()
    scores = [c for c in preds.columns if c.startswith('score_')]
    assert np.abs(onnx[scores].to_numpy(float) - preds[scores].to_numpy(float)).max() < 1e-4
