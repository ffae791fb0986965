""" A real label tree with free tags: Noto emoji under Unicode's group -> subgroup tree (emoji-test.txt, Debian
unicode-data) with their CLDR keywords as the multi-label block (bench/emoji_set.py writes `<split>_tree.csv`).

    python bench/emoji_hierarchy.py            # 2-core CPU: 64 px, 4 epochs, lr 3e-3 for every model

Three models, the same budget and lr (tf_efficientnet_lite0 from ImageNet weights, AdamW, cosine per update, the
final epoch's weights, reported on test). The CPU preset trains each at lr 3e-3, the setting every linear-classifier row
of bench/real_data.py's search chose at this budget (BCE and ASL: 3e-3 over 1e-3 and 3e-4); the GPU preset searches
{3e-4, 1e-3, 3e-3} per model on val by the mean of the two level accuracies:
- hierarchical: `--tree-columns group subgroup`: a softmax over the groups, a softmax over each group's subgroups
  trained only on images of that group, top-down decoding (a subgroup only under the predicted group);
- flat attributes: `--attribute-columns group subgroup`: two independent softmaxes (group; all 98 subgroups);
- all sigmoid: the tree read as above, `--ml-head linear`: every group, subgroup and keyword an independent sigmoid.
Every model also learns the 87 keywords as sigmoids. Scored from infer.py's score columns, the same way for all three:
accuracy per level over images whose level is known, each model with its own decoding (top-down for the hierarchical
head, an independent argmax otherwise); raw consistency = share of images whose independently argmaxed subgroup lies
under the argmaxed group; keyword mAP = mean over keywords of sklearn's average precision. The split is by emoji
family, so a few subgroups occur only outside train (18 val / 6 test images: animal-amphibian, phone, skin-tone):
no model can predict them; they are skipped (counted) in training's validation and left out of subgroup accuracy.
"""
import argparse
import os
import subprocess
import sys

import numpy as np
import pandas as pd

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _bench import ROOT, recipe, run  # noqa: E402

DATA = os.path.join(ROOT, 'data', 'emoji')
TAGS = ['--labels-column', 'tags', '--label-delimiter', '|', '--train-split', 'train_tree', '--val-split', 'val_tree']
ROWS = [
    ('hierarchical', ['--tree-columns', 'group', 'subgroup', *TAGS]),
    ('flat attributes', ['--attribute-columns', 'group', 'subgroup', '--ml-head', 'attributes', *TAGS]),
    ('all sigmoid', ['--tree-columns', 'group', 'subgroup', '--ml-head', 'linear', *TAGS]),
]
PRESETS = {'cpu': dict(img_size=64, epochs=4, lrs=(3e-3,), extra=['--channels-last', '-j', '2']),
           'gpu': dict(img_size=224, epochs=10, lrs=(3e-4, 1e-3, 3e-3), extra=['--amp', '--channels-last', '-j', '8'])}


def truth(split):
    table = pd.read_csv(os.path.join(DATA, f'{split}_tree.csv'), keep_default_na=False, dtype=str)
    return table


