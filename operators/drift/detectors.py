"""Per-tenant drift detection: River detectors, a reference, windows, cooldowns, alerts.

Everything here is plain Python (no Bytewax), pickleable, and driven by event time, so a
replay of the same events produces the same alerts with the same ids.

Signals and the detectors chosen by `benchmarks/bench_drift.py` (see benchmarks/README.md):

- ``embedding``: cosine distance of each user message to the tenant's reference centroid,
  ADWIN, confirmed when the window's mean distance is above the reference mean ->
  ``reindex``.
- ``refusal`` / ``toxicity``: 0/1 per bot reply, ADWIN, confirmed when the window rate is
  above the configured threshold and above the reference rate -> ``retrain``.
- ``accuracy``: feedback score, ADWIN, confirmed when the window mean fell below the
  reference mean by a margin -> ``retrain``.
- ``data``: KSWIN on message length and on the share of marked (Vietnamese) letters ->
  ``retrain``, severity ``info``.
"""

from __future__ import annotations

import collections
import hashlib
import itertools
import math
import warnings
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
from river import base
from river.drift import ADWIN, KSWIN
from scipy import stats as scipy_stats

from operators.drift.signals import is_refusal, is_toxic, message_features
from schemas.alert import DriftAlert, Evidence, alert_id
from schemas.message import ChatMessage, Feedback, iso_utc_ms

Direction = Literal["up", "down"]
DetectorFactory = Callable[[], base.DriftDetector]

SIGNALS: dict[str, tuple[str, str]] = {  # signal -> (action, severity)
    "embedding": ("reindex", "warning"),
    "refusal": ("retrain", "warning"),
    "toxicity": ("retrain", "critical"),
    "accuracy": ("retrain", "warning"),
    "data": ("retrain", "info"),
}


class _Moments:
    """Count, mean and variance of a stream (Welford)."""

    def __init__(self) -> None:
        self.n = 0
        self.mean = 0.0
        self._m2 = 0.0

    def update(self, x: float) -> None:
        self.n += 1
        delta = x - self.mean
        self.mean += delta / self.n
        self._m2 += delta * (x - self.mean)

    @property
    def sd(self) -> float:
        return math.sqrt(self._m2 / (self.n - 1)) if self.n > 1 else 0.0


