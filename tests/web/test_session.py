"""The playground's settings, sessions and registry, without a browser or a server.

Oracles: PyTorch replaying the session's mini-batches (weights, losses, decision regions,
hidden units) and the toy data generators themselves.
"""

from __future__ import annotations

import base64
import threading
import time

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from vedere.data import toy
from vedere.web.params import ParamError, PlaygroundConfig, parse_config
from vedere.web.registry import Registry, RegistryFull, UnknownSession
from vedere.web.session import EXTENT, Session, SessionError, lattice


def wait_until(cond, seconds: float = 20.0) -> bool:
    deadline = time.monotonic() + seconds
    while not cond() and time.monotonic() < deadline:
        time.sleep(0.01)
    return cond()


def _bytes(b64: str) -> np.ndarray:
    return np.frombuffer(base64.b64decode(b64), np.uint8)


# -- settings ------------------------------------------------------------------------------
def test_parse_config_accepts_page_values_and_keeps_the_rest():
    c = parse_config({"lr": "0.1", "layers": "4, 3", "dataset": "xor", "batch_size": 32.0})
    assert (c.lr, c.layers, c.dataset, c.batch_size) == (0.1, (4, 3), "xor", 32)
    assert c.activation == PlaygroundConfig().activation
    assert parse_config({"layers": ""}).layers == ()  # no hidden layer: a linear classifier


@pytest.mark.parametrize(
    ("raw", "field", "words"),
    [
        ({"lr": -1}, "lr", "between 0 and 10"),
        ({"lr": 0}, "lr", "greater than 0"),
        ({"lr": "abc"}, "lr", "must be a number"),
        ({"lr": float("nan")}, "lr", "finite"),
        ({"batch_size": 2.5}, "batch_size", "whole number"),
        ({"layers": "4,x"}, "layers", "must be a number"),
        ({"layers": [4] * 7}, "layers", "at most 6"),
        ({"layers": [0]}, "layers", "between 1 and 16"),
        ({"dataset": "mnist"}, "dataset", "xor, circles"),
        ({"activation": "swish"}, "activation", "relu"),
        ({"optimizer": True}, "optimizer", "adam"),
        ({"dropout": 0.95}, "dropout", "between 0 and 0.9"),
        ({"n_points": 5}, "n_points", "between 10"),
        ({"momentum": 0.9}, "momentum", "unknown setting"),
    ],
)
def test_parse_config_names_the_bad_field(raw, field, words):
    with pytest.raises(ParamError, match=words) as e:
        parse_config(raw)
    assert e.value.field == field
    assert str(e.value).startswith(field)


def test_parse_config_rejects_non_objects():
    with pytest.raises(ParamError, match="JSON object"):
        parse_config([1, 2])


# -- the session's data and training --------------------------------------------------------
def test_session_data_is_the_toy_set_split_by_the_test_fraction():
    c = PlaygroundConfig(dataset="moons", n_points=200, noise=0.1, test_fraction=0.25, seed=3)
    s = Session(c)
    x, y = toy.make("moons", n=200, noise=0.1, seed=3)
    got = np.column_stack([np.concatenate([s.x_train, s.x_test]), np.r_[s.y_train, s.y_test]])
    assert len(s.y_test) == 50 and len(s.y_train) == 150
    # the same points and labels, only split
    assert sorted(map(tuple, got.tolist())) == sorted(map(tuple, np.column_stack([x, y]).tolist()))
    assert s.n_classes == 2
    assert Session(PlaygroundConfig(dataset="blobs")).n_classes == 3


def _torch_net(s: Session) -> torch.nn.Sequential:
    layers = []
    linears = [m for m in s.model.layers if hasattr(m, "weight")]
    for i, m in enumerate(linears):
        lin = torch.nn.Linear(m.in_features, m.out_features).double()
        with torch.no_grad():
            lin.weight.copy_(torch.from_numpy(m.weight.data.astype(np.float64)))
            lin.bias.copy_(torch.from_numpy(m.bias.data.astype(np.float64)))
        layers.append(lin)
        if i < len(linears) - 1:
            layers.append(torch.nn.Tanh())
    return torch.nn.Sequential(*layers)


