"""The fitting core: one device rule (what pretraining and the downstream fits both rely on), one thread guard, the
label-fraction draw the committed tables were made with, the compare loop's checks before anything trains, and the
progress bar of a long fit."""
import numpy as np
import pytest
import torch
from torch import nn

from pimc.fit import (DEVICES, Outcome, compare, fit_network, label_fraction, method_specs, needs_encoder,
                      resolve_device, torch_threads)


@pytest.mark.parametrize('device, want', [(None, 'cpu'), ('cpu', 'cpu'), (torch.device('cpu'), 'cpu')])
def test_device_cpu(device, want):
    assert resolve_device(device) == torch.device(want)


def test_device_auto_and_refusals(monkeypatch):
    auto = resolve_device('auto')
    assert auto.type == ('cuda' if torch.cuda.is_available() else 'mps' if torch.backends.mps.is_available() else 'cpu')
    with pytest.raises(ValueError, match=r"device must be one of .* or 'cuda:N' \(got 'gpu'\)"): resolve_device('gpu')
    if not torch.cuda.is_available():   # asked for by name and absent: refused at once, not at the first .to()
        for d in ('cuda', 'cuda:0', torch.device('cuda', 0)):
            with pytest.raises(RuntimeError, match='CUDA is not available'): resolve_device(d)
    else:                               # under torchrun, 'cuda' and 'auto' follow the local rank
        monkeypatch.setenv('LOCAL_RANK', str(torch.cuda.device_count() + 1))
        assert resolve_device('cuda').index == (torch.cuda.device_count() + 1) % torch.cuda.device_count()
        with pytest.raises(RuntimeError, match='CUDA device'): resolve_device(f'cuda:{torch.cuda.device_count()}')
    assert DEVICES == ('auto', 'cpu', 'cuda', 'mps')


def test_train_uses_the_same_rule():
    import pimc.pretrain
    assert pimc.pretrain.resolve_device is resolve_device


def test_torch_threads_sets_and_restores():
    n0 = torch.get_num_threads()
    with torch_threads(1) as n: assert n == torch.get_num_threads() == 1
    with torch_threads():
        torch.set_num_threads(2)         # a library resetting the count inside the block
    assert torch.get_num_threads() == n0


def test_label_fraction_is_the_committed_draw():
    "The 1 % and 10 % rows of results/classify_*.csv were drawn this way: a change here moves them."
    y = np.repeat([0, 1, 2], [40, 25, 3])
    assert label_fraction(y, 0.1, 0).tolist() == [10, 19, 24, 31, 40, 44, 66]
    assert np.bincount(y[label_fraction(y, 0.01, 0)]).tolist() == [1, 1, 1]


def _one(calls):
    def one(method, encoder=None, fraction=1.0):
        calls.append(method)
        return Outcome(method, None, {'label_fraction': fraction}, 0.0)
    return one


def test_compare_checks_before_anything_runs():
    calls, table = [], {'a': None, 'b': None, 'pimc-x': None}
    with pytest.raises(ValueError, match='pimc-x need a pretrained'):
        compare('d', ['a', 'b', 'pimc-x'], _one(calls), table)
    with pytest.raises(ValueError, match=r"unknown method\(s\) \['c'\]"): compare('d', ['a', 'c'], _one(calls), table)
    with pytest.raises(ValueError, match='label fractions must be in'):
        compare('d', ['a'], _one(calls), table, fractions=(1.5,))
    with pytest.raises(TypeError, match="a method is a name"): compare('d', [3], _one(calls), table)
    assert calls == []                                   # nothing ran
    df, res = compare('d', ['a', ('pimc-x', {'label': 'X'})], _one(calls), table, fractions=(1.0,), encoder='enc',
                      progress=False)
    assert calls == ['a', 'pimc-x'] and list(df.method) == ['a', 'X'] and ('X', 1.0) in res
    want = [{'method': 'a'}, {'method': 'b', 'k': 1}, {'method': 'c'}]
    assert method_specs(['a', ('b', {'k': 1}), {'method': 'c'}]) == want
    assert needs_encoder('pimc-probe') and not needs_encoder('rp-cnn')


def test_progress_bar_over_epochs(capsys):
    x, y = torch.randn(64, 3), torch.randint(0, 2, (64,))
    fit_network(nn.Sequential(nn.Linear(3, 2)), x, y, epochs=3, batch_size=16, progress=True)
    err = capsys.readouterr().err
    assert 'epoch' in err and 'loss=' in err