class MeanShift:
    """A River detector over a numeric stream, confirmed by a one-sided move of the mean.

    The first `reference_size` values (unless `reference=(mean, sd)` is given) only build
    the reference. After that each value goes to `detector`; when it fires, the step is
    armed for `window_size` values, and drift is detected at the first armed value where
    the mean of the last `window_size` values has moved in `direction` by at least
    `min_shift_sd` reference standard deviations and, if `level` is set, is past `level`.
    A detector that fires on a move the other way, or on noise the window does not
    confirm, raises nothing. With `standardize`, the detector sees (x - reference mean) /
    reference sd, so the thresholds of scale-dependent detectors (PageHinkley) are in
    standard deviations.

    >>> import random
    >>> rng = random.Random(7)
    >>> stream = [rng.gauss(0.5, 0.1) for _ in range(3000)]
    >>> stream += [rng.gauss(0.58, 0.1) for _ in range(1000)]
    >>> shift = MeanShift(ADWIN(delta=0.01, clock=8), direction="up", min_shift_sd=0.25)
    >>> for i, x in enumerate(stream):
    ...     if shift.update(x).drift_detected:
    ...         print(f"drift at index {i}")
    drift at index 3159
    """

    def __init__(
        self,
        detector: base.DriftDetector,
        *,
        direction: Direction = "up",
        reference_size: int = 200,
        window_size: int = 200,
        min_shift_sd: float = 0.0,
        level: float | None = None,
        standardize: bool = False,
        reference: tuple[float, float] | None = None,
    ) -> None:
        if direction not in ("up", "down"):
            raise ValueError(f"direction must be 'up' or 'down', got {direction!r}")
        if reference_size < 2:
            raise ValueError(f"reference_size must be >= 2, got {reference_size}")
        if window_size < 10:
            raise ValueError(f"window_size must be >= 10, got {window_size}")
        if min_shift_sd < 0:
            raise ValueError(f"min_shift_sd must be >= 0, got {min_shift_sd}")
        self.detector = detector
        self.direction = direction
        self.reference_size = reference_size
        self.window_size = window_size
        self.min_shift_sd = min_shift_sd
        self.level = level
        self.standardize = standardize
        self.reference = reference
        self._moments = _Moments()
        self._window: deque[float] = deque(maxlen=window_size)
        self._window_sum = 0.0
        self._armed = 0
        self._drift_detected = False
        self.fired = 0  # times the River detector fired, confirmed or not

    @property
    def drift_detected(self) -> bool:
        return self._drift_detected

    @property
    def ready(self) -> bool:
        return self.reference is not None or self._moments.n >= self.reference_size

    @property
    def reference_mean(self) -> float:
        return self.reference[0] if self.reference is not None else self._moments.mean

    @property
    def reference_sd(self) -> float:
        return self.reference[1] if self.reference is not None else self._moments.sd

    @property
    def window_mean(self) -> float:
        return self._window_sum / len(self._window) if self._window else math.nan

    @property
    def window_len(self) -> int:
        return len(self._window)

    def update(self, x: float) -> MeanShift:
        self._drift_detected = False
        if not self.ready:
            self._moments.update(x)
            return self
        if len(self._window) == self.window_size:
            self._window_sum -= self._window[0]
        self._window.append(x)
        self._window_sum += x
        if self.standardize:
            self.detector.update((x - self.reference_mean) / max(self.reference_sd, 1e-9))
        else:
            self.detector.update(x)
        if self.detector.drift_detected:
            self.fired += 1
            self._armed = self.window_size
        if self._armed:
            self._armed -= 1
            if self._confirmed():
                self._drift_detected = True
                self._armed = 0
        return self

    def _confirmed(self) -> bool:
        if len(self._window) < min(50, self.window_size):
            return False
        sign = 1.0 if self.direction == "up" else -1.0
        moved = sign * (self.window_mean - self.reference_mean)
        if moved <= 0 or moved < self.min_shift_sd * self.reference_sd:
            return False
        return self.level is None or sign * (self.window_mean - self.level) >= 0

    def stats(self) -> dict[str, float | int]:
        return {
            "window_mean": self.window_mean,
            "window_events": len(self._window),
            "reference_mean": self.reference_mean,
            "reference_sd": self.reference_sd,
        }


class StridedKSWIN(KSWIN):
    """River's KSWIN that runs its KS test every `stride` values instead of every value.

    Each test costs ~0.35 ms (scipy's exact two-sample KS); consecutive tests share all
    but one value, so testing every 10th value costs a tenth and delays a detection by
    at most `stride - 1` values. `stride=1` is River's KSWIN.

    >>> import random
    >>> rng = random.Random(5)
    >>> stream = [rng.gauss(0, 1) for _ in range(2000)] + [rng.gauss(1, 1) for _ in range(500)]
    >>> kswin = StridedKSWIN(alpha=1e-6, window_size=500, stat_size=100, seed=1, stride=10)
    >>> detected = []
    >>> for i, x in enumerate(stream):
    ...     kswin.update(x)
    ...     if kswin.drift_detected:
    ...         detected.append(i)
    >>> detected
    [2079]

    `update` returns None, as River's detectors do since 0.22.
    """

    def __init__(
        self,
        alpha: float = 0.005,
        window_size: int = 100,
        stat_size: int = 30,
        seed: int | None = None,
        window: Any = None,
        stride: int = 1,
    ) -> None:
        if stride < 1:
            raise ValueError(f"stride must be >= 1, got {stride}")
        self.stride = stride
        super().__init__(
            alpha=alpha, window_size=window_size, stat_size=stat_size, seed=seed, window=window
        )

    def update(self, x: float) -> None:
        if self.drift_detected:
            self._reset()
        self.n += 1
        self.window.append(x)
        self._drift_detected = False
        if len(self.window) < self.window_size or self.n % self.stride:
            return
        older = self.window_size - self.stat_size
        sample = [self.window[r] for r in self._rng.sample(range(older), self.stat_size)]
        recent = list(itertools.islice(self.window, older, self.window_size))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", category=RuntimeWarning)
            statistic, self.p_value = scipy_stats.ks_2samp(sample, recent, method="auto")
        if self.p_value <= self.alpha and statistic > 0.1:
            self._drift_detected = True
            self.window = collections.deque(recent, maxlen=self.window_size)


