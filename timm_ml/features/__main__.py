""" Write a feature cache: one pass of a frozen pretrained backbone over each split of a dataset (any layout train.py
reads), its unpooled features stored as float16 shards with the targets, resumable, with a progress bar.

    python -m timm_ml.features /data/mine --model tf_efficientnet_lite0 --pretrained-path lite0.pth --img-size 224 \\
        --out cache/lite0-224 [--splits train validation test] [--views 2]
    python train.py --features cache/lite0-224 --ml-head mldecoder --lr 3e-4 --epochs 20 ...   # the head alone

The checkpoint of a run on the cache is the whole model (the cache's backbone + the trained head): validate.py,
infer.py and the exports read images with it like any checkpoint.
"""
import argparse
import logging

from timm.utils import setup_default_logging

from timm_ml.cli.errors import run_cli
from timm_ml.config import LabelsConfig, label_options
from timm_ml.data.label_args import add_label_args

from .cache_writer import FeatureCacheSpec, write_feature_cache


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('data', help='the dataset root (any layout train.py reads)')
    parser.add_argument('--out', required=True, help='the cache folder (a rerun of the same command resumes it)')
    parser.add_argument('--model', required=True, help='the timm backbone')
    parser.add_argument('--pretrained-path', default=None, help='its local weights (converted: timm_ml.models.convert)')
    parser.add_argument('--pretrained', action='store_true', help='timm\'s pretrained weights (network)')
    parser.add_argument('--img-size', type=int, default=224, help='input size (default: 224)')
    parser.add_argument('--splits', nargs='+', default=['train', 'validation', 'test'],
                        help='splits to cache, the training split first (default: train validation test)')
    parser.add_argument('--views', type=int, default=0,
                        help='augmented views of the training split besides the clean one (timm\'s training '
                             'transform, seeded; epoch e trains on view e mod (views + 1)) (default: 0)')
    parser.add_argument('--shard-size', type=int, default=1024, help='images per shard file (default: 1024)')
    parser.add_argument('-b', '--batch-size', type=int, default=64)
    parser.add_argument('-j', '--workers', type=int, default=2)
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--seed', type=int, default=0, help='seed of the augmented views')
    parser.add_argument('--class-map', default='', help='a class list fixing the classes and their order')
    parser.add_argument('--bad-images', default='error', choices=('error', 'skip'))
    add_label_args(parser)
    args = parser.parse_args(argv)
    for flag, value in (('--img-size', args.img_size), ('--shard-size', args.shard_size), ('-b', args.batch_size)):
        if value < 1:
            parser.error(f'{flag} {value}: must be >= 1')
    if args.views < 0 or args.workers < 0:
        parser.error('--views / -j: must be >= 0')
    return args


def main(argv=None):
    setup_default_logging()
    args = parse_args(argv)
    labels = LabelsConfig(root=args.data, class_map=args.class_map, bad_images=args.bad_images,
                          **label_options(args))
    spec = FeatureCacheSpec(model=args.model, pretrained_path=args.pretrained_path, pretrained=args.pretrained,
                            img_size=args.img_size, splits=tuple(args.splits), views=args.views,
                            shard_size=args.shard_size, batch_size=args.batch_size, workers=args.workers,
                            seed=args.seed)
    info = write_feature_cache(labels, spec, args.out, device=args.device)
    logging.getLogger(__name__).info(
        f'cache {args.out}: {info["model"]} at {info["img_size"]} px, '
        + ', '.join(f'{s} {v["images"]} images' for s, v in info['splits'].items()))


if __name__ == '__main__':
    run_cli(main)
