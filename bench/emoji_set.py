""" A real, naturally annotated multi-label image set built offline: emoji with their CLDR keywords.

    apt-get install -y fonts-noto-color-emoji unicode-cldr-core
    python bench/emoji_set.py --out data/emoji

Images are the glyphs of Debian's Noto Color Emoji font; tags are the English keywords people wrote for each emoji in
Unicode CLDR (`annotations/en.xml`, plus `annotationsDerived/en.xml` for skin-tone, gender and family sequences). Each
emoji is drawn twice: once centred on white, once scaled, shifted and on a light random background. The split is
70 / 15 / 15 by *emoji family* (the emoji with its skin-tone modifiers removed), so a skin-tone variant never sits in
train while its sibling is in val or test. Tags kept: keywords on at least `--min-emoji` emoji families of the train
split that also occur in val and in test. Written as OTX JSON (`train.json`, `val.json`, `test.json`) next to the
images, so `train.py data/emoji` reads it with no flags. Beside them, `<split>_tree.csv` holds the same images with
the Unicode group -> subgroup tree of `emoji-test.txt` (Debian unicode-data) and the tags as a label list: the
hierarchical set of bench/emoji_hierarchy.py.

`build_style()` draws the test split again in another emoji style (Twemoji, from the npm package
emoji-datasource-twitter; bench/fetch_sets.sh) as `test_<style>.json`: the same families and tags, other artwork, for
the shift test of bench/real_data.py.
"""
import argparse
import collections
import json
import os
import xml.etree.ElementTree as ET

import numpy as np
from PIL import Image, ImageDraw, ImageFont

FONT = '/usr/share/fonts/truetype/noto/NotoColorEmoji.ttf'
CLDR = '/usr/share/unicode/cldr/common'
EMOJI_TEST = '/usr/share/unicode/emoji/emoji-test.txt'
ANNOTATIONS = ('annotations/en.xml', 'annotationsDerived/en.xml')
SKIN_TONES = {chr(c) for c in range(0x1F3FB, 0x1F400)}
GLYPH_SIZE = 109  # the bitmap strike of Noto Color Emoji
SPLITS = (('train', 0.70), ('val', 0.15), ('test', 0.15))


def read_keywords(cldr: str = CLDR):
    """{emoji: [keywords]} from the CLDR English annotations (the short spoken names are left out)."""
    keywords = {}
    for rel in ANNOTATIONS:
        path = os.path.join(cldr, rel)
        if not os.path.isfile(path):
            raise FileNotFoundError(f'{path} not found: apt-get install -y unicode-cldr-core')
        for node in ET.parse(path).getroot().iter('annotation'):
            if node.get('type') == 'tts' or not node.text:
                continue
            words = [w.strip() for w in node.text.split('|') if w.strip()]
            keywords.setdefault(node.get('cp'), [])
            keywords[node.get('cp')] += [w for w in words if w not in keywords[node.get('cp')]]
    return keywords


