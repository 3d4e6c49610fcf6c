"""Training an attentional cascade (Viola–Jones §4, Table 2).

Stage by stage:

1. Positives: the training faces the cascade so far still accepts (and likewise for the
   validation faces). Negatives: windows the cascade so far wrongly accepts, mined from the
   non-face windows and the background photos (:mod:`vedere.detect.mining`) — a fresh set
   for training and another for validation.
2. AdaBoost (:mod:`vedere.detect.adaboost`) adds one stump at a time — over upright Haar
   features (``features="haar"``), those and the tilted ones (``"haar-extended"``,
   :func:`vedere.detect.rect_features.enumerate_tilted`), or categorical stumps over LBP
   codes (``"lbp"``: the set of codes whose face weight outweighs the non-face weight).
   After each, the stage threshold is lowered until the stage keeps at least
   ``min_detection`` of the validation faces, and the stage's false-positive rate is
   measured on the validation negatives; the stage is done when that rate is at most
   ``max_false_positive`` (or at ``max_weak`` stumps).
3. Training stops after ``stages`` stages, when the mined false-positive rate of the whole
   cascade reaches ``target_false_positive``, or when the backgrounds are exhausted (fewer
   than a tenth of the wanted negatives can be found).

Each stage reports its estimated false-positive rate: the share of background windows the
cascade so far accepts (mined) times the new stage's rate on its validation negatives, with
the background windows scanned to find them. When the backgrounds hold fewer hard negatives
than a stage wants, a warning says so: later stages then learn from ever fewer negatives and
the cascade accepts much of what the backgrounds never showed it.

Every random choice (splits, feature subset, mining order) comes from ``seed``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np

from vedere.detect import kernels
from vedere.detect.adaboost import AdaBoost, CategoricalBoost, strong_scores
from vedere.detect.cascade import Cascade, effective_threshold
from vedere.detect.haar import enumerate_features
from vedere.detect.integral import tilted_integral_images
from vedere.detect.lbp import LBPFeatures, enumerate_lbp_features, in_subset
from vedere.detect.mining import NegativeMiner
from vedere.detect.normalize import window_integrals
from vedere.detect.rect_features import RectFeatures, concatenate, enumerate_tilted, from_haar
from vedere.detect.trees import TreeBoost, WeakTree, parse_weak

#: the feature pools: Viola–Jones' upright Haar features; those and Lienhart's tilted ones
#: (``opencv_traincascade -mode ALL``); multi-block LBP (``-featureType LBP``)
FEATURE_SETS = ("haar", "haar-extended", "lbp")


@dataclass
class TrainParams:
    """Settings of :func:`train_cascade` (all saved in the cascade's ``meta``)."""

    stages: int = 20
    min_detection: float = 0.995
    max_false_positive: float = 0.5
    target_false_positive: float = 1e-6
    max_weak: int = 200
    negatives: int | None = None  # per stage; default: as many as the training faces
    validation_faces: float = 0.2  # fraction of the faces held out for stage thresholds
    validation_negatives: int = 1000
    max_features: int | None = None  # a random subset of the feature pool (None: all)
    seed: int = 0
    features: str = "haar"  # one of FEATURE_SETS
    weak: str = "stump"  # or "tree:D", trees of depth D (vedere.detect.trees)

    def check(self) -> None:
        """ValueError naming the first setting out of its range."""
        parse_weak(self.weak)
        if self.features not in FEATURE_SETS:
            raise ValueError(
                f"features must be one of {', '.join(FEATURE_SETS)}, got {self.features!r}"
            )
        if not 0 < self.min_detection <= 1:
            raise ValueError(f"min_detection must be in (0, 1], got {self.min_detection}")
        if not 0 < self.max_false_positive < 1:
            raise ValueError(f"max_false_positive must be in (0, 1), got {self.max_false_positive}")
        if self.stages < 1 or self.max_weak < 1:
            raise ValueError("stages and max_weak must be at least 1")
        if not 0 < self.validation_faces < 1:
            raise ValueError(f"validation_faces must be in (0, 1), got {self.validation_faces}")


@dataclass
class StageReport:
    stage: int
    features: int
    detection_rate: float  # on the validation faces that reached the stage
    false_positive_rate: float  # on the validation negatives mined for the stage
    cascade_false_positive_rate: float  # mined estimate of the whole cascade so far
    negatives: int
    seconds: float
    background_windows: int = 0  # scanned to mine this stage's negatives
    backgrounds_exhausted: bool = False  # every background visited before enough were found

    def line(self) -> str:
        """The stage as the one line ``vedere train-detector`` prints."""
        mined = (
            f" (mined from {self.background_windows:,} background windows"
            f"{', exhausted' if self.backgrounds_exhausted else ''})"
            if self.background_windows
            else " (non-face windows only)"
        )
        return (
            f"stage {self.stage:2d}: {self.features:3d} features, "
            f"detection {self.detection_rate:.4f}, false positives {self.false_positive_rate:.3f}"
            f" (validation); cascade false-positive rate {self.cascade_false_positive_rate:.2e}"
            f"{mined}, {self.negatives} negatives, {self.seconds:.1f} s"
        )


class _Pool:
    """The candidate Haar features and their values on a set of windows (dense matmul over
    the integral images, and the rotated ones when the pool has tilted features)."""

    def __init__(self, features: RectFeatures, window: tuple[int, int]) -> None:
        self.features = features
        self.dense = features.dense(*window)

    def values_fn(self, windows: np.ndarray) -> tuple[Callable[[np.ndarray], np.ndarray], int]:
        ii, inv, _ = window_integrals(windows)
        flat = ii.reshape(len(windows), ii.shape[1] * ii.shape[2]).astype(np.float32)
        if self.features.any_tilted:
            t = tilted_integral_images(windows).reshape(len(windows), -1).astype(np.float32)
            flat = np.concatenate([flat, t], axis=1)

        def values(idx: np.ndarray) -> np.ndarray:
            return (self.dense[idx] @ flat.T) * inv

        return values, len(self.features)


def lbp_codes(features: LBPFeatures, windows: np.ndarray) -> np.ndarray:
    """The LBP codes (F, N) uint8 of every feature on (N, h, w) windows, in one compiled
    pass (:func:`vedere.detect.kernels.lbp_codes`; the same codes as
    :meth:`~vedere.detect.lbp.LBPFeatures.values`)."""
    ii, _, _ = window_integrals(windows)
    flat = np.ascontiguousarray(ii.reshape(len(windows), -1))
    out = np.empty((len(features), len(windows)), dtype=np.uint8)
    corners = np.ascontiguousarray(features.corners(ii.shape[-1]), dtype=np.int64)
    kernels.lbp_codes(flat, corners, out)
    return out


def feature_values(
    features: RectFeatures | LBPFeatures, windows: np.ndarray
) -> tuple[np.ndarray, bool]:
    """Values (F, N) of features on windows as the cascade compares them: normalised Haar
    values (float32) or LBP codes; and whether they are codes."""
    if isinstance(features, LBPFeatures):
        return lbp_codes(features, windows), True
    ii, inv, _ = window_integrals(windows)
    tii = tilted_integral_images(windows) if features.any_tilted else None
    return features.values(ii, tii) * inv, False


def _examined(windows: np.ndarray, lbp: bool = False) -> np.ndarray:
    """The windows a cascade examines: not too flat (Haar's variance), or all (LBP)."""
    return windows if lbp else windows[window_integrals(windows)[2]]


def feature_pool(
    features: str, window: tuple[int, int], max_features: int | None, rng: np.random.Generator
) -> RectFeatures | LBPFeatures:
    """The candidate features of a feature set (FEATURE_SETS) for a window, or a random
    subset of ``max_features`` of them."""
    pool: RectFeatures | LBPFeatures
    if features == "lbp":
        pool = enumerate_lbp_features(*window)
    elif features == "haar-extended":
        pool = concatenate([from_haar(enumerate_features(*window)), enumerate_tilted(*window)])
    else:
        pool = from_haar(enumerate_features(*window))
    if max_features is not None and max_features < len(pool):
        pick = np.sort(rng.choice(len(pool), max_features, replace=False))
        pool = pool[pick]
    return pool


def _threshold(pos_scores: np.ndarray, min_detection: float) -> float:
    """The highest stage threshold that keeps at least ``min_detection`` of the faces."""
    s = np.sort(pos_scores)[::-1]
    k = max(0, math.ceil(min_detection * len(s)) - 1)
    return float(np.float32(s[k]))


def _passes(scores: np.ndarray, thr: float) -> np.ndarray:
    return scores >= effective_threshold(thr)


def train_cascade(
    faces: np.ndarray,
    nonfaces: np.ndarray | None,
    backgrounds: list[np.ndarray],
    params: TrainParams | None = None,
    log: Callable[[str], None] | None = None,
) -> tuple[Cascade, list[StageReport]]:
    """Train a cascade on ``faces`` (N, h, w) uint8 windows; negatives come from ``nonfaces``
    (M, h, w) and the ``backgrounds`` (grey photos without faces). Returns the cascade and a
    report per stage; ``log`` receives one line per stage."""
    p = params or TrainParams()
    p.check()
    faces = np.asarray(faces)
    if faces.ndim != 3 or faces.dtype != np.uint8 or len(faces) < 10:
        raise ValueError(
            f"faces must be (N >= 10, h, w) uint8 windows, got {faces.dtype} {faces.shape}"
        )
    window = (int(faces.shape[1]), int(faces.shape[2]))
    rng = np.random.default_rng(p.seed)
    say = log or (lambda _line: None)

    lbp = p.features == "lbp"
    depth = parse_weak(p.weak)
    faces = _examined(faces, lbp)
    perm = rng.permutation(len(faces))
    n_val = max(1, round(p.validation_faces * len(faces)))
    val_faces, train_faces = faces[perm[:n_val]], faces[perm[n_val:]]
    n_neg = p.negatives or len(train_faces)
    # the average training face, kept in the cascade's meta for figures (window-sized)
    mean_face = np.rint(train_faces.astype(np.float64).mean(axis=0)).astype(int).tolist()

    pool_all = feature_pool(p.features, window, p.max_features, rng)
    pool = None if isinstance(pool_all, LBPFeatures) else _Pool(pool_all, window)
    say(
        f"training on {len(train_faces)} faces ({len(val_faces)} for validation), "
        f"{n_neg} negatives per stage, {len(pool_all)} candidate {p.features} features"
    )

    miner = NegativeMiner(window, nonfaces, backgrounds)
    stumps: list = []
    ends: list[int] = []
    stage_thr: list[float] = []
    reports: list[StageReport] = []
    cascade: Cascade | None = None

    def meta() -> dict:
        return {
            "trainer": "vedere",
            "params": asdict(p),
            "stages": [asdict(r) for r in reports],
            "mean_face": mean_face,
        }

    def build() -> Cascade | None:
        if not ends:
            return None
        if depth > 1:
            return _tree_cascade(window, pool_all, stumps, ends, stage_thr, meta())
        used = sorted({s.feature for s in stumps})
        remap = {f: i for i, f in enumerate(used)}
        return Cascade(
            window,
            pool_all[np.array(used)],
            [remap[s.feature] for s in stumps],
            [0.0 if lbp else s.threshold for s in stumps],
            [s.leaves[0] for s in stumps],
            [s.leaves[1] for s in stumps],
            ends,
            stage_thr,
            meta(),
            subsets=np.array([s.subset for s in stumps]) if lbp else None,
        )

    for stage in range(p.stages):
        t0 = time.perf_counter()
        pos_tr = train_faces if cascade is None else train_faces[cascade.accepts(train_faces)]
        pos_va = val_faces if cascade is None else val_faces[cascade.accepts(val_faces)]
        mined = miner.collect(cascade, n_neg + p.validation_negatives, rng)
        negs = _examined(mined.windows, lbp)
        wanted = n_neg + p.validation_negatives
        if mined.exhausted and len(negs) < max(10, wanted // 10):
            say(f"backgrounds exhausted: only {len(negs)} negatives left; stopping")
            break
        if mined.exhausted:
            say(
                f"warning: backgrounds running out: stage {stage + 1} found {len(negs)} of "
                f"{wanted} negatives; more (and more varied) background photos give a "
                "cascade with fewer false positives"
            )
        rate = mined.false_positive_rate
        if cascade is not None and rate is not None and rate <= p.target_false_positive:
            say(f"target false-positive rate reached ({rate:.2e}); stopping")
            break
        n_va = min(p.validation_negatives, len(negs) // 3)
        neg_va, neg_tr = negs[:n_va], negs[n_va:]
        if len(pos_tr) < 2 or len(neg_tr) < 2:
            say("too few samples left to train another stage; stopping")
            break

        X = np.concatenate([pos_tr, neg_tr])
        y = np.r_[np.ones(len(pos_tr), np.int8), np.zeros(len(neg_tr), np.int8)]
        boost: AdaBoost | CategoricalBoost | TreeBoost
        if depth > 1:
            if pool is None:
                boost = TreeBoost(y, depth, codes=lbp_codes(pool_all, X))  # type: ignore[arg-type]
            else:
                values, n_feat = pool.values_fn(X)
                boost = TreeBoost(y, depth, values, n_feat)
        elif pool is None:
            boost = CategoricalBoost(lbp_codes(pool_all, X), y)  # type: ignore[arg-type]
        else:
            values, n_feat = pool.values_fn(X)
            boost = AdaBoost(values, n_feat, y)
        val_sets = [pos_va, neg_va]
        val_scores = [np.zeros(len(pos_va)), np.zeros(len(neg_va))]
        thr, det, fpr = 0.0, 1.0, 1.0
        for _ in range(p.max_weak):
            s = boost.step()
            if isinstance(s, WeakTree):
                for wins, sc in zip(val_sets, val_scores, strict=True):
                    if len(wins):
                        vals, _ = feature_values(pool_all[np.array(s.feature)], wins)
                        sc += s.alpha * s.predict(vals)
                thr = _threshold(val_scores[0], p.min_detection) if len(pos_va) else 0.0
                det = float(_passes(val_scores[0], thr).mean()) if len(pos_va) else 1.0
                fpr = float(_passes(val_scores[1], thr).mean()) if len(neg_va) else 0.0
                if fpr <= p.max_false_positive:
                    break
                continue
            feat = pool_all[np.array([s.feature])]
            for wins, sc in zip(val_sets, val_scores, strict=True):
                if not len(wins):
                    continue
                vals, codes = feature_values(feat, wins)
                if codes:
                    sc += s.alpha * in_subset(s.subset, vals[0])  # type: ignore[union-attr]
                else:
                    sc += strong_scores([s], vals)  # type: ignore[list-item]
            thr = _threshold(val_scores[0], p.min_detection) if len(pos_va) else 0.0
            det = float(_passes(val_scores[0], thr).mean()) if len(pos_va) else 1.0
            fpr = float(_passes(val_scores[1], thr).mean()) if len(neg_va) else 0.0
            if fpr <= p.max_false_positive:
                break
        stumps.extend(boost.stumps)
        ends.append(len(stumps))
        stage_thr.append(thr)
        if cascade is None:
            cascade_fpr = fpr
        elif rate is not None:
            cascade_fpr = rate * fpr
        else:
            cascade_fpr = reports[-1].cascade_false_positive_rate * fpr
        reports.append(
            StageReport(
                stage + 1,
                len(boost.stumps),
                det,
                fpr,
                cascade_fpr,
                len(neg_tr),
                time.perf_counter() - t0,
                mined.scanned,
                mined.exhausted,
            )
        )
        say(reports[-1].line())
        cascade = build()
    final = build()
    if final is None:
        raise ValueError("no stage could be trained (too few faces or negatives)")
    return final, reports


def _tree_cascade(
    window: tuple[int, int],
    pool: RectFeatures | LBPFeatures,
    trees: list[WeakTree],
    ends: list[int],
    stage_thr: list[float],
    meta: dict,
) -> Cascade:
    """The cascade of boosted trees: their nodes one after the other (preorder), each
    leaf worth α (class 1) or 0."""
    used = sorted({f for t in trees for f in t.feature})
    remap = {f: i for i, f in enumerate(used)}
    feature, thr, left, right, children, weak_ends, subsets = [], [], [], [], [], [], []
    for t in trees:
        base = len(feature)
        for n, f in enumerate(t.feature):
            feature.append(remap[f])
            if t.categorical:
                subsets.append(t.split[n])
                thr.append(0.0)
            else:
                thr.append(float(t.split[n]))  # type: ignore[arg-type]
            kids = [base + c if c >= 0 else -1 for c in t.children[n]]
            children.append(kids)
            leaf = [t.alpha * t.labels[n][k] if kids[k] < 0 else 0.0 for k in (0, 1)]
            left.append(leaf[0])
            right.append(leaf[1])
        weak_ends.append(len(feature))
    return Cascade(
        window,
        pool[np.array(used)],
        feature,
        thr,
        left,
        right,
        ends,
        stage_thr,
        meta,
        children=np.array(children, dtype=np.int64),
        weak_ends=np.array(weak_ends, dtype=np.int64),
        subsets=np.array(subsets) if subsets else None,
    )
