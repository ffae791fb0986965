""" Class-balance report for attribute label files: counts, #N/A rate, rare-class co-occurrence, with PNG charts.

    python -m fashion_attrs.report data/garments/train.csv --out report/ [--sampler-power 1 --sampler-cap 10]

Writes class_counts.csv (per attribute value: count, share, expected count per epoch uniform and with the balanced
sampler), na_rate.csv, rare_cooccurrence.csv (for each rare value, how often each value of the other attributes
appears with it) and balance.png (one bar chart per attribute, uniform vs balanced sampling).
"""
import argparse
import csv
import os

import matplotlib

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from timm_ml.data import expected_class_counts, rarity_weights, read_label_set  # noqa: E402


def balance_report(label_file: str, out_dir: str, rare_fraction: float = 0.25, sampler_power: float = 1.0,
                   sampler_cap: float = 10.0, label_set=None) -> dict:
    """Write the report files; returns {'counts': (C,), 'uniform': (C,), 'balanced': (C,), 'png': path}.

    Args:
        label_file: Attribute CSV (or any label file; label-list files are one attribute named 'labels').
        rare_fraction: A value is rare when its count is below this fraction of its attribute's largest count.
    """
    ls = label_set or read_label_set(None, label_file)
    os.makedirs(out_dir, exist_ok=True)
    dense = ls.targets.dense()
    groups = ls.schema.groups
    spans = [(g.name, g.start, g.end, g.values) for g in groups] or [('labels', 0, ls.num_classes, ls.classes)]
    counts = (dense == 1).sum(0)
    uniform = expected_class_counts(ls.targets)
    balanced = expected_class_counts(ls.targets, rarity_weights(ls.targets, sampler_power, sampler_cap))

    with open(os.path.join(out_dir, 'class_counts.csv'), 'w', newline='') as f:
        w = csv.writer(f)
        w.writerow(['attribute', 'value', 'count', 'share', 'seen_per_epoch_uniform', 'seen_per_epoch_balanced'])
        for name, s, e, values in spans:
            total = max(counts[s:e].sum(), 1)
            for j, v in enumerate(values):
                w.writerow([name, v, int(counts[s + j]), f'{counts[s + j] / total:.4f}', f'{uniform[s + j]:.1f}',
                            f'{balanced[s + j]:.1f}'])
    with open(os.path.join(out_dir, 'na_rate.csv'), 'w', newline='') as f:
        w = csv.writer(f)
        w.writerow(['attribute', 'na_count', 'na_rate'])
        for name, s, e, _ in spans:
            na = int((dense[:, s:e] == -1).all(1).sum())
            w.writerow([name, na, f'{na / max(len(ls), 1):.4f}'])
    with open(os.path.join(out_dir, 'rare_cooccurrence.csv'), 'w', newline='') as f:
        w = csv.writer(f)
        w.writerow(['attribute', 'rare_value', 'rare_count', 'other_attribute', 'other_value', 'count'])
        for name, s, e, values in spans:
            top = counts[s:e].max()
            for j, v in enumerate(values):
                if counts[s + j] == 0 or counts[s + j] >= rare_fraction * top:
                    continue
                rows = dense[:, s + j] == 1
                for other, os_, oe, ovalues in spans:
                    if other == name:
                        continue
                    co = (dense[rows, os_:oe] == 1).sum(0)
                    for k, ov in enumerate(ovalues):
                        if co[k]:
                            w.writerow([name, v, int(counts[s + j]), other, ov, int(co[k])])

    fig, axes = plt.subplots(len(spans), 1, figsize=(9, 2.8 * len(spans)), squeeze=False)
    for ax, (name, s, e, values) in zip(axes[:, 0], spans):
        x = np.arange(e - s)
        ax.bar(x - 0.2, uniform[s:e], 0.4, label='uniform (as stored)')
        ax.bar(x + 0.2, balanced[s:e], 0.4, label=f'balanced sampler (power {sampler_power}, cap {sampler_cap})')
        ax.set_xticks(x)
        ax.set_xticklabels(values, rotation=30, ha='right', fontsize=8)
        ax.set_title(f'{name}: images per epoch per value', fontsize=10)
        ax.legend(fontsize=7)
    fig.tight_layout()
    png = os.path.join(out_dir, 'balance.png')
    fig.savefig(png, dpi=100)
    plt.close(fig)
    return dict(counts=counts, uniform=uniform, balanced=balanced, png=png, spans=spans)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('label_file')
    parser.add_argument('--out', required=True)
    parser.add_argument('--rare-fraction', type=float, default=0.25)
    parser.add_argument('--sampler-power', type=float, default=1.0)
    parser.add_argument('--sampler-cap', type=float, default=10.0)
    args = parser.parse_args()
    r = balance_report(args.label_file, args.out, args.rare_fraction, args.sampler_power, args.sampler_cap)
    print(f'wrote {args.out}/class_counts.csv, na_rate.csv, rare_cooccurrence.csv, {r["png"]}')


if __name__ == '__main__':
    main()
