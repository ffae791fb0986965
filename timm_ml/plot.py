""" Training curves from summary.csv: loss, mAP / F1 and learning rate over epochs.

    python -m timm_ml.plot output/train/<exp>/summary.csv [more summary.csv ...] [--out curves.png]

Several summaries are overlaid (labelled by their experiment folder). Default output: curves.png beside the first.
"""
import argparse
import os
from typing import Optional, Sequence

import matplotlib

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

PANELS = (
    ('loss', ('train_loss', 'eval_loss')),
    ('percent', ('eval_map', 'eval_CF1', 'eval_OF1', 'eval_attr_mean_acc')),
    ('learning rate', ('lr',)),
)


def read_summary(path: str) -> pd.DataFrame:
    """summary.csv as a frame; a file without timm's header row (or not a summary at all) is an error."""
    frame = pd.read_csv(path)
    if 'epoch' not in frame.columns:
        raise ValueError(f'{path} has no header row with an "epoch" column (first row: {list(frame.columns)[:4]}): '
                         'not a train.py summary.csv, or one whose header was lost')
    return frame


def plot_summaries(paths: Sequence[str], out: Optional[str] = None) -> str:
    """Write one PNG with a panel each for loss, metrics and lr; returns its path."""
    out = out or os.path.join(os.path.dirname(os.path.abspath(paths[0])), 'curves.png')
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    for path in paths:
        frame = read_summary(path)
        run = os.path.basename(os.path.dirname(os.path.abspath(path)))
        for ax, (ylabel, columns) in zip(axes, PANELS):
            for col in columns:
                if col in frame.columns and frame[col].notna().any():
                    label = col if len(paths) == 1 else f'{run}: {col}'
                    ax.plot(frame['epoch'], frame[col], marker='o', ms=3, label=label)
            ax.set_xlabel('epoch')
            ax.set_ylabel(ylabel)
            ax.grid(alpha=0.3)
    for ax in axes:
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8)
    axes[2].ticklabel_format(axis='y', style='sci', scilimits=(-3, 3))
    fig.suptitle(', '.join(os.path.basename(os.path.dirname(os.path.abspath(p))) for p in paths), fontsize=10)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('summaries', nargs='+', help='summary.csv files')
    parser.add_argument('--out', default=None, help='PNG path (default: curves.png beside the first summary)')
    args = parser.parse_args()
    try:
        print(plot_summaries(args.summaries, args.out))
    except (ValueError, FileNotFoundError, pd.errors.EmptyDataError) as e:
        parser.error(str(e))


if __name__ == '__main__':
    main()
