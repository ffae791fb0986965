""" The error-analysis page in a real headless browser (Debian's Chromium driven by playwright, slow tier): it loads
with no console error and no network request, its class table, curve and image grids render, sorting works, and the
numbers it shows are validate.py's."""
import json
import os
import shutil

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from tests.helpers import run_script

pytestmark = pytest.mark.slow
CHROMIUM = shutil.which('chromium') or shutil.which('chromium-browser')


@pytest.fixture(scope='module')
def page_of_report(trained, mosaic_data, tmp_path_factory):
    playwright = pytest.importorskip('playwright.sync_api')
    if CHROMIUM is None:
        pytest.skip('chromium is not installed (scripts/install.sh --test installs it)')
    out = tmp_path_factory.mktemp('report')
    ck = os.path.join(trained[0], 'model_best.pth.tar')
    run_script(['python', '-m', 'timm_ml.report', mosaic_data, '--checkpoint', ck, '--split', 'test', '-j', '0',
                '--out', str(out / 'page'), '--results-file', str(out / 'test.json')][1:])
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM,
                                    args=['--headless=new', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'])
        page = browser.new_page(viewport={'width': 1300, 'height': 1000})
        problems, requests = [], []
        page.on('console', lambda m: problems.append(m.text) if m.type in ('error', 'warning') else None)
        page.on('pageerror', lambda e: problems.append(str(e)))
        page.on('request', lambda r: requests.append(r.url))
        page.goto('file://' + str(out / 'page' / 'index.html'))
        page.wait_for_load_state('load')
        results = json.load(open(out / 'test.json'))
        results['per_class'] = pd.read_csv(out / 'test_per_class.csv').to_dict('records')  # validate.py's table
        yield page, problems, requests, results, out
        browser.close()


def test_the_page_loads_offline_without_errors_and_renders(page_of_report):
    page, problems, requests, results, out = page_of_report
    assert problems == []
    assert all(u.startswith('file://') for u in requests), requests  # nothing from the network
    assert page.locator('#rows tr').count() == len(results['per_class']) == 10
    assert page.locator('#curve').count() == 1 and page.locator('#operating-point').count() == 1
    shown = page.locator('#fp img, #fn img')
    assert shown.count() > 0
    assert all(shown.nth(i).evaluate('i => i.complete && i.naturalWidth > 0') for i in range(shown.count()))
    page.screenshot(path=str(out / 'shot.png'), full_page=True)
    pixels = np.asarray(Image.open(out / 'shot.png').convert('L'), dtype=np.float32)
    assert pixels.std() > 20 and (pixels < 128).mean() > 0.02  # not a blank page


def test_the_page_shows_validates_numbers_and_sorts(page_of_report):
    page, _, _, results, _ = page_of_report
    assert page.locator('[data-metric=map]').text_content() == f"map {results['map']:.2f}"
    cells = page.locator('#rows tr').evaluate_all(
        'rows => rows.map(r => [r.querySelector("[data-key=name]").textContent, '
        'r.querySelector("[data-key=ap]").textContent, r.querySelector("[data-key=f1]").textContent, '
        'r.querySelector("[data-key=positives]").textContent])')
    expected = {r['name']: (f"{r['ap']:.2f}", f"{r['f1']:.2f}", str(r['positives'])) for r in results['per_class']}
    assert {name: (ap, f1, n) for name, ap, f1, n in cells} == expected
    aps = [float(ap) for _, ap, _, _ in cells]
    assert aps == sorted(aps, reverse=True)  # AP, best first
    page.locator('th[data-key=ap]').click()
    ascending = page.locator('#rows [data-key=ap]').all_text_contents()
    assert [float(a) for a in ascending] == sorted(aps)
    worst = page.locator('#rows tr').first
    worst.click()
    name = worst.locator('[data-key=name]').text_content()
    assert page.locator('#class-title').text_content() == name
    row = next(r for r in results['per_class'] if r['name'] == name)
    assert f"AP {row['ap']:.2f}" in page.locator('#class-stats').text_content()
