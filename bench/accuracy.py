""" Heads and losses on the Fashion-MNIST mosaics at one fixed budget (the demo's data, model and schedule).

    python bench/accuracy.py [--epochs 8] [--train 4000]

BCE + linear head (the plain timm baseline) vs ASL vs ML-Decoder vs AAM with the cosine head vs the label-graph heads
(ML-GCN, SSGRL); prints best val mAP and the gain of each over the first run.
"""
import argparse
import os

from _runs import ROOT, ensure_mosaics, run_table


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--data', default=os.path.join(ROOT, 'data', 'fmnist_mosaic'))
    parser.add_argument('--train', type=int, default=4000)
    parser.add_argument('--epochs', type=int, default=8)
    parser.add_argument('--output', default=os.path.join(ROOT, 'output', 'bench_accuracy'))
    parser.add_argument('--runs', default='', help='comma-separated run numbers to keep (default: all; 0 is the '
                                                   'baseline the gains are measured against)')
    args = parser.parse_args()
    ensure_mosaics(args.data, args.train)
    runs = [
        ('bce + linear (timm baseline)', ['--loss', 'bce']),
        ('asl (timm defaults: gamma+ 1) + linear', ['--loss', 'asl', '--gamma-pos', '1']),
        ('asl (paper: gamma+ 0) + linear', ['--loss', 'asl', '--gamma-pos', '0']),
        # the decoder diverges at the linear head's lr when the backbone trains from scratch: lower lr
        ('asl + ml-decoder (lr 1e-3)', ['--loss', 'asl', '--ml-head', 'mldecoder', '--mld-dim', '256', '--mld-ff', '512',
                                        '--lr', '1e-3']),
        ('aam + cosine', ['--ml-head', 'cosine', '--loss', 'aam', '--aam-s', '23', '--aam-m', '0', '--aam-k', '0.7']),
        ('gcn (recipe: bce)', ['--ml-head', 'gcn']),
        ('ssgrl (recipe: bce)', ['--ml-head', 'ssgrl']),
    ]
    if args.runs:
        runs = [runs[int(i)] for i in args.runs.split(',')]
    table = run_table(runs, args.data, args.epochs, args.output)
    base = table.best_map.iloc[0]
    for _, row in table.iloc[1:].iterrows():
        print(f'{row.run:36s} {row.best_map - base:+.2f} mAP vs baseline')


if __name__ == '__main__':
    main()
