"""Intent classification: TF-IDF over character and word n-grams of folded text, a linear SVM with
temperature-scaled softmax confidences, a cross-validated out-of-scope fallback, and `rasa test nlu`-style
evaluation."""

from __future__ import annotations

import json
import math
import os
import re
import warnings
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np
from scipy import sparse
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import precision_recall_fscore_support
from sklearn.model_selection import StratifiedKFold
from sklearn.svm import LinearSVC

from nlu.normalize import fold
from nlu.rasa_format import TrainingData

OUT_OF_SCOPE = "out_of_scope"
# Bump when features or the saved layout change, so cached models from older code are retrained.
MODEL_VERSION = 2
DEFAULT_C = 2.0
RANDOM_STATE = 0

# Years, amounts and codes (3+ digits) say nothing about the intent; "88" (bye) does.
_LONG_NUMBERS = re.compile(r"\d{3,}")
# Latin words (with an inner apostrophe), digit runs, and runs of other letters (CJK…); punctuation is dropped.
_TOKENS = re.compile(r"[a-z\u00e0-\u024f]+(?:'[a-z]+)?|\d+|[^\W\d_a-z\u00e0-\u024f]+")
_LATIN = re.compile(r"[a-z\u00e0-\u024f']+|\d+")
_THRESHOLDS = np.round(np.arange(0.0, 0.91, 0.01), 2)
_COVERAGE_FLOORS = np.round(np.arange(0.0, 0.51, 0.05), 2)


def features(folded: str) -> list[str]:
    """The n-gram features of folded text: char 1–4-grams inside each token (padded by spaces, like
    scikit-learn's 'char_wb'), Latin word unigrams and bigrams, and whether it is a question."""
    text = _LONG_NUMBERS.sub("0", folded)
    tokens = _TOKENS.findall(text)
    out: list[str] = []
    for token in tokens:
        padded = f" {token} "
        size = len(padded)
        for n in range(1, 5):
            for i in range(size - n + 1):
                gram = padded[i : i + n]
                if gram != " ":
                    out.append(gram)
    words = [t for t in tokens if _LATIN.fullmatch(t)]
    out += [f"w:{w}" for w in words]
    out += [f"w:{a} {b}" for a, b in pairwise(words)]
    if "?" in text:
        out.append("q:?")
    return out


@dataclass(frozen=True)
class Prediction:
    """The decision for one text: `intent` is `out_of_scope` when the fallback applied."""

    intent: str
    confidence: float
    ranking: list[tuple[str, float]]  # every trained intent, most likely first
    coverage: float  # idf-weighted share of the text's n-grams seen in training (0 = all unknown)


