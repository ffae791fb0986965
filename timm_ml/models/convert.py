""" Map a foreign state dict onto a timm model tensor by tensor, in order (e.g. the packaged EfficientNet-Lite0
ImageNet weights onto timm's tf_efficientnet_lite0), and save it for --pretrained-path.

    python -m timm_ml.models.convert SRC.pth DST.pth --model tf_efficientnet_lite0
"""
import argparse
from collections import OrderedDict

import timm
import torch


def convert_by_order(source: 'OrderedDict[str, torch.Tensor]', model_name: str) -> 'OrderedDict[str, torch.Tensor]':
    """Rename every tensor of `source` to the timm model's key at the same position; shapes must all agree."""
    target = timm.create_model(model_name, pretrained=False).state_dict()
    if len(source) != len(target):
        raise ValueError(f'{len(source)} source tensors vs {len(target)} in {model_name}: not a one-to-one mapping')
    out = OrderedDict()
    for (src_key, value), (dst_key, ref) in zip(source.items(), target.items()):
        if value.shape != ref.shape:
            raise ValueError(f'{src_key} {tuple(value.shape)} does not fit {dst_key} {tuple(ref.shape)}')
        out[dst_key] = value
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('source')
    parser.add_argument('dest')
    parser.add_argument('--model', default='tf_efficientnet_lite0')
    args = parser.parse_args()
    source = torch.load(args.source, map_location='cpu', weights_only=True)
    torch.save(convert_by_order(source, args.model), args.dest)
    print(f'wrote {args.dest}')


if __name__ == '__main__':
    main()