def test_epochs_match_pytorch_on_the_same_batches():
    c = PlaygroundConfig(
        dataset="circles", n_points=120, layers=(5, 4), activation="tanh",
        optimizer="momentum", lr=0.1, batch_size=16, l2=1e-3, seed=5,
    )  # fmt: skip
    s = Session(c)
    net = _torch_net(s)
    opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
    batches = np.random.default_rng([5, 3])  # the session's batch generator, replayed
    x, y = torch.from_numpy(s.x_train.astype(np.float64)), torch.from_numpy(s.y_train)
    for _ in range(3):
        s.step()
        order = batches.permutation(len(y))
        for i in range(0, len(y), 16):
            idx = torch.from_numpy(order[i : i + 16])
            loss = torch.nn.functional.cross_entropy(net(x[idx]), y[idx])
            weights = [p for n, p in net.named_parameters() if n.endswith("weight")]
            loss = loss + 1e-3 / 2 * sum((w**2).sum() for w in weights)
            opt.zero_grad()
            loss.backward()
            opt.step()
    ours = [p.data for p in s.model.parameters()]
    for a, b in zip(ours, net.parameters(), strict=True):
        np.testing.assert_allclose(a, b.detach().numpy(), atol=2e-5)
    # the frame: decision regions, confidence, hidden units and losses from the same weights
    with torch.no_grad():
        grid = torch.from_numpy(lattice(s.grid).astype(np.float64))
        p = torch.softmax(net(grid), 1).numpy()
        h1 = net[1](net[0](torch.from_numpy(lattice(s.neuron_grid).astype(np.float64)))).numpy()
        test_loss = torch.nn.functional.cross_entropy(
            net(torch.from_numpy(s.x_test.astype(np.float64))), torch.from_numpy(s.y_test)
        ).item()
    f = s.frame
    assert f["epoch"] == 3 and len(s.history) == 3
    margin = np.sort(p, 1)[:, -1] - np.sort(p, 1)[:, -2]
    sure = margin > 1e-3
    np.testing.assert_array_equal(_bytes(f["regions"])[sure], p.argmax(1)[sure])
    assert np.abs(_bytes(f["confidence"]) - p.max(1) * 255).max() <= 0.51
    unit0 = h1[:, 0] / np.abs(h1[:, 0]).max()
    assert np.abs(_bytes(f["neurons"][0][0]) - (unit0 + 1) * 127.5).max() <= 0.51
    assert [len(layer) for layer in f["neurons"]] == [5, 4]
    assert f["test_loss"] == pytest.approx(test_loss, abs=1e-5)


def test_lattice_rows_run_top_to_bottom():
    g = lattice(4).reshape(4, 4, 2)
    assert g[0, 0, 1] > 0 > g[-1, 0, 1]  # first row at the top (y high)
    assert g[0, 0, 0] < 0 < g[0, -1, 0]
    assert np.abs(g).max() < EXTENT


def test_training_thread_learns_and_stops():
    s = Session(PlaygroundConfig(dataset="xor", n_points=200, noise=0.0), frame_interval=0.02)
    first = s.frame["train_loss"]
    s.start()
    assert s.running
    wait_until(lambda: s.frame["epoch"] >= 40)
    s.pause()
    assert not s.running and not s.frame["running"]
    assert s.frame["train_loss"] < 0.5 * first
    assert s.frame["train_acc"] > 0.9
    epoch = s.epoch
    time.sleep(0.1)
    assert s.epoch == epoch  # paused means paused
    s.close()
    assert s.frame["closed"] is True and set(s.frame) == {"closed", "version"}
    with pytest.raises(SessionError, match="closed"):
        s.start()


def test_a_pass_paused_half_way_goes_on_where_it_stopped():
    config = PlaygroundConfig(n_points=2000, batch_size=1, layers=(16, 16, 16))
    whole, halves = Session(config), Session(config, frame_interval=0.01)
    for _ in range(2):
        whole.step()
    halves.start()
    assert wait_until(lambda: halves._pos > 50)
    halves.pause()  # returns at once, half-way through the first pass
    assert halves.epoch == 0 and 50 < halves._pos < len(halves.y_train)
    assert halves.version > 2  # frames came during the pass
    halves.step()  # finishes the first pass
    assert halves.epoch == 1 and halves._order is None
    halves.step()
    for a, b in zip(whole.model.parameters(), halves.model.parameters(), strict=True):
        np.testing.assert_array_equal(a.data, b.data)


def test_same_seed_same_frames_and_reset_restarts():
    a, b = Session(), Session()
    for s in (a, b):
        for _ in range(5):
            s.step()
    assert a.frame["regions"] == b.frame["regions"]
    assert a.frame["test_loss"] == b.frame["test_loss"]
    first = Session().frame
    a.reset()
    assert a.epoch == 0 and a.history == []
    assert a.frame["regions"] == first["regions"]


def test_configure_keeps_points_unless_the_data_changes():
    s = Session()
    s.add_point(0.5, -0.5, 1)
    n = len(s.y_train)
    s.configure(parse_config({"layers": [3]}, s.config))
    assert len(s.y_train) == n and [len(u) for u in s.frame["neurons"]] == [3]
    s.configure(parse_config({"dataset": "xor"}, s.config))
    x, _ = toy.make("xor", n=s.config.n_points, noise=s.config.noise)
    assert len(s.y_train) + len(s.y_test) == len(x)