class IntentClassifier:
    """A linear intent model (one-vs-rest linear SVM over TF-IDF n-grams) whose decision scores are
    turned into probabilities by a softmax with a temperature fitted on cross-validated scores.
    Predicting needs only the vocabulary and the weight matrix, no scikit-learn.

    Out of scope: a text whose best confidence is below `threshold`, or whose n-grams are mostly
    unknown (`coverage` below `min_coverage`: gibberish, other languages, other topics)."""

    def __init__(self, *, c: float = DEFAULT_C, threshold: float = 0.0, min_coverage: float = 0.0) -> None:
        self.c = c
        self.threshold = threshold
        self.min_coverage = min_coverage
        self.temperature = 1.0
        self.labels: list[str] = []
        self.data_hash = ""
        self._vocabulary: dict[str, int] = {}
        self._idf = np.zeros(0, dtype=np.float32)
        self._unknown_idf = 1.0  # the weight an unseen n-gram would have: the rarest idf
        self._coef = np.zeros((0, 0), dtype=np.float32)  # features x labels
        self._intercept = np.zeros(0, dtype=np.float32)

    # ------------------------------------------------------------------------------------------ training

    def fit(self, data: TrainingData, folds: int = 5) -> IntentClassifier:
        """Train on every example, then fit the softmax temperature on `folds`-fold cross-validated
        scores (skipped when an intent has a single example)."""
        texts = [ex.text for ex in data.examples]
        labels = [ex.intent for ex in data.examples]
        if len(set(labels)) < 2:
            raise ValueError("training needs examples of at least two intents")
        self._fit(texts, labels)
        self.data_hash = data.fingerprint()
        if _can_cross_validate(data, folds):
            cv = cross_val_scores(data, folds, c=self.c)
            self.temperature = _fit_temperature(cv.scores, cv.truth_index)
        return self

    def _fit(self, texts: Sequence[str], labels: Sequence[str]) -> None:
        docs = [features(fold(t)) for t in texts]
        vocabulary: dict[str, int] = {}
        for doc in docs:
            for gram in doc:
                vocabulary.setdefault(gram, len(vocabulary))
        df = np.zeros(len(vocabulary), dtype=np.float64)
        for doc in docs:
            df[[vocabulary[g] for g in set(doc)]] += 1
        # smoothed idf, as TfidfVectorizer(smooth_idf=True)
        self._idf = (np.log((1 + len(docs)) / (1 + df)) + 1).astype(np.float32)
        self._unknown_idf = float(math.log(1 + len(docs)) + 1)
        self._vocabulary = vocabulary
        rows = [self._analyze(doc)[:2] for doc in docs]
        indptr = np.cumsum([0] + [len(index) for index, _ in rows])
        matrix = sparse.csr_matrix(
            (np.concatenate([w for _, w in rows]), np.concatenate([i for i, _ in rows]), indptr),
            shape=(len(docs), len(vocabulary)),
        )
        model = LinearSVC(C=self.c, random_state=RANDOM_STATE, max_iter=5000)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.fit(matrix, list(labels))
        self.labels = [str(label) for label in model.classes_]
        coef, intercept = model.coef_, model.intercept_
        if coef.shape[0] == 1:  # two classes: one score s for the second, i.e. softmax over (-s/2, s/2)
            coef = np.vstack([-coef / 2, coef / 2])
            intercept = np.concatenate([-intercept / 2, intercept / 2])
        self._coef = np.ascontiguousarray(coef.T, dtype=np.float32)
        self._intercept = intercept.astype(np.float32)

    def _analyze(self, doc: list[str]) -> tuple[np.ndarray, np.ndarray, float]:
        """Indices and l2-normalized sublinear tf-idf weights of the known features of one document,
        and its idf-weighted coverage."""
        counts: dict[int, int] = {}
        unknown = 0
        vocabulary = self._vocabulary
        for gram in doc:
            j = vocabulary.get(gram)
            if j is None:
                unknown += 1
            else:
                counts[j] = counts.get(j, 0) + 1
        index = np.fromiter(counts.keys(), dtype=np.int64, count=len(counts))
        tf = np.fromiter(counts.values(), dtype=np.float32, count=len(counts))
        idf = self._idf[index]
        known_mass = float(idf @ tf)
        total_mass = known_mass + unknown * self._unknown_idf
        coverage = known_mass / total_mass if total_mass else 0.0
        weights = (1.0 + np.log(tf)) * idf
        norm = float(np.sqrt(weights @ weights)) if len(weights) else 0.0
        return index, (weights / norm if norm else weights), coverage

    # ---------------------------------------------------------------------------------------- predicting

    def _scores(self, text: str) -> tuple[np.ndarray, float]:
        if not self.labels:
            raise RuntimeError("the classifier is not trained")
        index, weights, coverage = self._analyze(features(fold(text)))
        if len(index):
            return self._intercept + weights @ self._coef[index], coverage
        return self._intercept.copy(), coverage

    def scores(self, text: str) -> np.ndarray:
        """The raw decision score of each label (in `self.labels` order) for one text."""
        return self._scores(text)[0]

    def probabilities(self, text: str) -> np.ndarray:
        """Probability of each label (in `self.labels` order) for one text."""
        return _softmax(self.scores(text) / self.temperature)

    def classify(self, text: str) -> Prediction:
        """The ranking of every intent and the decision after the out-of-scope fallback."""
        scores, coverage = self._scores(text)
        probs = _softmax(scores / self.temperature)
        order = np.argsort(-probs, kind="stable")
        ranking = [(self.labels[i], float(probs[i])) for i in order]
        intent, confidence = ranking[0]
        if confidence < self.threshold or coverage < self.min_coverage:
            intent = OUT_OF_SCOPE
        return Prediction(intent, confidence, ranking, coverage)

    def predict(self, text: str) -> list[tuple[str, float]]:
        """All intents with their confidence, most likely first (no fallback)."""
        return self.classify(text).ranking

    def predict_intent(self, text: str) -> tuple[str, float]:
        """The best intent, or `out_of_scope` when the fallback applies; with the top confidence."""
        prediction = self.classify(text)
        return prediction.intent, prediction.confidence

    def choose_threshold(self, data: TrainingData, folds: int = 5) -> float:
        """Pick (and keep) the confidence threshold and coverage floor below which a text counts as
        out of scope: the pair maximizing cross-validated macro-F1 (the middle of the best plateau
        of thresholds, the highest floor among equals). Without an `out_of_scope` intent in the
        data there is nothing to fall back to and both stay 0. Returns the threshold."""
        self.threshold = self.min_coverage = 0.0
        if OUT_OF_SCOPE not in data.intents or not _can_cross_validate(data, folds):
            return self.threshold
        cv = cross_val_scores(data, folds, c=self.c)
        probs = _softmax(cv.scores / self.temperature)
        best = np.argmax(probs, axis=1)
        top = probs[np.arange(len(best)), best]
        fallback = cv.labels.index(OUT_OF_SCOPE)
        truth = np.array(cv.truth_index)
        choice = (-1.0, 0.0, 0.0)  # (macro-F1, floor, threshold)
        for floor in _COVERAGE_FLOORS:
            low_coverage = cv.coverage < floor
            results = [
                _fast_macro_f1(truth, np.where((top < t) | low_coverage, fallback, best), len(cv.labels))
                for t in _THRESHOLDS
            ]
            score = max(results)
            plateau = [t for t, s in zip(_THRESHOLDS, results, strict=True) if s >= score - 1e-9]
            if score >= choice[0] - 1e-9:
                choice = (score, float(floor), float(plateau[len(plateau) // 2]))
        _, self.min_coverage, self.threshold = choice
        return self.threshold

    # ------------------------------------------------------------------------------------------- storage

    def save(self, path: Path | str) -> None:
        """Write the model as a NumPy archive (no pickle): to a temp file, then renamed into place."""
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        meta = {
            "version": MODEL_VERSION,
            "labels": self.labels,
            "features": list(self._vocabulary),
            "threshold": self.threshold,
            "min_coverage": self.min_coverage,
            "temperature": self.temperature,
            "unknown_idf": self._unknown_idf,
            "c": self.c,
            "data_hash": self.data_hash,
        }
        blob = np.frombuffer(json.dumps(meta, ensure_ascii=False).encode("utf-8"), dtype=np.uint8)
        temp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        with temp.open("wb") as fh:
            np.savez(fh, meta=blob, idf=self._idf, coef=self._coef, intercept=self._intercept)
        temp.replace(target)

    @classmethod
    def load(cls, path: Path | str) -> IntentClassifier:
        """Read a model written by `save`; ValueError if it is damaged or from another model version."""
        try:
            with np.load(Path(path), allow_pickle=False) as archive:
                meta = json.loads(archive["meta"].tobytes().decode("utf-8"))
                arrays = {name: archive[name] for name in ("idf", "coef", "intercept")}
        except (ValueError, KeyError, zipfile.BadZipFile, UnicodeDecodeError, EOFError) as exc:
            raise ValueError(f"{path}: not a saved intent model ({exc})") from exc
        if meta.get("version") != MODEL_VERSION:
            raise ValueError(f"{path}: model version {meta.get('version')}, expected {MODEL_VERSION}")
        model = cls(c=float(meta["c"]), threshold=float(meta["threshold"]), min_coverage=float(meta["min_coverage"]))
        model.temperature = float(meta["temperature"])
        model.labels = list(meta["labels"])
        model.data_hash = str(meta["data_hash"])
        model._unknown_idf = float(meta["unknown_idf"])
        model._vocabulary = {gram: i for i, gram in enumerate(meta["features"])}
        model._idf, model._coef, model._intercept = arrays["idf"], arrays["coef"], arrays["intercept"]
        return model

    @property
    def feature_count(self) -> int:
        return len(self._vocabulary)


def train_classifier(data: TrainingData, folds: int = 5, *, c: float = DEFAULT_C) -> IntentClassifier:
    """A classifier fitted on `data`, with its temperature and out-of-scope fallback chosen."""
    model = IntentClassifier(c=c).fit(data, folds)
    model.choose_threshold(data, folds)
    return model


def _can_cross_validate(data: TrainingData, folds: int) -> bool:
    counts = data.intent_counts()
    return bool(counts) and min(counts.values()) >= 2 and len(data.examples) >= 2 * folds


def _softmax(scores: np.ndarray) -> np.ndarray:
    exp: np.ndarray = np.exp(scores - scores.max(axis=-1, keepdims=True))
    result: np.ndarray = exp / exp.sum(axis=-1, keepdims=True)
    return result


def _fit_temperature(scores: np.ndarray, truth: Sequence[int]) -> float:
    """The softmax temperature minimizing the negative log-likelihood of the true labels."""
    rows = np.arange(len(truth))
    best_t, best_nll = 1.0, math.inf
    for t in np.geomspace(0.01, 10.0, 121):
        scaled = scores / t
        top = scaled.max(axis=1)
        log_norm = top + np.log(np.exp(scaled - top[:, None]).sum(axis=1))
        nll = float(np.mean(log_norm - scaled[rows, truth]))
        if nll < best_nll:
            best_t, best_nll = float(t), nll
    return best_t


def _fast_macro_f1(truth: np.ndarray, predicted: np.ndarray, n_labels: int) -> float:
    """Macro-F1 over the labels present in `truth` (label indices), without scikit-learn's overhead."""
    support = np.bincount(truth, minlength=n_labels)
    guessed = np.bincount(predicted, minlength=n_labels)
    hits = np.bincount(truth[truth == predicted], minlength=n_labels)
    present = support > 0
    return float(np.mean(2 * hits[present] / (support[present] + guessed[present])))


# ------------------------------------------------------------------------------------------- evaluation


@dataclass
class Report:
    """Evaluation figures in the shape `civicbot nlu test --json` prints."""

    accuracy: float
    macro_f1: float
    per_intent: dict[str, dict[str, float | int]]
    confusions: list[tuple[str, str, int]]  # (true, predicted, count), most frequent first
    errors: list[dict[str, Any]] = field(default_factory=list)  # misclassified texts

    def to_dict(self) -> dict[str, Any]:
        return {
            "accuracy": self.accuracy,
            "macro_f1": self.macro_f1,
            "per_intent": self.per_intent,
            "confusions": [list(pair) for pair in self.confusions],
            "errors": self.errors,
        }


@dataclass(frozen=True)
class CrossValidation:
    """Out-of-fold results: each example scored by a model that did not see it."""

    truth: list[str]
    truth_index: list[int]  # index of the true intent in `labels`
    labels: list[str]  # column order of `scores`
    scores: np.ndarray  # examples x labels decision scores
    coverage: np.ndarray  # per example


# `fit` (temperature), `choose_threshold` and `evaluate` all need the folds of the same data: keep the
# last few results so training a model does not repeat them.
_CV_CACHE: dict[tuple[str, int, float], CrossValidation] = {}
_CV_CACHE_SIZE = 4
_ABSENT_SCORE = -10.0  # score of an intent missing from a fold's training part


def cross_val_scores(data: TrainingData, folds: int = 5, *, c: float = DEFAULT_C) -> CrossValidation:
    """Stratified, shuffled (fixed seed) `folds`-fold out-of-fold scores of the examples."""
    key = (data.fingerprint(), folds, c)
    if key in _CV_CACHE:
        return _CV_CACHE[key]
    texts = [ex.text for ex in data.examples]
    truth = [ex.intent for ex in data.examples]
    labels = sorted(set(truth))
    column = {label: i for i, label in enumerate(labels)}
    scores = np.full((len(texts), len(labels)), _ABSENT_SCORE)
    coverage = np.zeros(len(texts))
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=RANDOM_STATE)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # intents with fewer examples than folds
        splits = list(splitter.split(texts, truth))
    for train, test in splits:
        model = IntentClassifier(c=c)
        model._fit([texts[i] for i in train], [truth[i] for i in train])
        columns = [column[label] for label in model.labels]
        for i in test:
            scores[i, columns], coverage[i] = model._scores(texts[i])
    result = CrossValidation(truth, [column[t] for t in truth], labels, scores, coverage)
    if len(_CV_CACHE) >= _CV_CACHE_SIZE:
        _CV_CACHE.pop(next(iter(_CV_CACHE)))
    _CV_CACHE[key] = result
    return result


def evaluate(
    data: TrainingData, cross_validation: bool = True, folds: int = 5, *, c: float = DEFAULT_C
) -> Report:
    """Per-intent precision/recall/F1, macro-F1 and confusions, like `rasa test nlu` (no fallback):
    out-of-fold predictions with `cross_validation`, else a model trained and tested on the same data."""
    texts = [ex.text for ex in data.examples]
    if cross_validation:
        cv = cross_val_scores(data, folds, c=c)
        # the confidence shown for errors needs a temperature: fit it on these very scores
        probs = _softmax(cv.scores / _fit_temperature(cv.scores, cv.truth_index))
        best = np.argmax(probs, axis=1)
        predicted = [(cv.labels[j], float(probs[i, j])) for i, j in enumerate(best)]
        return _report(texts, cv.truth, predicted)
    return evaluate_on(IntentClassifier(c=c).fit(data, folds), data)


def evaluate_on(model: IntentClassifier, data: TrainingData, *, apply_fallback: bool = False) -> Report:
    """Evaluate a trained model on (held-out) data; `apply_fallback` counts texts that fall below the
    threshold or coverage floor as `out_of_scope`, as the parser does."""
    texts = [ex.text for ex in data.examples]
    predicted = []
    for text in texts:
        prediction = model.classify(text)
        predicted.append(
            (prediction.intent, prediction.confidence) if apply_fallback else prediction.ranking[0]
        )
    return _report(texts, [ex.intent for ex in data.examples], predicted)


def _report(texts: list[str], truth: list[str], predicted: list[tuple[str, float]]) -> Report:
    labels = sorted(set(truth))
    guesses = [intent for intent, _ in predicted]
    precision, recall, f1, support = precision_recall_fscore_support(
        truth, guesses, labels=labels, zero_division=0
    )
    per_intent: dict[str, dict[str, float | int]] = {
        label: {
            "precision": float(precision[i]),
            "recall": float(recall[i]),
            "f1": float(f1[i]),
            "support": int(support[i]),
        }
        for i, label in enumerate(labels)
    }
    pairs: dict[tuple[str, str], int] = {}
    errors = []
    for text, true, (guess, confidence) in zip(texts, truth, predicted, strict=True):
        if true != guess:
            pairs[(true, guess)] = pairs.get((true, guess), 0) + 1
            errors.append({"text": text, "intent": true, "predicted": guess, "confidence": confidence})
    confusions = sorted(((t, p, n) for (t, p), n in pairs.items()), key=lambda x: (-x[2], x[0], x[1]))
    hits = sum(1 for t, g in zip(truth, guesses, strict=True) if t == g)
    return Report(
        accuracy=hits / len(truth) if truth else math.nan,
        macro_f1=float(np.mean(f1)) if labels else math.nan,
        per_intent=per_intent,
        confusions=confusions,
        errors=errors,
    )