def scores_of(checkpoint, split, out):
    """infer.py's predictions of <split>_tree.csv: (paths, {class: scores})."""
    if not os.path.isfile(out):
        subprocess.run([sys.executable, 'infer.py', os.path.join(DATA, f'{split}_tree.csv'), '--checkpoint',
                        checkpoint, '--output', out, '-j', '2', '-b', '128'], cwd=ROOT, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return pd.read_csv(out, keep_default_na=False)


def evaluate(predictions, table, parent_of, hierarchical):
    """Per-level accuracy, raw consistency and keyword mAP from the score columns (see the module docstring)."""
    from sklearn.metrics import average_precision_score
    table = table.set_index('path').loc[predictions.path]
    groups = sorted({c[len('score_group='):] for c in predictions if c.startswith('score_group=')})
    subgroups = sorted({c[len('score_subgroup='):] for c in predictions if c.startswith('score_subgroup=')})
    g_scores = predictions[[f'score_group={g}' for g in groups]].to_numpy()
    s_scores = predictions[[f'score_subgroup={s}' for s in subgroups]].to_numpy()
    g_pred = np.asarray(groups)[g_scores.argmax(1)]
    s_raw = np.asarray(subgroups)[s_scores.argmax(1)]
    if hierarchical:  # top-down: the best subgroup under the predicted group
        allowed = np.asarray([[parent_of.get(s) == g for s in subgroups] for g in g_pred])
        s_pred = np.asarray(subgroups)[np.where(allowed, s_scores, -np.inf).argmax(1)]
    else:
        s_pred = s_raw
    # a subgroup no training image has (the split is by emoji family) cannot be predicted by any model: left out,
    # the same for all three
    known_g = table.group.values != '#N/A'
    known_s = (table.subgroup.values != '#N/A') & np.isin(table.subgroup.values, subgroups)
    out = dict(group_acc=100 * float((g_pred == table.group.values)[known_g].mean()),
               subgroup_acc=100 * float((s_pred == table.subgroup.values)[known_s].mean()),
               consistency_raw=100 * float(np.mean([parent_of.get(s) == g for s, g in zip(s_raw, g_pred)])),
               consistency=100 * float(np.mean([parent_of.get(s) == g for s, g in zip(s_pred, g_pred)])))
    tags = sorted({c[len('score_'):] for c in predictions if c.startswith('score_') and '=' not in c})
    truth_tags = [set(t.split('|')) if t else set() for t in table.tags.values]
    aps = []
    for t in tags:
        y = np.asarray([t in row for row in truth_tags])
        if y.any():
            aps.append(average_precision_score(y, predictions[f'score_{t}'].to_numpy()))
    out['keyword_map'] = 100 * float(np.mean(aps))
    out['level_mean'] = (out['group_acc'] + out['subgroup_acc']) / 2
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--preset', default='cpu', choices=PRESETS)
    parser.add_argument('--output', default=os.path.join(ROOT, 'output', 'bench_hierarchy'))
    parser.add_argument('--fresh', action='store_true')
    args = parser.parse_args()
    preset = PRESETS[args.preset]
    if not os.path.isfile(os.path.join(DATA, 'test_tree.csv')):
        sys.exit('error: data/emoji/test_tree.csv missing: build the set with python bench/emoji_set.py')
    train = truth('train')
    parent_of = {s: g for g, s in zip(train.group, train.subgroup) if s != '#N/A'}  # the tree as trained on
    val, test = truth('val'), truth('test')
    rows = []
    for name, flags in ROWS:
        found = {}
        for lr in preset['lrs']:
            out_dir = os.path.join(args.output, args.preset, name.replace(' ', '-'), f'lr{lr:g}')
            run(DATA, recipe(preset['img_size'], preset['epochs'], lr, 0, 0, preset['extra']) + flags +
                ['--bad-images', 'skip'], out_dir, (), args.fresh)  # val rows of subgroups train never has: counted
            ck = os.path.join(out_dir, 'last.pth.tar')
            found[lr] = (evaluate(scores_of(ck, 'val', out_dir + '_val.csv'), val, parent_of, name == 'hierarchical'),
                         out_dir)
            print(f'  {name:16s} lr {lr:g}: val group {found[lr][0]["group_acc"]:.2f} subgroup '
                  f'{found[lr][0]["subgroup_acc"]:.2f} keyword mAP {found[lr][0]["keyword_map"]:.2f}', flush=True)
        lr = max(found, key=lambda k: found[k][0]['level_mean'])
        ck = os.path.join(found[lr][1], 'last.pth.tar')
        result = evaluate(scores_of(ck, 'test', found[lr][1] + '_test.csv'), test, parent_of, name == 'hierarchical')
        rows.append(dict(model=name, lr=lr, val_level_mean=found[lr][0]['level_mean'], **result))
    table = pd.DataFrame(rows)
    os.makedirs(os.path.join(args.output, args.preset), exist_ok=True)
    table.to_csv(os.path.join(args.output, args.preset, 'results.csv'), index=False)
    lines = [f'  Preset `{args.preset}`: {preset["img_size"]} px, {preset["epochs"]} epochs, lr chosen on val from '
             f'{", ".join(f"{x:g}" for x in preset["lrs"])}; test split ({len(test)} images).', '',
             '  | model | lr | group acc | subgroup acc | consistency (decoded / raw argmax) | keyword mAP |',
             '  |---|---|---|---|---|---|']
    for r in rows:
        lines.append(f'  | {r["model"]} | {r["lr"]:g} | {r["group_acc"]:.2f} | {r["subgroup_acc"]:.2f} | '
                     f'{r["consistency"]:.1f} / {r["consistency_raw"]:.1f} | {r["keyword_map"]:.2f} |')
    print('\n'.join(lines))
    with open(os.path.join(args.output, args.preset, 'table.md'), 'w') as f:
        f.write('\n'.join(lines) + '\n')


if __name__ == '__main__':
    main()
