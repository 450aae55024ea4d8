"""Metrics: OA / F1 / confusion matrix against scikit-learn (property tests), PASTIS ignore semantics, forecast errors, tables."""
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings, strategies as st
from sklearn.metrics import accuracy_score, confusion_matrix as sk_cm, f1_score

from pimc.metrics import (classification_report, confusion_matrix, errors_by_step, forecast_errors, markdown_table,
                          pastis_ignore, plot_confusion, write_results)

labels = st.integers(1, 300).flatmap(lambda n: st.tuples(st.lists(st.integers(0, 6), min_size=n, max_size=n),
                                                          st.lists(st.integers(0, 6), min_size=n, max_size=n)))


@settings(max_examples=80, deadline=None)
@given(labels)
def test_matches_sklearn(case):
    yt, yp = map(np.asarray, case)
    r = classification_report(yt, yp, [f"c{k}" for k in range(7)])
    present = sorted(set(yt.tolist()))
    np.testing.assert_array_equal(r.cm, sk_cm(yt, yp, labels=range(7)))
    assert r.oa == pytest.approx(accuracy_score(yt, yp))
    assert r.macro_f1 == pytest.approx(f1_score(yt, yp, labels=present, average='macro', zero_division=0))
    f = f1_score(yt, yp, labels=range(7), average=None, zero_division=0)
    np.testing.assert_allclose(r.per_class_f1[present], f[present])
    assert np.isnan(r.per_class_f1[[k for k in range(7) if k not in present]]).all()


@settings(max_examples=50, deadline=None)
@given(labels, st.sampled_from([(), (6,), (0, 6)]))
def test_ignored_true_labels_drop_out(case, ignore):
    yt, yp = map(np.asarray, case)
    r = classification_report(yt, yp, [str(k) for k in range(7)], ignore=ignore)
    keep = ~np.isin(yt, ignore)
    assert r.n == keep.sum()
    if keep.any():
        assert r.oa == pytest.approx(accuracy_score(yt[keep], yp[keep]))
        present = sorted(set(yt[keep].tolist()))
        assert r.macro_f1 == pytest.approx(f1_score(yt[keep], yp[keep], labels=present, average='macro', zero_division=0))


def test_pastis_semantics():
    assert pastis_ignore() == (19,) and pastis_ignore(True) == (0, 19)
    yt = np.array([19, 19, 3, 3, 0]); yp = np.array([3, 19, 19, 3, 0])
    r = classification_report(yt, yp, [str(i) for i in range(20)], ignore=pastis_ignore())
    assert r.n == 3 and r.oa == pytest.approx(2 / 3)  # void never counts; predicting void for a kept pixel is an error
    assert 19 not in r.present and r.row()['n_test'] == 3


@pytest.mark.parametrize('y_true, y_pred, kw, msg', [
    ([0, 1], [0], {}, 'same number of labels'),
    ([0.5, 1], [0, 1], {}, 'integer class labels'),
    ([0, 5], [0, 1], {'n_classes': 3}, 'out of range for n_classes=3'),
    ([-1, 0], [0, 0], {}, 'labels must be >= 0'),
])
def test_confusion_errors(y_true, y_pred, kw, msg):
    with pytest.raises((ValueError, TypeError), match=msg): confusion_matrix(y_true, y_pred, **kw)


def test_forecast_errors_by_hand():
    rng = np.random.default_rng(0)
    t, p = rng.normal(size=(50, 3, 10)), rng.normal(size=(50, 3, 10))
    e = forecast_errors(t, p)
    for k, n in enumerate(('NDVI', 'EVI', 'SAVI')):
        assert e[f'RMSE {n}'] == pytest.approx(np.sqrt(((t[:, k] - p[:, k]) ** 2).mean()))
        assert e[f'MAE {n}'] == pytest.approx(np.abs(t[:, k] - p[:, k]).mean())
    np.testing.assert_allclose(errors_by_step(t, p)[1, 4], np.sqrt(((t[:, 1, 4] - p[:, 1, 4]) ** 2).mean()))
    with pytest.raises(ValueError, match='NaN'): forecast_errors(t, np.where(p > 2, np.nan, p))
    with pytest.raises(ValueError, match='names has 1 entries'): forecast_errors(t, p, ['NDVI'])


def test_tables_and_plot(tmp_path):
    df = pd.DataFrame({'method': ['a|b', 'c'], 'OA': [0.5, 0.75], 'n': [3, 4]})
    md = markdown_table(df, 2, {'OA': 'max'})
    assert 'a\\|b' in md and '**0.75**' in md
    csv, mdp = write_results(df, tmp_path / 'x' / 'table', 'T', 'a note')
    assert pd.read_csv(csv).shape == (2, 3) and 'a note' in mdp.read_text()
    ax = plot_confusion(np.array([[3, 1], [0, 4]]), ['a', 'b']).axes[0]
    assert len(ax.texts) == 3
