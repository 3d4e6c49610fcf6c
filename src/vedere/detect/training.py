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
from typing import Any

import numpy as np

from vedere.detect.adaboost import AdaBoost, CategoricalBoost, strong_scores
from vedere.detect.candidate_features import (
    FEATURE_SETS,
    HaarPool,
    WindowIntegrals,
    examined,
    feature_pool,
    feature_values,
    lbp_codes,
)
from vedere.detect.cascade import Cascade, effective_threshold
from vedere.detect.lbp import LBPFeatures, in_subset
from vedere.detect.mining import NegativeMiner
from vedere.detect.rect_features import RectFeatures
from vedere.detect.trees import TreeBoost, WeakTree, parse_weak


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
    report per stage; ``log`` receives one line per stage.

    Per stage (:func:`_train_stage`): the faces the cascade so far accepts, negatives it
    wrongly accepts (mined from the backgrounds), then weak classifiers boosted until the
    stage meets its targets on the held-out faces and negatives (:func:`_boost_stage`)."""
    run = _Run.start(faces, nonfaces, backgrounds, params or TrainParams(), log)
    weak: list = []
    ends: list[int] = []
    stage_thr: list[float] = []
    reports: list[StageReport] = []
    cascade: Cascade | None = None
    for stage in range(run.p.stages):
        trained = _train_stage(run, stage, cascade, reports)
        if trained is None:
            break
        stage_weak, thr, report = trained
        weak.extend(stage_weak)
        ends.append(len(weak))
        stage_thr.append(thr)
        reports.append(report)
        run.say(report.line())
        meta = {
            "trainer": "vedere",
            "params": asdict(run.p),
            "stages": [asdict(r) for r in reports],
            "mean_face": run.mean_face,
        }
        make = _tree_cascade if run.depth > 1 else _stump_cascade
        cascade = make(run.window, run.pool_all, weak, ends, stage_thr, meta)
    if cascade is None:
        raise ValueError("no stage could be trained (too few faces or negatives)")
    return cascade, reports


@dataclass
class _Run:
    """What every stage of one training run uses: the parameters, the faces split into
    training and validation ones, the candidate features, the negative miner and the
    generator every random choice comes from."""

    p: TrainParams
    window: tuple[int, int]
    depth: int
    train_faces: np.ndarray
    val_faces: np.ndarray
    mean_face: list
    pool_all: RectFeatures | LBPFeatures
    pool: HaarPool | None
    miner: NegativeMiner
    rng: np.random.Generator
    say: Callable[[str], None]

    @property
    def lbp(self) -> bool:
        return self.p.features == "lbp"

    @property
    def wanted(self) -> int:
        """Negatives wanted per stage: for training, then for validation."""
        return (self.p.negatives or len(self.train_faces)) + self.p.validation_negatives

    @classmethod
    def start(
        cls,
        faces: np.ndarray,
        nonfaces: np.ndarray | None,
        backgrounds: list[np.ndarray],
        p: TrainParams,
        log: Callable[[str], None] | None,
    ) -> _Run:
        p.check()
        faces = np.asarray(faces)
        if faces.ndim != 3 or faces.dtype != np.uint8 or len(faces) < 10:
            raise ValueError(
                f"faces must be (N >= 10, h, w) uint8 windows, got {faces.dtype} {faces.shape}"
            )
        window = (int(faces.shape[1]), int(faces.shape[2]))
        rng = np.random.default_rng(p.seed)
        say = log or (lambda _line: None)
        depth = parse_weak(p.weak)
        faces = examined(faces, p.features == "lbp")
        perm = rng.permutation(len(faces))
        n_val = max(1, round(p.validation_faces * len(faces)))
        val_faces, train_faces = faces[perm[:n_val]], faces[perm[n_val:]]
        # the average training face, kept in the cascade's meta for figures (window-sized)
        mean_face = np.rint(train_faces.astype(np.float64).mean(axis=0)).astype(int).tolist()
        pool_all = feature_pool(p.features, window, p.max_features, rng)
        pool = None if isinstance(pool_all, LBPFeatures) else HaarPool(pool_all, window)
        say(
            f"training on {len(train_faces)} faces ({len(val_faces)} for validation), "
            f"{p.negatives or len(train_faces)} negatives per stage, {len(pool_all)} "
            f"candidate {p.features} features"
        )
        miner = NegativeMiner(window, nonfaces, backgrounds)
        return cls(
            p, window, depth, train_faces, val_faces, mean_face, pool_all, pool, miner, rng, say
        )


def _train_stage(
    run: _Run, stage: int, cascade: Cascade | None, reports: list[StageReport]
) -> tuple[list[Any], float, StageReport] | None:
    """Stage ``stage`` after ``cascade`` (None: the first): its weak classifiers, threshold
    and report, or None when training stops here (the reason said through ``run.say``)."""
    p = run.p
    t0 = time.perf_counter()
    accepted = (lambda w: w) if cascade is None else (lambda w: w[cascade.accepts(w)])
    pos_tr, pos_va = accepted(run.train_faces), accepted(run.val_faces)
    mined = run.miner.collect(cascade, run.wanted, run.rng)
    negs = examined(mined.windows, run.lbp)
    rate = mined.false_positive_rate
    stop = _stop_reason(mined, len(negs), run.wanted, stage, cascade is not None, p, run.say)
    if stop:
        run.say(stop)
        return None
    n_va = min(p.validation_negatives, len(negs) // 3)
    neg_va, neg_tr = negs[:n_va], negs[n_va:]
    if len(pos_tr) < 2 or len(neg_tr) < 2:
        run.say("too few samples left to train another stage; stopping")
        return None
    boost = _booster(pos_tr, neg_tr, run.pool_all, run.pool, run.depth)
    thr, det, fpr = _boost_stage(boost, run.pool_all, pos_va, neg_va, p)
    if cascade is None:
        cascade_fpr = fpr
    elif rate is not None:
        cascade_fpr = rate * fpr
    else:
        cascade_fpr = reports[-1].cascade_false_positive_rate * fpr
    seconds = time.perf_counter() - t0
    report = StageReport(
        stage + 1,
        len(boost.stumps),
        det,
        fpr,
        cascade_fpr,
        len(neg_tr),
        seconds,
        mined.scanned,
        mined.exhausted,
    )
    return list(boost.stumps), thr, report


def _stop_reason(
    mined: Any,
    n_negs: int,
    wanted: int,
    stage: int,
    have_cascade: bool,
    p: TrainParams,
    say: Callable[[str], None],
) -> str | None:
    """Why training stops before stage ``stage`` (None: it goes on): the backgrounds gave
    almost no negatives, or the cascade's false-positive rate on them already meets the
    target. Warns through ``say`` when the backgrounds are running out."""
    if mined.exhausted and n_negs < max(10, wanted // 10):
        return f"backgrounds exhausted: only {n_negs} negatives left; stopping"
    if mined.exhausted:
        say(
            f"warning: backgrounds running out: stage {stage + 1} found {n_negs} of "
            f"{wanted} negatives; more (and more varied) background photos give a "
            "cascade with fewer false positives"
        )
    rate = mined.false_positive_rate
    if have_cascade and rate is not None and rate <= p.target_false_positive:
        return f"target false-positive rate reached ({rate:.2e}); stopping"
    return None


def _booster(
    pos: np.ndarray,
    neg: np.ndarray,
    pool_all: RectFeatures | LBPFeatures,
    pool: HaarPool | None,
    depth: int,
) -> AdaBoost | CategoricalBoost | TreeBoost:
    """The boosting of one stage over windows ``pos`` (faces) then ``neg``: stumps over Haar
    values (AdaBoost) or LBP codes (CategoricalBoost), or trees of ``depth`` > 1 over either."""
    X = np.concatenate([pos, neg])
    y = np.r_[np.ones(len(pos), np.int8), np.zeros(len(neg), np.int8)]
    if pool is None:
        codes = lbp_codes(pool_all, X)  # type: ignore[arg-type]
        return TreeBoost(y, depth, codes=codes) if depth > 1 else CategoricalBoost(codes, y)
    values, n_feat = pool.values_fn(X)
    return TreeBoost(y, depth, values, n_feat) if depth > 1 else AdaBoost(values, n_feat, y)


def _boost_stage(
    boost: AdaBoost | CategoricalBoost | TreeBoost,
    pool_all: RectFeatures | LBPFeatures,
    pos_va: np.ndarray,
    neg_va: np.ndarray,
    p: TrainParams,
) -> tuple[float, float, float]:
    """Add weak classifiers (at most ``p.max_weak``) until, at the threshold that keeps
    ``p.min_detection`` of the validation faces ``pos_va``, at most ``p.max_false_positive``
    of the validation negatives ``neg_va`` pass: (threshold, detection rate, false-positive
    rate) of the stage."""
    # the validation windows' integral images, once for every weak classifier added
    tilted = isinstance(pool_all, RectFeatures) and pool_all.any_tilted
    val_sets = [WindowIntegrals(pos_va, tilted), WindowIntegrals(neg_va, tilted)]
    val_scores = [np.zeros(len(pos_va)), np.zeros(len(neg_va))]
    thr, det, fpr = 0.0, 1.0, 1.0
    for _ in range(p.max_weak):
        s = boost.step()
        for wins, sc in zip(val_sets, val_scores, strict=True):
            if len(wins):
                sc += _weak_scores(s, pool_all, wins)
        thr = _threshold(val_scores[0], p.min_detection) if len(pos_va) else 0.0
        det = float(_passes(val_scores[0], thr).mean()) if len(pos_va) else 1.0
        fpr = float(_passes(val_scores[1], thr).mean()) if len(neg_va) else 0.0
        if fpr <= p.max_false_positive:
            break
    return thr, det, fpr


def _weak_scores(s: Any, pool_all: RectFeatures | LBPFeatures, wins: WindowIntegrals) -> np.ndarray:
    """One weak classifier's contribution to the stage score of each of ``wins``: α·(its
    prediction) for a tree or an LBP stump, the stump's leaf for a Haar stump."""
    if isinstance(s, WeakTree):
        vals, _ = feature_values(pool_all[np.array(s.feature)], wins)
        return s.alpha * s.predict(vals)
    vals, codes = feature_values(pool_all[np.array([s.feature])], wins)
    if codes:
        return s.alpha * in_subset(s.subset, vals[0])
    return strong_scores([s], vals)


def _stump_cascade(
    window: tuple[int, int],
    pool: RectFeatures | LBPFeatures,
    stumps: list[Any],
    ends: list[int],
    stage_thr: list[float],
    meta: dict,
) -> Cascade:
    """The cascade of boosted stumps (Haar thresholds or LBP code sets), its features pruned
    to those used."""
    lbp = isinstance(pool, LBPFeatures)
    used = sorted({s.feature for s in stumps})
    remap = {f: i for i, f in enumerate(used)}
    return Cascade(
        window,
        pool[np.array(used)],
        [remap[s.feature] for s in stumps],
        [0.0 if lbp else s.threshold for s in stumps],
        [s.leaves[0] for s in stumps],
        [s.leaves[1] for s in stumps],
        ends,
        stage_thr,
        meta,
        subsets=np.array([s.subset for s in stumps]) if lbp else None,
    )


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
