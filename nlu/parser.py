"""Text -> Rasa `/model/parse` answer (intent, ranking, entities); the bundled model, trained once and cached."""

from __future__ import annotations

import logging
from datetime import date
from pathlib import Path
from typing import Any

from nlu.classifier import MODEL_VERSION, OUT_OF_SCOPE, IntentClassifier, train_classifier
from nlu.entities import EntityExtractor, Gazetteer
from nlu.rasa_format import TrainingData, load_training_data

log = logging.getLogger(__name__)

BUNDLED_DATA = Path(__file__).with_name("data")
RANKING_SIZE = 10
# Longer texts are understood from their beginning only, so one huge request cannot stall a worker.
MAX_PARSE_CHARS = 2000


class NluParser:
    """Parses one text into the shape of Rasa's `POST /model/parse` answer."""

    def __init__(self, classifier: IntentClassifier, extractor: EntityExtractor | None = None) -> None:
        self.classifier = classifier
        self.extractor = extractor or EntityExtractor()

    def parse(self, text: str, today: date | None = None) -> dict[str, Any]:
        """{text, intent{name, confidence}, intent_ranking (top 10), entities}. A text below the
        classifier's confidence threshold or coverage floor gets intent `out_of_scope` carrying the
        threshold as its confidence (as Rasa's FallbackClassifier does); the ranking is kept."""
        head = text[:MAX_PARSE_CHARS]
        prediction = self.classifier.classify(head)
        top_name, top_confidence = prediction.ranking[0]
        if prediction.intent == top_name:
            intent = {"name": top_name, "confidence": top_confidence}
        else:
            intent = {"name": OUT_OF_SCOPE, "confidence": self.classifier.threshold}
        return {
            "text": text,
            "intent": intent,
            "intent_ranking": [
                {"name": name, "confidence": confidence} for name, confidence in prediction.ranking[:RANKING_SIZE]
            ],
            "entities": self.extractor.extract(head, today),
        }

    def with_gazetteer(self, gazetteer: Gazetteer) -> NluParser:
        """The same model recognizing other names (e.g. after the database changed)."""
        return NluParser(self.classifier, self.extractor.with_gazetteer(gazetteer))


def default_cache_dir() -> Path:
    """Where trained models are kept unless the bot's settings name a folder (``CIVICBOT_NLU_CACHE``)."""
    return Path.home() / ".cache" / "civicbot" / "nlu"


def load_or_train_classifier(data: TrainingData, cache_dir: Path | str | None = None) -> IntentClassifier:
    """The classifier for `data`: read from the cache when a model of exactly this data (and this code's
    model version) is there, else trained and written to the cache. An unwritable cache only costs
    the retraining next time."""
    fingerprint = data.fingerprint()
    path = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    path = path / f"intent-v{MODEL_VERSION}-{fingerprint[:20]}.npz"
    if path.exists():
        try:
            model = IntentClassifier.load(path)
        except (ValueError, OSError) as exc:
            log.warning("ignoring unreadable NLU model cache %s: %s", path, exc)
        else:
            if model.data_hash == fingerprint:
                return model
    model = train_classifier(data)
    try:
        model.save(path)
    except OSError as exc:
        log.warning("cannot write NLU model cache %s: %s", path, exc)
    return model


def load_default_parser(
    data_path: Path | str | None = None,
    cache_dir: Path | str | None = None,
    gazetteer: Gazetteer | None = None,
) -> NluParser:
    """A parser trained on the bundled data (or the Rasa NLU file/folder at `data_path`), its model
    cached under `cache_dir` keyed by the data's hash, recognizing the names in `gazetteer`."""
    data = load_training_data(data_path if data_path is not None else BUNDLED_DATA)
    classifier = load_or_train_classifier(data, cache_dir)
    return NluParser(classifier, EntityExtractor(gazetteer, data.synonyms, data.regexes, data.lookups))
