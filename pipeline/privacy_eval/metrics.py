"""Measures of privacy (equal error rate, an LDA back-end) and utility (word error rate, pitch correlation)."""
from __future__ import annotations

import re

import numpy as np

from pipeline.privacy_eval.normalise import join_compounds, normalise


def equal_error_rate(target: np.ndarray, nontarget: np.ndarray) -> float:
    """The rate at which false acceptances equal false rejections (0 = perfect verifier, 0.5 = chance)."""
    target, nontarget = np.asarray(target, float), np.asarray(nontarget, float)
    if not len(target) or not len(nontarget):
        raise ValueError("equal error rate needs target and non-target scores")
    thresholds = np.unique(np.concatenate([target, nontarget, [np.inf]]))
    false_reject = np.searchsorted(np.sort(target), thresholds, side="left") / len(target)
    false_accept = 1.0 - np.searchsorted(np.sort(nontarget), thresholds, side="left") / len(nontarget)
    i = int(np.argmin(np.abs(false_reject - false_accept)))
    # Between the two thresholds where the curves cross, the rates meet at their mean.
    j = max(i - 1, 0)
    candidates = [(false_reject[k] + false_accept[k]) / 2 for k in (i, j)
                  if abs(false_reject[k] - false_accept[k]) <= abs(false_reject[i] - false_accept[i]) + 1e-12]
    return float(min(candidates))


def unit_rows(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


class Lda:
    """Linear discriminant analysis fitted on (embedding, speaker) pairs; scores are cosines in its space.

    The within-speaker scatter is shrunk towards its mean variance, because a pool of a few hundred
    speakers with two clips each gives a noisy estimate in 192 or 256 dimensions."""

    def __init__(self, dims: int = 150, shrinkage: float = 0.1):
        self.dims, self.shrinkage = dims, shrinkage

    def fit(self, embeddings: np.ndarray, labels: list) -> "Lda":
        x = unit_rows(np.asarray(embeddings, float))
        self.mean = x.mean(axis=0)
        x = x - self.mean
        classes = sorted(set(labels))
        labels = np.asarray(labels)
        within = np.zeros((x.shape[1], x.shape[1]))
        between = np.zeros_like(within)
        for c in classes:
            members = x[labels == c]
            centre = members.mean(axis=0)
            within += (members - centre).T @ (members - centre)
            between += len(members) * np.outer(centre, centre)
        within /= len(x)
        between /= len(x)
        within = (1 - self.shrinkage) * within + self.shrinkage * np.trace(within) / len(within) * np.eye(len(within))
        # Whiten the within-speaker scatter, then keep the directions of largest between-speaker spread.
        values, vectors = np.linalg.eigh(within)
        whiten = vectors / np.sqrt(np.maximum(values, 1e-10))
        b_values, b_vectors = np.linalg.eigh(whiten.T @ between @ whiten)
        order = np.argsort(b_values)[::-1][: min(self.dims, len(classes) - 1)]
        self.projection = whiten @ b_vectors[:, order]
        return self

    def transform(self, embeddings: np.ndarray) -> np.ndarray:
        return unit_rows((unit_rows(np.asarray(embeddings, float)) - self.mean) @ self.projection)


def words_of(text: str) -> list[str]:
    """Lower-case words without punctuation, so that Whisper's casing and commas do not count as errors."""
    return re.findall(r"[a-z0-9']+", text.lower().replace("-", " "))


def word_errors(reference: list[str], hypothesis: list[str]) -> int:
    """Levenshtein distance over words: substitutions + deletions + insertions."""
    previous = list(range(len(hypothesis) + 1))
    for i, ref_word in enumerate(reference, 1):
        current = [i] + [0] * len(hypothesis)
        for j, hyp_word in enumerate(hypothesis, 1):
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ref_word != hyp_word))
        previous = current
    return previous[-1]


def word_error_counts(references: list[str], hypotheses: list[str], normalised: bool = False) -> tuple:
    """Each pair's word errors and reference words, as two integer arrays. `normalised` compares the words as
    pipeline.privacy_eval.normalise writes them (spelling, numbers, contractions, compounds)."""
    errors, words = [], []
    for ref, hyp in zip(references, hypotheses):
        if normalised:
            ref_words, hyp_words = join_compounds(normalise(ref), normalise(hyp))
        else:
            ref_words, hyp_words = words_of(ref), words_of(hyp)
        errors.append(word_errors(ref_words, hyp_words))
        words.append(len(ref_words))
    return np.array(errors, dtype=np.int64), np.array(words, dtype=np.int64)


def error_rate(errors: np.ndarray, words: np.ndarray, weights=1) -> float:
    """All errors over all reference words, each pair counted `weights` times (a bootstrap resampling)."""
    return float((errors * weights).sum() / max((words * weights).sum(), 1))


def word_error_rate(references: list[str], hypotheses: list[str], normalised: bool = False) -> float:
    """Corpus word error rate: all errors over all reference words."""
    return error_rate(*word_error_counts(references, hypotheses, normalised))


def bootstrap_interval(statistic, sizes, draws: int = 1000, level: float = 0.95, seed: int = 0) -> list:
    """The central `level` interval of `statistic` over `draws` resamplings with replacement. `sizes` is the
    number of items resampled, or a tuple of them for items of several kinds drawn independently (pairs of
    secrets and trial clips); `statistic` gets one array of counts per kind, counts[i] being how often item i
    was drawn. Seeded: the same figures give the same interval."""
    sizes = (sizes,) if isinstance(sizes, int) else tuple(sizes)
    rng = np.random.default_rng(seed)
    values = [statistic(*(rng.multinomial(n, np.full(n, 1.0 / n)) for n in sizes)) for _ in range(draws)]
    tail = 100 * (1 - level) / 2
    return [float(v) for v in np.percentile(values, [tail, 100 - tail])]


def interval_text(figures: dict, key: str) -> str:
    """The figure's 95 % interval (`key` + "_ci95") as ' (low to high)' in percent, or '' where it has none."""
    low_high = figures.get(key + "_ci95")
    return f" ({100 * low_high[0]:.1f} to {100 * low_high[1]:.1f})" if low_high else ""


def pitch_correlation(f0_a: np.ndarray, f0_b: np.ndarray) -> float:
    """Pearson correlation of log f0 over the frames voiced in both contours (nan if too few)."""
    n = min(len(f0_a), len(f0_b))
    a, b = f0_a[:n], f0_b[:n]
    both = (a > 0) & (b > 0)
    if both.sum() < 10:
        return float("nan")
    return float(np.corrcoef(np.log(a[both]), np.log(b[both]))[0, 1])
