""" Training curves a person would show: whole-number epoch ticks, a legend that covers no curve, best-epoch labels
that never overlap."""
import matplotlib.figure
import numpy as np
import pandas as pd

from timm_ml.plot import plot_summaries


def test_curves_have_integer_epoch_ticks_and_a_legend_outside_the_panels(tmp_path, monkeypatch):
    for run in ('a', 'b'):
        (tmp_path / run).mkdir()
        pd.DataFrame(dict(epoch=[0, 1, 2], train_loss=[0.9, 0.7, 0.6], eval_loss=[0.8, 0.7, 0.65],
                          eval_map=[40., 50., 45.], lr=[1e-3, 5e-4, 1e-4])).to_csv(tmp_path / run / 'summary.csv',
                                                                                  index=False)
    captured = {}
    save = matplotlib.figure.Figure.savefig
    monkeypatch.setattr(matplotlib.figure.Figure, 'savefig',
                        lambda self, *a, **k: (captured.setdefault('fig', self), save(self, *a, **k))[1])
    out = plot_summaries([str(tmp_path / 'a' / 'summary.csv'), str(tmp_path / 'b' / 'summary.csv')],
                         out=str(tmp_path / 'c.png'))
    fig = captured['fig']
    renderer = fig.canvas.get_renderer() if hasattr(fig.canvas, "get_renderer") else fig._get_renderer()
    for ax in fig.axes:
        ticks = [t for t in ax.get_xticks() if ax.get_xlim()[0] <= t <= ax.get_xlim()[1]]
        assert ticks and all(float(t).is_integer() for t in ticks)
    (legend,) = fig.legends
    box = legend.get_window_extent(renderer)
    assert not any(box.overlaps(ax.get_window_extent(renderer)) for ax in fig.axes)  # covers no curve
    texts = [t.get_text() for t in legend.get_texts()]
    assert 'a: best map 50.00 (epoch 1)' in texts and 'b: best map 50.00 (epoch 1)' in texts  # same epoch, both read
    assert np.asarray(plt_imread(out)).std() > 0


def plt_imread(path):
    import matplotlib.pyplot as plt
    return plt.imread(path)


def test_an_unknown_metric_is_named_with_the_columns_and_a_loss_is_best_at_its_minimum(tmp_path):
    import pytest
    pd.DataFrame(dict(epoch=[0, 1, 2], eval_loss=[0.8, 0.6, 0.7], eval_map=[40., 50., 45.])).to_csv(
        tmp_path / 'summary.csv', index=False)
    with pytest.raises(ValueError, match=r'--metric nosuch: no such column in .*summary\.csv; its columns: eval_loss, '
                                         r'eval_map'):
        plot_summaries([str(tmp_path / 'summary.csv')], out=str(tmp_path / 'c.png'), metric='nosuch')
    pd.DataFrame(dict(epoch=[0, 1], train_loss=[0.9, 0.8], lr=[1e-3, 1e-4])).to_csv(tmp_path / 'noval.csv', index=False)
    assert plot_summaries([str(tmp_path / 'noval.csv')], out=str(tmp_path / 'n.png'))  # no validation: no star, no error
    import matplotlib.figure
    captured = {}
    save = matplotlib.figure.Figure.savefig
    matplotlib.figure.Figure.savefig = lambda self, *a, **k: (captured.setdefault('fig', self), save(self, *a, **k))[1]
    try:
        plot_summaries([str(tmp_path / 'summary.csv')], out=str(tmp_path / 'c.png'), metric='eval_loss')
    finally:
        matplotlib.figure.Figure.savefig = save
    texts = [t.get_text() for t in captured['fig'].legends[0].get_texts()]
    assert 'best loss 0.60 (epoch 1)' in texts