def test_concurrent_updates_keep_each_others_fields():
    for _ in range(10):
        s = Session(PlaygroundConfig(n_points=2000))  # slow to rebuild: a wide race window
        a = threading.Thread(target=s.update, args=({"dataset": "xor"},))
        b = threading.Thread(target=s.update, args=({"layers": [4]},))
        a.start(), b.start()
        a.join(), b.join()
        assert (s.config.dataset, s.config.layers) == ("xor", (4,))


def test_add_point_checks_coordinates_and_label():
    s = Session()
    v = s.data_version
    s.add_point(0.25, 1.0, 0, "test")
    assert s.x_test[-1].tolist() == [0.25, 1.0] and s.y_test[-1] == 0
    assert s.data_version == v + 1
    for args, field in [((2.0, 0, 0), "x"), ((0, float("nan"), 0), "y"), ((0, 0, 2), "label"),
                        ((0, 0, 0, "val"), "split"), (("a", 0, 0), "x")]:  # fmt: skip
        with pytest.raises(ParamError) as e:
            s.add_point(*args)
        assert e.value.field == field


def test_divergence_stops_training_with_a_message():
    s = Session(parse_config({"optimizer": "sgd", "lr": 10}))
    for p in s.model.parameters():
        p.data[...] = 1e38  # one step away from overflow
    s.step()
    assert s.frame["diverged"] and "learning rate 10" in s.frame["message"]
    assert "regions" not in s.frame and np.isnan(s.frame["train_loss"])
    with pytest.raises(SessionError, match="diverged"):
        s.start()
    s.reset()
    assert not s.frame["diverged"]
    # while training in the background: the thread stops and its last frame says so
    for p in s.model.parameters():
        p.data[...] = 1e38
    s.start()
    assert wait_until(lambda: not s.running)
    assert s.frame["diverged"] and s.frame["running"] is False


def test_divergence_is_the_shared_rule_also_for_finite_blow_ups():
    # weights of 1e9 keep every loss finite, but they are divergence by vedere.nn.divergence
    s = Session(parse_config({"optimizer": "sgd", "lr": 0.1}))
    for p in s.model.parameters():
        p.data[...] = 1e9
    s.step()
    assert s.frame["diverged"] and "learning rate 0.1" in s.frame["message"]
    # a loss grown 10^4-fold from its best pass is divergence too, while still finite
    s = Session(parse_config({"optimizer": "sgd", "lr": 0.1}))
    s.step()
    best = s._best_loss
    for p in s.model.parameters():
        p.data *= 1e5  # below 1e8, but the loss explodes
    s.step()
    assert s.frame["diverged"] and "grew from" in s.frame["message"]
    assert best is not None and np.isfinite(best)


@settings(max_examples=15, deadline=None)
@given(
    layers=st.lists(st.integers(1, 6), max_size=3),
    activation=st.sampled_from(["sigmoid", "tanh", "relu", "leaky_relu"]),
    dataset=st.sampled_from(["xor", "circles", "moons", "spirals", "blobs"]),
)
def test_every_frame_is_a_probability_map(layers, activation, dataset):
    s = Session(PlaygroundConfig(dataset=dataset, n_points=40, layers=tuple(layers),
                                 activation=activation), grid=16, neuron_grid=8)  # fmt: skip
    s.step()
    f = s.frame
    regions, conf = _bytes(f["regions"]), _bytes(f["confidence"])
    assert regions.shape == (256,) and regions.max() < s.n_classes
    assert (conf >= np.floor(255 / s.n_classes)).all()  # the top class has ≥ 1/K
    assert [len(layer) for layer in f["neurons"]] == layers


# -- the registry ---------------------------------------------------------------------------
def test_registry_frees_sessions_without_a_stream():
    reg = Registry(max_sessions=2, linger=1.0)
    sid, s = reg.create()
    other, _ = reg.create()
    with pytest.raises(RegistryFull, match="2 open sessions"):
        reg.create()
    reg.attach(sid)
    s.start()
    assert reg.stats() == {"sessions": 2, "training": 1}
    t0 = time.monotonic()
    assert reg.reap(t0 + 2) == [other]  # never attached: freed after the linger
    reg.detach(sid)
    assert reg.reap(time.monotonic() + 0.5) == []  # still lingering
    assert reg.reap(time.monotonic() + 2) == [sid]
    assert not s.running and s.model is None
    assert reg.stats() == {"sessions": 0, "training": 0}
    with pytest.raises(UnknownSession):
        reg.get(sid)
    assert reg.close(sid) is False
