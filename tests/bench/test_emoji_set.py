""" The real-data benchmark's image set (bench/emoji_set.py): CLDR keywords, family-grouped split."""
import json
import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'bench'))
emoji_set = pytest.importorskip('emoji_set')

pytestmark = pytest.mark.skipif(not (os.path.isfile(emoji_set.FONT) and os.path.isdir(emoji_set.CLDR)),
                                reason='apt-get install -y fonts-noto-color-emoji unicode-cldr-core')


def test_keywords_come_from_cldr_and_skin_tones_share_a_family():
    keywords = emoji_set.read_keywords()
    assert 'face' in keywords['\U0001F600'] and 'grin' in keywords['\U0001F600']  # grinning face
    thumbs_dark = '\U0001F44D\U0001F3FF'
    assert 'dark skin tone' in keywords[thumbs_dark]
    assert emoji_set.family_of(thumbs_dark) == '\U0001F44D'


@pytest.mark.slow
def test_build_splits_by_family_and_labels_every_image_from_its_keywords(tmp_path):
    classes, counts = emoji_set.build(str(tmp_path))
    splits = {s: json.load(open(tmp_path / f'{s}.json', encoding='utf-8')) for s in ('train', 'val', 'test')}
    assert all(d['classes'] == classes for d in splits.values())
    assert sum(counts.values()) == sum(len(d['images']) for d in splits.values()) and counts['train'] > 5000
    # every kept tag occurs in every split, and no image has a tag outside the class list
    for d in splits.values():
        seen = {t for _, tags in d['images'] for t in tags}
        assert seen == set(classes)
    assert all(os.path.isfile(tmp_path / rel) for d in splits.values() for rel, _ in d['images'][:50])