def read_emoji_tree(path: str = EMOJI_TEST):
    """{emoji without U+FE0F: (group, subgroup)} from Unicode's emoji-test.txt."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f'{path} not found: apt-get install -y unicode-data')
    tree, group, subgroup = {}, None, None
    with open(path, encoding='utf-8') as f:
        for line in f:
            if line.startswith('# group:'):
                group = line.split(':', 1)[1].strip()
            elif line.startswith('# subgroup:'):
                subgroup = line.split(':', 1)[1].strip()
            elif line.strip() and not line.startswith('#') and ';' in line:
                codes = line.split(';')[0].split()
                emoji = ''.join(chr(int(c, 16)) for c in codes).replace('\ufe0f', '')
                tree.setdefault(emoji, (group, subgroup))
    return tree


def family_of(emoji: str) -> str:
    return ''.join(ch for ch in emoji if ch not in SKIN_TONES)


def render(font, emoji: str, size: int, rng=None) -> Image.Image:
    """The glyph on a square canvas; with `rng`, scaled, shifted and on a light background."""
    glyph = Image.new('RGBA', (144, 144), (0, 0, 0, 0))
    ImageDraw.Draw(glyph).text((4, 8), emoji, font=font, embedded_color=True)
    glyph = glyph.crop(glyph.getbbox())
    background = (255, 255, 255) if rng is None else tuple(int(v) for v in rng.integers(170, 256, 3))
    canvas = Image.new('RGB', (size, size), background)
    scale = 0.8 if rng is None else rng.uniform(0.5, 0.95)
    side = max(glyph.size)
    glyph = glyph.resize((max(1, round(glyph.width * scale * size / side)),
                          max(1, round(glyph.height * scale * size / side))), Image.BICUBIC)
    if rng is None:
        x, y = (size - glyph.width) // 2, (size - glyph.height) // 2
    else:
        x, y = (int(rng.integers(0, size - glyph.width + 1)), int(rng.integers(0, size - glyph.height + 1)))
    canvas.paste(glyph, (x, y), glyph)
    return canvas


def drawable(font, emoji: str) -> bool:
    """The font shapes the whole sequence into one glyph (unsupported sequences fall apart into several)."""
    return 0 < font.getlength(emoji) <= font.getlength('\U0001F600') + 1


def build(out: str, size: int = 128, min_emoji: int = 4, seed: int = 0, cldr: str = CLDR, font_path: str = FONT):
    if not os.path.isfile(font_path):
        raise FileNotFoundError(f'{font_path} not found: apt-get install -y fonts-noto-color-emoji')
    font = ImageFont.truetype(font_path, GLYPH_SIZE, layout_engine=ImageFont.Layout.RAQM)
    keywords = {e: k for e, k in read_keywords(cldr).items() if drawable(font, e)}
    families = sorted({family_of(e) for e in keywords})
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(families))
    split_of, start = {}, 0
    for split, fraction in SPLITS:
        count = round(fraction * len(families)) if split != 'test' else len(families) - start
        for i in order[start:start + count]:
            split_of[families[i]] = split
        start += count

    per_split = collections.defaultdict(collections.Counter)  # tag -> number of emoji families carrying it
    for split in ('train', 'val', 'test'):
        tagged = collections.defaultdict(set)
        for e, words in keywords.items():
            if split_of[family_of(e)] == split:
                for w in words:
                    tagged[w].add(family_of(e))
        per_split[split] = collections.Counter({w: len(f) for w, f in tagged.items()})
    classes = sorted(w for w, n in per_split['train'].items()
                     if n >= min_emoji and per_split['val'][w] > 0 and per_split['test'][w] > 0)

    os.makedirs(out, exist_ok=True)
    entries = {split: [] for split, _ in SPLITS}
    for n, emoji in enumerate(sorted(keywords)):
        split = split_of[family_of(emoji)]
        tags = [w for w in keywords[emoji] if w in classes]
        os.makedirs(os.path.join(out, split), exist_ok=True)
        for variant, variant_rng in (('a', None), ('b', rng)):
            rel = f'{split}/{n:05d}{variant}.jpg'
            render(font, emoji, size, variant_rng).save(os.path.join(out, rel), quality=92)
            entries[split].append([rel, tags])
    for split, items in entries.items():
        with open(os.path.join(out, f'{split}.json'), 'w', encoding='utf-8') as f:
            json.dump({'classes': classes, 'images': items}, f, ensure_ascii=False)
    write_tree_csvs(out, keywords, classes)
    counts = {s: len(v) for s, v in entries.items()}
    print(f'{len(keywords)} emoji, {len(families)} families, {len(classes)} tags; images {counts} -> {out}')
    return classes, counts


def _emoji_of_image(rel: str, keywords):
    return sorted(keywords)[int(os.path.basename(rel)[:5])]


def write_tree_csvs(out: str, keywords=None, classes=None, tree_file: str = EMOJI_TEST):
    """<split>_tree.csv: path, group, subgroup (Unicode's tree), tags ('|'-joined), for the images of <split>.json."""
    import csv
    keywords = keywords if keywords is not None else _drawable_keywords()
    tree = read_emoji_tree(tree_file)
    for split, _ in SPLITS:
        with open(os.path.join(out, f'{split}.json'), encoding='utf-8') as f:
            items = json.load(f)['images']
        with open(os.path.join(out, f'{split}_tree.csv'), 'w', newline='', encoding='utf-8') as f:
            w = csv.writer(f)
            w.writerow(['path', 'group', 'subgroup', 'tags'])
            for rel, tags in items:
                group, subgroup = tree.get(_emoji_of_image(rel, keywords).replace('\ufe0f', ''), ('#N/A', '#N/A'))
                w.writerow([rel, group, subgroup, '|'.join(tags)])


def _drawable_keywords(cldr: str = CLDR, font_path: str = FONT):
    font = ImageFont.truetype(font_path, GLYPH_SIZE, layout_engine=ImageFont.Layout.RAQM)
    return {e: k for e, k in read_keywords(cldr).items() if drawable(font, e)}


def _paste(glyph: Image.Image, size: int, rng=None) -> Image.Image:
    """An RGBA glyph on a square canvas, as render() places font glyphs."""
    glyph = glyph.crop(glyph.getbbox())
    background = (255, 255, 255) if rng is None else tuple(int(v) for v in rng.integers(170, 256, 3))
    canvas = Image.new('RGB', (size, size), background)
    scale = 0.8 if rng is None else rng.uniform(0.5, 0.95)
    side = max(glyph.size)
    glyph = glyph.resize((max(1, round(glyph.width * scale * size / side)),
                          max(1, round(glyph.height * scale * size / side))), Image.BICUBIC)
    x, y = ((size - glyph.width) // 2, (size - glyph.height) // 2) if rng is None else \
        (int(rng.integers(0, size - glyph.width + 1)), int(rng.integers(0, size - glyph.height + 1)))
    canvas.paste(glyph, (x, y), glyph)
    return canvas


def build_style(out: str, images_dir: str, style: str = 'twemoji', split: str = 'test', size: int = 128,
                seed: int = 1):
    """Draw the emoji of `split` again from another style's PNGs (named by lower-case code points joined by '-',
    as emoji-datasource-* ship them), same tags: `<split>_<style>.json`. Emoji the style lacks are left out (counted)."""
    keywords = _drawable_keywords()
    with open(os.path.join(out, f'{split}.json'), encoding='utf-8') as f:
        data = json.load(f)
    files = {os.path.splitext(n)[0].replace('-fe0f', ''): os.path.join(images_dir, n) for n in os.listdir(images_dir)}
    rng = np.random.default_rng(seed)
    items, missing = [], 0
    os.makedirs(os.path.join(out, f'{split}_{style}'), exist_ok=True)
    for rel, tags in data['images']:
        if not rel.endswith('a.jpg'):
            continue  # one entry per emoji: its two variants are drawn here
        emoji = _emoji_of_image(rel, keywords)
        key = '-'.join(f'{ord(c):x}' for c in emoji if c != '\ufe0f')
        if key not in files:
            missing += 1
            continue
        glyph = Image.open(files[key]).convert('RGBA')
        for variant, variant_rng in (('a', None), ('b', rng)):
            new = f'{split}_{style}/{os.path.basename(rel)[:5]}{variant}.jpg'
            _paste(glyph, size, variant_rng).save(os.path.join(out, new), quality=92)
            items.append([new, tags])
    with open(os.path.join(out, f'{split}_{style}.json'), 'w', encoding='utf-8') as f:
        json.dump({'classes': data['classes'], 'images': items}, f, ensure_ascii=False)
    print(f'{style}: {len(items)} images of the {split} split ({missing} emoji not in the style) -> {out}')
    return len(items), missing


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--out', default=os.path.join(os.path.dirname(os.path.dirname(__file__)), 'data', 'emoji'))
    parser.add_argument('--size', type=int, default=128, help='image side in pixels (default: 128)')
    parser.add_argument('--min-emoji', type=int, default=4,
                        help='keep tags carried by at least this many emoji families in train (default: 4)')
    parser.add_argument('--seed', type=int, default=0)
    args = parser.parse_args()
    build(args.out, args.size, args.min_emoji, args.seed)


if __name__ == '__main__':
    main()
