""" The out-of-fold label audit against injected errors, beside cleanlab: on a cached real set (bench/feature_table.py
writes it), seeded errors are injected into the training labels (10% of the positives dropped, false positives
added as 5% of the positive count); the audit's out-of-fold scores (python -m timm_ml.features.audit's heads) rank
them; cleanlab 2.9's multi-label find_label_issues ranks images on the same scores.

    python bench/label_audit.py [--cache data/cache/emoji-tf_efficientnet_lite0-224]

Prints precision@k and recall@k (k = the number of injected errors) per kind of entry for the audit, and per image
(an image with any injected error) for both.
"""
import argparse
import os
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _bench import ROOT  # noqa: E402

from timm_ml.data.feature_cache import FeatureDataset, cache_label_set  # noqa: E402
from timm_ml.features.audit import AuditSpec, out_of_fold_scores, pooled_features, rank_suspects  # noqa: E402


def inject(dense, drop=0.10, add=0.05, seed=0):
    """(noisy labels, dropped (row, class), added (row, class)): positives dropped to 0, negatives raised to 1."""
    rng = np.random.default_rng(seed)
    noisy = dense.copy()
    pos = np.argwhere(dense == 1)
    dropped = pos[rng.choice(len(pos), int(drop * len(pos)), replace=False)]
    noisy[dropped[:, 0], dropped[:, 1]] = 0
    neg = np.argwhere(dense == 0)
    added = neg[rng.choice(len(neg), int(add * len(pos)), replace=False)]
    noisy[added[:, 0], added[:, 1]] = 1
    return noisy, dropped, added


def precision_recall(found, injected, k):
    hits = len(set(map(tuple, np.asarray(found)[:k].tolist())) & set(map(tuple, np.asarray(injected).tolist())))
    return hits / max(k, 1), hits / max(len(injected), 1)


def image_pr(ranked_images, bad_images, k):
    hits = len(set(np.asarray(ranked_images)[:k].tolist()) & bad_images)
    return hits / max(k, 1), hits / max(len(bad_images), 1)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--cache', default=os.path.join(ROOT, 'data', 'cache', 'emoji-tf_efficientnet_lite0-224'))
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--folds', type=int, default=5)
    args = parser.parse_args()
    labels = cache_label_set(args.cache, 'train')
    dense = labels.targets.dense()
    noisy, dropped, added = inject(dense, seed=args.seed)
    start = time.time()
    x = pooled_features(FeatureDataset(args.cache, labels))
    scores = out_of_fold_scores(x, torch.from_numpy(noisy).float(), AuditSpec(folds=args.folds, seed=args.seed))
    took = time.time() - start
    ranked = rank_suspects(scores, noisy)
    print(f'{args.cache}: {len(dense)} training images, {dense.shape[1]} classes, {int((dense == 1).sum())} '
          f'positives; injected: {len(dropped)} dropped positives, {len(added)} added false positives '
          f'(seed {args.seed}); audit {args.folds} folds in {took:.0f} s\n')
    print('| method | what is ranked | k | precision@k | recall@k |\n|---|---|---|---|---|')
    for kind, injected in (('missing', dropped), ('wrong', added)):
        p, r = precision_recall(ranked[kind], injected, len(injected))
        print(f'| audit (out-of-fold heads) | {kind} tags (entries) | {len(injected)} | {100 * p:.1f} | {100 * r:.1f} |')
    bad = set(dropped[:, 0].tolist()) | set(added[:, 0].tolist())
    p, r = image_pr(ranked['images'], bad, len(bad))
    print(f'| audit (out-of-fold heads) | images with an error | {len(bad)} | {100 * p:.1f} | {100 * r:.1f} |')
    from cleanlab.filter import find_label_issues
    given = [list(np.flatnonzero(row == 1)) for row in noisy]
    start = time.time()
    issues = find_label_issues(labels=given, pred_probs=scores, multi_label=True,
                               return_indices_ranked_by='self_confidence')
    p, r = image_pr(issues, bad, len(bad))
    print(f'| cleanlab 2.9 find_label_issues (multi_label, same scores) | images with an error | {len(bad)} | '
          f'{100 * p:.1f} | {100 * r:.1f} |')
    p_all, r_all = image_pr(issues, bad, len(issues))
    print(f'| cleanlab, every image it flags | images with an error | {len(issues)} flagged | {100 * p_all:.1f} | '
          f'{100 * r_all:.1f} |  ({time.time() - start:.0f} s)')


if __name__ == '__main__':
    main()
