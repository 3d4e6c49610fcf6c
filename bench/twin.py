"""The PyTorch twin of a vedere network, for the benchmarks that run both on the same
weights (bench/cnn_throughput.py, bench/inference.py)."""

from __future__ import annotations

import numpy as np


def torch_twin(network):
    """The same layers in PyTorch with the same weights and buffers, in eval mode (call
    ``.train()`` to train it): a vedere ``Sequential`` of Conv2d, BatchNorm2d (its momentum
    and eps; a frozen scale as γ = 1), Linear (with or without bias), MaxPool2d, global
    average or max pooling, ReLU, GELU, Flatten and Dropout (the identity)."""
    import torch
    from torch import nn

    class GlobalPool(nn.Module):
        def __init__(self, kind: str) -> None:
            super().__init__()
            self.kind = kind

        def forward(self, x):
            return x.amax(dim=(2, 3)) if self.kind == "max" else x.mean(dim=(2, 3))

    layers = []
    for m in network.layers:
        kind, cfg = type(m).__name__, m.get_config()
        if kind == "Conv2d":
            t = nn.Conv2d(
                cfg["in_channels"],
                cfg["out_channels"],
                tuple(cfg["kernel_size"]),
                tuple(cfg["stride"]),
                tuple(cfg["padding"]),
                bias=cfg["bias"],
            )
        elif kind == "BatchNorm2d":
            t = nn.BatchNorm2d(cfg["num_features"], cfg["eps"], cfg["momentum"], affine=True)
        elif kind == "Linear":
            t = nn.Linear(cfg["in_features"], cfg["out_features"], bias=cfg.get("bias", True))
        elif kind == "MaxPool2d":
            t = nn.MaxPool2d(tuple(cfg["kernel_size"]), tuple(cfg["stride"]))
        elif kind in ("GlobalAvgPool2d", "GlobalMaxPool2d"):
            t = GlobalPool("max" if "Max" in kind else "avg")
        elif kind in ("ReLU", "GELU", "Flatten"):
            t = getattr(nn, kind)()
        elif kind == "Dropout":
            t = nn.Identity()
        else:
            raise ValueError(f"no PyTorch twin for {kind}")
        state = {}
        for name, p in m.named_parameters():
            state[name] = torch.from_numpy(np.ascontiguousarray(p.data))
        for name, b in m.named_buffers():
            state[name] = torch.from_numpy(np.ascontiguousarray(b.data))
        if kind == "BatchNorm2d" and "weight" not in state:  # frozen scale 1
            state["weight"] = torch.ones(cfg["num_features"])
        if state:
            t.load_state_dict(state, strict=False)
        layers.append(t)
    return nn.Sequential(*layers).eval()