class FeatureDrift:
    """One River detector per named feature (KSWIN by default); drift when any fires.

    >>> import random
    >>> rng = random.Random(3)
    >>> rows = [{"length": rng.gauss(3.5, 0.5)} for _ in range(5000)]
    >>> rows += [{"length": rng.gauss(4.2, 0.5)} for _ in range(1000)]
    >>> data = FeatureDrift(["length"])
    >>> for i, row in enumerate(rows):
    ...     if data.update(row).drift_detected:
    ...         print(f"drift at index {i} on {data.fired_on}")
    drift at index 5039 on ['length']
    """

    def __init__(
        self,
        features: list[str],
        *,
        factory: DetectorFactory | None = None,
        window_size: int = 200,
    ) -> None:
        if not features:
            raise ValueError("features must not be empty")
        self.features = list(features)
        self.window_size = window_size
        factory = factory or default_feature_detector
        self.detectors = {name: factory() for name in self.features}
        self._windows: dict[str, deque[float]] = {
            name: deque(maxlen=window_size) for name in self.features
        }
        self._moments = {name: _Moments() for name in self.features}
        self.fired_on: list[str] = []

    @property
    def drift_detected(self) -> bool:
        return bool(self.fired_on)

    def update(self, row: dict[str, float]) -> FeatureDrift:
        self.fired_on = []
        for name in self.features:
            x = row[name]
            self._windows[name].append(x)
            if self._moments[name].n < self.window_size:
                self._moments[name].update(x)
            detector = self.detectors[name]
            detector.update(x)
            if detector.drift_detected:
                self.fired_on.append(name)
        return self

    def stats(self) -> dict[str, float | int]:
        out: dict[str, float | int] = {}
        for name in self.features:
            window = self._windows[name]
            out[f"{name}_window_mean"] = sum(window) / len(window) if window else math.nan
            out[f"{name}_reference_mean"] = self._moments[name].mean
            p_value = getattr(self.detectors[name], "p_value", None)
            if p_value is not None:
                out[f"{name}_p_value"] = float(p_value)
        out["window_events"] = max(len(w) for w in self._windows.values())
        return out


# The detectors benchmarks/bench_drift.py chose; its README section has the numbers.
def default_mean_detector() -> base.DriftDetector:
    """The detector of every mean-shift signal: embedding distance, rates, accuracy."""
    return ADWIN(delta=0.01, clock=8)


def default_feature_detector() -> base.DriftDetector:
    return StridedKSWIN(alpha=1e-6, window_size=500, stat_size=100, seed=42, stride=10)


EMBEDDING_MIN_SHIFT_SD = 0.25
ACCURACY_MIN_SHIFT_SD = 0.25


@dataclass(frozen=True)
class EmbeddingReference:
    """The centroid user messages are compared with, and where it came from."""

    id: str
    kind: Literal["first_n", "file"]
    centroid: np.ndarray = field(repr=False)
    size: int
    model_version: str
    first_event_ms: int | None = None
    last_event_ms: int | None = None
    distance: tuple[float, float] | None = None  # mean, sd of the reference's own distances

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "kind": self.kind,
            "size": self.size,
            "model_version": self.model_version,
        }
        if self.first_event_ms is not None and self.last_event_ms is not None:
            out["first_event_time"] = iso_utc_ms(self.first_event_ms)
            out["last_event_time"] = iso_utc_ms(self.last_event_ms)
        return out


def _unit(v: np.ndarray) -> np.ndarray:
    norm = float(np.linalg.norm(v))
    return (v / norm).astype(np.float32) if norm > 0 else v.astype(np.float32)


def _digest(*parts: bytes) -> str:
    return hashlib.sha256(b"\0".join(parts)).hexdigest()[:12]


