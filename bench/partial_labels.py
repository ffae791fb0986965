""" Partial-label losses on the Fashion-MNIST mosaics at one fixed budget.

    python bench/partial_labels.py [--epochs 4] [--train 2000]

Best val mAP for CSL negative / ignore / selective with RPS 0.5 (half the training annotations hidden; selective
both without a prior and with the prior estimated by the ignore-mode model), and BCE vs ASL on full labels. Every
run uses the same model, data, epochs and seed.
"""
import argparse
import os

from _runs import ROOT, ensure_mosaics, run_table

CSL = ['--loss', 'csl', '--loss-reduction', 'batchmean', '--simulate-partial', 'rps:0.5']


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--data', default=os.path.join(ROOT, 'data', 'bench_mosaic'))
    parser.add_argument('--train', type=int, default=2000)
    parser.add_argument('--epochs', type=int, default=4)
    parser.add_argument('--output', default=os.path.join(ROOT, 'output', 'bench_partial'))
    args = parser.parse_args()
    ensure_mosaics(args.data, args.train)
    prior = os.path.join(args.output, 'run1', 'class_prior.csv')  # written by the ignore-mode run
    run_table([
        ('csl negative, rps:0.5', CSL + ['--partial-loss-mode', 'negative']),
        ('csl ignore, rps:0.5', CSL + ['--partial-loss-mode', 'ignore', '--estimate-prior']),
        ('csl selective (top-1), rps:0.5', CSL + ['--partial-loss-mode', 'selective', '--likelihood-topk', '1']),
        ('csl selective + prior, rps:0.5', CSL + ['--partial-loss-mode', 'selective', '--likelihood-topk', '1',
                                                  '--prior-path', prior, '--prior-threshold', '0.3']),
        ('bce, full labels', ['--loss', 'bce']),
        ('asl, full labels', ['--loss', 'asl']),
    ], args.data, args.epochs, args.output)


if __name__ == '__main__':
    main()
