""" Which of my labels are wrong: an out-of-fold audit of a cached split (python -m timm_ml.features).

    python -m timm_ml.features.audit cache/lite0-224 --out output/audit [--split train] [--folds 5] [--top 60]

k linear heads (L-BFGS, masked BCE + l2), each trained on the other folds, score every image; audit.csv ranks the likely missing tags (labelled
negative / unknown, scored high) and likely wrong tags (positive, scored low); audit/index.html shows the top of each
with thumbnails.
"""
import argparse
import logging

from timm.utils import setup_default_logging

from timm_ml.cli.errors import run_cli

from . import AuditSpec, audit_cache, write_audit


def main():
    setup_default_logging()
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('cache', help='the feature cache')
    parser.add_argument('--out', required=True, help='the audit folder (audit.csv, index.html)')
    parser.add_argument('--split', default='train')
    parser.add_argument('--folds', type=int, default=AuditSpec.folds)
    parser.add_argument('--l2', type=float, default=AuditSpec.l2, help='weight penalty of each fold\'s head')
    parser.add_argument('--max-iter', type=int, default=AuditSpec.max_iter, help='L-BFGS iterations per fold')
    parser.add_argument('--seed', type=int, default=AuditSpec.seed)
    parser.add_argument('--top', type=int, default=60, help='entries of each kind on the page')
    args = parser.parse_args()
    if args.folds < 2:
        parser.error(f'--folds {args.folds}: at least 2 (a head must never see the images it scores)')
    if not (args.l2 >= 0 and args.l2 < float('inf')) or args.max_iter < 1:
        parser.error(f'--l2 {args.l2} / --max-iter {args.max_iter}: a finite l2 >= 0 and at least 1 iteration')
    spec = AuditSpec(folds=args.folds, l2=args.l2, max_iter=args.max_iter, seed=args.seed)
    labels, scores, ranked = audit_cache(args.cache, args.split, spec)
    page = write_audit(args.out, labels, scores, ranked, args.top)
    logging.getLogger(__name__).info(f'{len(labels)} images audited ({args.folds} folds): {page}')


if __name__ == '__main__':
    run_cli(main)