def load_reference_file(path: Path, model_version: str) -> EmbeddingReference:
    """A reference from a `.npy` file of embeddings, shape (n >= 2, dim), by the same model."""
    content = path.read_bytes()
    rows = np.load(path, allow_pickle=False)
    if rows.ndim != 2 or rows.shape[0] < 2:
        raise ValueError(f"{path}: expected an (n >= 2, dim) array of embeddings, got {rows.shape}")
    rows = rows.astype(np.float32)
    rows /= np.maximum(np.linalg.norm(rows, axis=1, keepdims=True), 1e-12)
    centroid = _unit(rows.mean(axis=0))
    distances = 1.0 - rows @ centroid
    return EmbeddingReference(
        id=f"file:{path.stem}:{_digest(model_version.encode(), content)}",
        kind="file",
        centroid=centroid,
        size=int(rows.shape[0]),
        model_version=model_version,
        distance=(float(distances.mean()), float(distances.std(ddof=1))),
    )


@dataclass(frozen=True)
class DriftConfig:
    """Plain values the per-tenant detectors are built from (flows pass settings in)."""

    model_version: str
    cooldown_ms: int = 3_600_000
    reference_size: int = 500
    window_size: int = 200
    refusal_threshold: float = 0.05
    toxicity_threshold: float = 0.02
    reference: EmbeddingReference | None = None

    def __post_init__(self) -> None:
        if self.cooldown_ms < 0:
            raise ValueError(f"cooldown_ms must be >= 0, got {self.cooldown_ms}")
        if self.reference_size < 2:
            raise ValueError(f"reference_size must be >= 2, got {self.reference_size}")
        if self.window_size < 10:
            raise ValueError(f"window_size must be >= 10, got {self.window_size}")
        for name in ("refusal_threshold", "toxicity_threshold"):
            if not 0 < getattr(self, name) < 1:
                raise ValueError(f"{name} must be in (0, 1), got {getattr(self, name)}")


class _EvidenceRing:
    """Event times and ids of a signal's last `size` events."""

    def __init__(self, size: int) -> None:
        self.times: deque[int] = deque(maxlen=size)
        self.ids: deque[str] = deque(maxlen=size)

    def push(self, event_ms: int, event_id: str) -> None:
        self.times.append(event_ms)
        self.ids.append(event_id)

    def evidence(self) -> Evidence:
        return Evidence(
            first_event_ms=min(self.times),
            last_event_ms=max(self.times),
            events=len(self.times),
            first_id=self.ids[0],
            last_id=self.ids[-1],
        )


