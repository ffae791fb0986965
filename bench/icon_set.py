""" A second real, naturally annotated multi-label set from another domain, built offline: the Material Design Icons
(npm @mdi/svg, bench/fetch_sets.sh) with the categories their contributors gave them (`meta.json` "tags", e.g.
"Home Automation", "Arrow", "Food / Drink"; 1400 of the 5382 categorised icons carry more than one).

    bash bench/fetch_sets.sh && python bench/icon_set.py --out data/icons

Icons without any category are left out (not annotated: their categories are unknown, not absent). Each icon is
rendered twice with cairosvg: black on white, and in a random dark colour, scaled and shifted on a light random
background. The split is 70 / 15 / 15 by base icon (an icon and its variants, e.g. home / home-outline, share a
`baseIconId`), seeded. Categories kept: at least `--min-icons` base icons in train and present in val and test.
Written as OTX JSON (`train.json`, `val.json`, `test.json`).
"""
import argparse
import collections
import io
import json
import os

import numpy as np
from PIL import Image

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MDI = os.path.join(ROOT, 'data', 'downloads', 'mdi-svg')
SPLITS = (('train', 0.70), ('val', 0.15), ('test', 0.15))


def _render(svg_path: str, size: int, rng=None) -> Image.Image:
    import cairosvg
    svg = open(svg_path, encoding='utf-8').read()
    colour = (0, 0, 0) if rng is None else tuple(int(v) for v in rng.integers(0, 110, 3))
    svg = svg.replace('<path ', f'<path fill="rgb{colour}" ', 1)
    inner = int(size * (0.8 if rng is None else rng.uniform(0.55, 0.95)))
    png = cairosvg.svg2png(bytestring=svg.encode(), output_width=inner, output_height=inner)
    glyph = Image.open(io.BytesIO(png)).convert('RGBA')
    background = (255, 255, 255) if rng is None else tuple(int(v) for v in rng.integers(170, 256, 3))
    canvas = Image.new('RGB', (size, size), background)
    x, y = ((size - inner) // 2,) * 2 if rng is None else (int(rng.integers(0, size - inner + 1)),
                                                          int(rng.integers(0, size - inner + 1)))
    canvas.paste(glyph, (x, y), glyph)
    return canvas


def build(out: str, source: str = MDI, size: int = 96, min_icons: int = 10, seed: int = 0):
    meta_path = os.path.join(source, 'meta.json')
    if not os.path.isfile(meta_path):
        raise FileNotFoundError(f'{meta_path} not found: run bash bench/fetch_sets.sh')
    meta = [m for m in json.load(open(meta_path, encoding='utf-8')) if m.get('tags') and not m.get('deprecated')]
    families = sorted({m['baseIconId'] for m in meta})
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(families))
    split_of, start = {}, 0
    for split, fraction in SPLITS:
        count = round(fraction * len(families)) if split != 'test' else len(families) - start
        for i in order[start:start + count]:
            split_of[families[i]] = split
        start += count
    per_split = {s: collections.Counter() for s, _ in SPLITS}
    for split, _ in SPLITS:
        tagged = collections.defaultdict(set)
        for m in meta:
            if split_of[m['baseIconId']] == split:
                for t in m['tags']:
                    tagged[t].add(m['baseIconId'])
        per_split[split] = collections.Counter({t: len(f) for t, f in tagged.items()})
    classes = sorted(t for t, n in per_split['train'].items()
                     if n >= min_icons and per_split['val'][t] > 0 and per_split['test'][t] > 0)
    entries = {s: [] for s, _ in SPLITS}
    for n, m in enumerate(sorted(meta, key=lambda m: m['name'])):
        tags = [t for t in m['tags'] if t in classes]
        if not tags:
            continue  # categorised only outside the kept classes: nothing known to learn from
        split = split_of[m['baseIconId']]
        os.makedirs(os.path.join(out, split), exist_ok=True)
        for variant, variant_rng in (('a', None), ('b', rng)):
            rel = f'{split}/{m["name"]}{variant}.png'
            _render(os.path.join(source, 'svg', f'{m["name"]}.svg'), size, variant_rng).save(os.path.join(out, rel))
            entries[split].append([rel, tags])
    for split, items in entries.items():
        with open(os.path.join(out, f'{split}.json'), 'w', encoding='utf-8') as f:
            json.dump({'classes': classes, 'images': items}, f)
    counts = {s: len(v) for s, v in entries.items()}
    print(f'{len(meta)} categorised icons, {len(families)} base icons, {len(classes)} categories; images {counts}')
    return classes, counts


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--out', default=os.path.join(ROOT, 'data', 'icons'))
    parser.add_argument('--source', default=MDI)
    parser.add_argument('--size', type=int, default=96)
    parser.add_argument('--min-icons', type=int, default=10)
    parser.add_argument('--seed', type=int, default=0)
    args = parser.parse_args()
    build(args.out, args.source, args.size, args.min_icons, args.seed)


if __name__ == '__main__':
    main()