class TenantDrift:
    """All of one tenant's detectors; feed it messages and feedback, get alerts back.

    Pickleable as a whole: it is the Bytewax state of the drift step.
    """

    def __init__(self, tenant: str, config: DriftConfig) -> None:
        self.tenant = tenant
        self.config = config
        w = config.window_size
        self.reference: EmbeddingReference | None = None
        self._ref_sum: np.ndarray | None = None
        self._ref_n = 0
        self._ref_ids = ""  # running digest of the reference messages' ids
        self._ref_first_ms: int | None = None
        self._ref_last_ms: int | None = None
        self._recent_centroid: np.ndarray | None = None
        self.embedding: MeanShift | None = None
        if config.reference is not None:
            self._use_reference(config.reference)
        self.refusal = MeanShift(
            default_mean_detector(),
            direction="up",
            window_size=w,
            reference_size=config.reference_size,
            level=config.refusal_threshold,
        )
        self.toxicity = MeanShift(
            default_mean_detector(),
            direction="up",
            window_size=w,
            reference_size=config.reference_size,
            level=config.toxicity_threshold,
        )
        self.accuracy = MeanShift(
            default_mean_detector(),
            direction="down",
            window_size=w,
            reference_size=min(config.reference_size, 200),
            min_shift_sd=ACCURACY_MIN_SHIFT_SD,
        )
        self.data = FeatureDrift(["log_length", "marked_ratio"], window_size=w)
        self._evidence = {signal: _EvidenceRing(w) for signal in SIGNALS}
        self.cooldown_until: dict[tuple[str, str], int] = {}
        self._baseline_range: dict[str, tuple[int, int]] = {}  # signal -> event-time range
        self.suppressed = 0  # detections inside a cooldown

    def reconfigure(self, config: DriftConfig) -> None:
        """Apply new settings to restored state (window sizes stay as they were).

        A new model version invalidates the embedding reference: it is rebuilt from the
        next messages (or taken from the configured reference file).
        """
        if config.model_version != self.config.model_version or (
            config.reference is not None
            and self.reference is not None
            and config.reference.id != self.reference.id
        ):
            self.reference, self.embedding, self._recent_centroid = None, None, None
            self._ref_sum, self._ref_n, self._ref_ids = None, 0, ""
            self._ref_first_ms = self._ref_last_ms = None
            if config.reference is not None:
                self._use_reference(config.reference)
        self.refusal.level = config.refusal_threshold
        self.toxicity.level = config.toxicity_threshold
        self.config = config

    # ---- inputs

    def on_user_message(self, message: ChatMessage, vector: np.ndarray) -> list[DriftAlert]:
        """A user message and its embedding: the embedding and data signals."""
        ms, mid = message.event_ms, message.message_id
        alerts = []
        features = message_features(message.text)
        self._evidence["data"].push(ms, mid)
        self.data.update({"log_length": features.log_length, "marked_ratio": features.marked_ratio})
        if self.data.drift_detected:
            alerts += self._alert(
                "data",
                self.data.detectors[self.data.fired_on[0]],
                {**self.data.stats(), "features": len(self.data.fired_on)},
                {"id": f"window:{self.tenant}", "kind": "sliding_window"},
                ms,
            )
        alerts += self._on_embedding(np.asarray(vector, dtype=np.float32), ms, mid)
        return alerts

    def on_bot_message(self, message: ChatMessage) -> list[DriftAlert]:
        """A bot reply: the refusal and toxicity signals."""
        ms, mid = message.event_ms, message.message_id
        alerts = []
        for signal, monitor, bit in (
            ("refusal", self.refusal, is_refusal(message.text)),
            ("toxicity", self.toxicity, is_toxic(message.text)),
        ):
            self._evidence[signal].push(ms, mid)
            self._extend_baseline(signal, monitor, ms)
            monitor.update(1.0 if bit else 0.0)
            if monitor.drift_detected:
                stats = {**monitor.stats(), "threshold": monitor.level or 0.0}
                alerts += self._alert(
                    signal, monitor.detector, stats, self._baseline(signal, monitor), ms
                )
        return alerts

    def on_feedback(self, feedback: Feedback) -> list[DriftAlert]:
        """A feedback score: the accuracy signal."""
        self._evidence["accuracy"].push(feedback.event_ms, feedback.feedback_id)
        self._extend_baseline("accuracy", self.accuracy, feedback.event_ms)
        self.accuracy.update(feedback.score)
        if not self.accuracy.drift_detected:
            return []
        return self._alert(
            "accuracy",
            self.accuracy.detector,
            self.accuracy.stats(),
            self._baseline("accuracy", self.accuracy),
            feedback.event_ms,
        )

    # ---- gauges

    def gauges(self) -> dict[str, float]:
        """Current values of the Prometheus gauges (NaN before there is data)."""
        return {
            "embedding_drift_score": self.centroid_shift,
            "refusal_rate": self.refusal.window_mean,
            "toxicity_rate": self.toxicity.window_mean,
            "recent_accuracy": self.accuracy.window_mean,
        }

    @property
    def centroid_shift(self) -> float:
        """Cosine distance between the recent centroid (EWMA) and the reference centroid."""
        if self.reference is None or self._recent_centroid is None:
            return math.nan
        return float(1.0 - _unit(self._recent_centroid) @ self.reference.centroid)

    # ---- internals

    def _on_embedding(self, vector: np.ndarray, ms: int, mid: str) -> list[DriftAlert]:
        if self.reference is None:
            self._collect_reference(vector, ms, mid)
            return []
        assert self.embedding is not None
        alpha = 2.0 / (self.config.window_size + 1)
        if self._recent_centroid is None:
            self._recent_centroid = vector.copy()
        else:
            self._recent_centroid = (1 - alpha) * self._recent_centroid + alpha * vector
        distance = float(1.0 - vector @ self.reference.centroid)
        self._evidence["embedding"].push(ms, mid)
        self.embedding.update(distance)
        if not self.embedding.drift_detected:
            return []
        stats = {**self.embedding.stats(), "centroid_shift": self.centroid_shift}
        return self._alert(
            "embedding", self.embedding.detector, stats, self.reference.describe(), ms
        )

    def _collect_reference(self, vector: np.ndarray, ms: int, mid: str) -> None:
        # The id names the messages, not the float centroid: a replay that batches the
        # embeddings differently gets the same id.
        self._ref_sum = (
            vector.astype(np.float64) if self._ref_sum is None else (self._ref_sum + vector)
        )
        self._ref_n += 1
        self._ref_ids = _digest(self._ref_ids.encode(), mid.encode())
        self._ref_first_ms = ms if self._ref_first_ms is None else min(self._ref_first_ms, ms)
        self._ref_last_ms = ms if self._ref_last_ms is None else max(self._ref_last_ms, ms)
        if self._ref_n < self.config.reference_size:
            return
        centroid = _unit(self._ref_sum)
        version = self.config.model_version
        self._use_reference(
            EmbeddingReference(
                id=f"first_n:{self.tenant}:{_digest(version.encode(), self._ref_ids.encode())}",
                kind="first_n",
                centroid=centroid,
                size=self._ref_n,
                model_version=version,
                first_event_ms=self._ref_first_ms,
                last_event_ms=self._ref_last_ms,
            )
        )
        self._ref_sum = None

    def _use_reference(self, reference: EmbeddingReference) -> None:
        self.reference = reference
        self.embedding = MeanShift(
            default_mean_detector(),
            direction="up",
            window_size=self.config.window_size,
            reference_size=min(self.config.reference_size, 200),
            min_shift_sd=EMBEDDING_MIN_SHIFT_SD,
            reference=reference.distance,
            standardize=True,
        )

    def _extend_baseline(self, signal: str, monitor: MeanShift, ms: int) -> None:
        if monitor.ready:
            return
        first, last = self._baseline_range.get(signal, (ms, ms))
        self._baseline_range[signal] = (min(first, ms), max(last, ms))

    def _baseline(self, signal: str, monitor: MeanShift) -> dict[str, Any]:
        first, last = self._baseline_range[signal]
        return {
            "id": f"baseline:{self.tenant}:{signal}:{first}-{last}",
            "kind": "first_n",
            "size": monitor.reference_size,
            "mean": monitor.reference_mean,
            "first_event_time": iso_utc_ms(first),
            "last_event_time": iso_utc_ms(last),
        }

    def _alert(
        self,
        signal: str,
        detector: base.DriftDetector,
        window: dict[str, Any],
        reference: dict[str, Any],
        detected_ms: int,
    ) -> list[DriftAlert]:
        action, severity = SIGNALS[signal]
        if detected_ms < self.cooldown_until.get((signal, action), -1):
            self.suppressed += 1
            return []
        evidence = self._evidence[signal].evidence()
        until = evidence.last_event_ms + self.config.cooldown_ms
        self.cooldown_until[(signal, action)] = until
        return [
            DriftAlert(
                alert_id=alert_id(
                    self.tenant,
                    signal,
                    action,
                    str(reference["id"]),
                    evidence.first_event_ms,
                    evidence.last_event_ms,
                    evidence.last_id,
                ),
                detector=type(detector).__name__,
                signal=signal,
                action=action,
                severity=severity,
                tenant=self.tenant,
                model_version=self.config.model_version,
                detected_ms=detected_ms,
                cooldown_until_ms=until,
                parameters={
                    k: v
                    for k, v in detector._get_params().items()
                    if v is None or isinstance(v, int | float | str | bool)
                },
                window={k: _finite(v) for k, v in window.items()},
                reference=reference,
                evidence=evidence,
            )
        ]


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
