"""Rasa NLU training data in YAML (versions 2.x to 3.1): load a file or folder, dump back to 3.1."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from nlu.normalize import fold

YAML_SUFFIXES = (".yml", ".yaml")
ITEM_KINDS = ("intent", "synonym", "regex", "lookup")


class RasaFormatError(ValueError):
    """A training data file that cannot be read; the message names the file, the place and the fault."""

    def __init__(self, source: str, line: int | None, reason: str) -> None:
        self.source = source
        self.line = line
        self.reason = reason
        super().__init__(f"{source}:{line}: {reason}" if line else f"{source}: {reason}")


@dataclass(frozen=True)
class EntitySpan:
    """An annotated entity; offsets index the plain example text (annotations removed)."""

    start: int
    end: int
    entity: str
    value: str
    role: str | None = None
    group: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"entity": self.entity, "value": self.value, "start": self.start, "end": self.end}
        if self.role is not None:
            out["role"] = self.role
        if self.group is not None:
            out["group"] = self.group
        return out


@dataclass
class Example:
    text: str
    intent: str
    entities: list[EntitySpan] = field(default_factory=list)
    metadata: dict[str, Any] | None = None


@dataclass
class TrainingData:
    examples: list[Example] = field(default_factory=list)
    # folded variant -> canonical value, like Rasa's entity synonyms
    synonyms: dict[str, str] = field(default_factory=dict)
    regexes: dict[str, list[str]] = field(default_factory=dict)
    lookups: dict[str, list[str]] = field(default_factory=dict)

    @property
    def intents(self) -> list[str]:
        return sorted({ex.intent for ex in self.examples})

    def intent_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for ex in self.examples:
            counts[ex.intent] = counts.get(ex.intent, 0) + 1
        return counts

    def merge(self, other: TrainingData) -> TrainingData:
        """A new TrainingData holding both; on conflicting synonyms `other` wins."""
        regexes = {name: list(patterns) for name, patterns in self.regexes.items()}
        for name, patterns in other.regexes.items():
            regexes[name] = _unique([*regexes.get(name, []), *patterns])
        lookups = {name: list(values) for name, values in self.lookups.items()}
        for name, values in other.lookups.items():
            lookups[name] = _unique([*lookups.get(name, []), *values])
        return TrainingData(
            examples=[*self.examples, *other.examples],
            synonyms={**self.synonyms, **other.synonyms},
            regexes=regexes,
            lookups=lookups,
        )

    def fingerprint(self) -> str:
        """A hash of everything that influences training, to tell a stale model cache."""
        payload = {
            "examples": [
                [ex.text, ex.intent, [span.to_dict() for span in ex.entities]] for ex in self.examples
            ],
            "synonyms": sorted(self.synonyms.items()),
            "regexes": sorted(self.regexes.items()),
            "lookups": sorted(self.lookups.items()),
        }
        raw = json.dumps(payload, ensure_ascii=False, sort_keys=True, default=str)
        return hashlib.sha256(raw.encode("utf-8")).hexdigest()


def _unique(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))


# ---------------------------------------------------------------------------------------------- loading


def load_training_data(path: Path | str) -> TrainingData:
    """Read one Rasa NLU YAML file, or every *.yml/*.yaml under a folder (recursively, merged)."""
    root = Path(path)
    if root.is_dir():
        files = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in YAML_SUFFIXES)
        if not files:
            raise RasaFormatError(str(root), None, "folder holds no .yml or .yaml file")
        data = TrainingData()
        for file in files:
            data = data.merge(_load_file(file))
        return data
    if not root.exists():
        raise RasaFormatError(str(root), None, "no such file or folder")
    return _load_file(root)


def parse_training_data(text: str, source: str = "<string>") -> TrainingData:
    """Parse the YAML text of one training data file; `source` names it in errors."""
    loader = yaml.SafeLoader(text)
    try:
        root = loader.get_single_node()
        document = loader.construct_document(root) if root is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        raise RasaFormatError(source, line, f"invalid YAML: {exc.problem or exc.context}") from exc
    except yaml.YAMLError as exc:
        raise RasaFormatError(source, None, f"invalid YAML: {exc}") from exc
    finally:
        loader.dispose()

    data = TrainingData()
    if document is None:
        return data
    if not isinstance(document, dict) or not isinstance(root, yaml.MappingNode):
        raise RasaFormatError(source, 1, "the top level must be a mapping (version:, nlu:, …)")
    nodes = _mapping_nodes(root)
    if "nlu" not in document:
        return data  # a stories/rules/domain file: nothing for NLU
    items, items_node = document["nlu"], nodes["nlu"]
    if not isinstance(items, list) or not isinstance(items_node, yaml.SequenceNode):
        raise RasaFormatError(source, _line(items_node), "'nlu' must be a list of items")
    for index, (item, item_node) in enumerate(zip(items, items_node.value, strict=True), start=1):
        _ItemReader(source, index, item, item_node, data).read()
    return data


def _load_file(path: Path) -> TrainingData:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise RasaFormatError(str(path), None, f"cannot read: {exc}") from exc
    return parse_training_data(text, str(path))


def _mapping_nodes(node: yaml.MappingNode) -> dict[str, yaml.Node]:
    return {str(key.value): value for key, value in node.value if isinstance(key, yaml.ScalarNode)}


def _line(node: yaml.Node) -> int:
    return node.start_mark.line + 1


class _ItemReader:
    """Reads one `nlu:` item into the TrainingData, raising errors that locate the fault."""

    def __init__(self, source: str, index: int, item: Any, node: yaml.Node, data: TrainingData) -> None:
        self.source = source
        self.index = index
        self.item = item
        self.node = node
        self.data = data

    def error(self, line: int | None, reason: str) -> RasaFormatError:
        return RasaFormatError(self.source, line, f"nlu item {self.index}: {reason}")

    def read(self) -> None:
        if not isinstance(self.item, dict) or not isinstance(self.node, yaml.MappingNode):
            raise self.error(_line(self.node), "not a mapping (expected 'intent:' with 'examples:')")
        kinds = [kind for kind in ITEM_KINDS if kind in self.item]
        if len(kinds) != 1:
            found = f"{', '.join(kinds)} together" if kinds else "none of them"
            raise self.error(_line(self.node), f"needs exactly one of intent/synonym/regex/lookup, found {found}")
        kind = kinds[0]
        name = self.item[kind]
        if not isinstance(name, str | int | float) or isinstance(name, bool) or not str(name).strip():
            raise self.error(_line(self.node), f"'{kind}' must be a non-empty name")
        name = str(name).strip()
        if "examples" not in self.item or self.item["examples"] is None:
            raise self.error(_line(self.node), f"{kind} '{name}': missing 'examples'")
        if kind == "intent":
            self.read_intent(name)
        elif kind == "synonym":
            for text, _line_no in self.plain_lines(name):
                self.data.synonyms[fold(text)] = name
        elif kind == "regex":
            patterns = self.data.regexes.setdefault(name, [])
            for pattern, line_no in self.plain_lines(name):
                try:
                    re.compile(pattern)
                except re.error as exc:
                    raise self.error(line_no, f"regex '{name}': invalid pattern {pattern!r}: {exc}") from exc
                patterns.append(pattern)
        else:
            values = self.data.lookups.setdefault(name, [])
            values.extend(text for text, _line_no in self.plain_lines(name))

    def examples_node(self) -> yaml.Node:
        assert isinstance(self.node, yaml.MappingNode)  # an item is a mapping: the loader checked it
        return _mapping_nodes(self.node)["examples"]

    def block_lines(self, name: str) -> Iterator[tuple[str, int]]:
        """The '- ' lines of an `examples: |` block, with their 1-based line numbers in the file."""
        examples, node = self.item["examples"], self.examples_node()
        if not isinstance(examples, str):
            raise self.error(_line(node), f"'{name}': 'examples' must be a block of '- ' lines")
        # a block scalar starts on the line after its '|' indicator
        first = _line(node) + (1 if isinstance(node, yaml.ScalarNode) and node.style in ("|", ">") else 0)
        for offset, raw in enumerate(examples.splitlines()):
            line = raw.strip()
            if not line:
                continue
            if not line.startswith("-"):
                raise self.error(first + offset, f"'{name}': example line does not start with '- ': {line!r}")
            text = line[1:].strip()
            if not text:
                raise self.error(first + offset, f"'{name}': empty example")
            yield text, first + offset

    def plain_lines(self, name: str) -> Iterator[tuple[str, int]]:
        examples = self.item["examples"]
        if isinstance(examples, list):
            yield from self.listed(name)
        else:
            yield from self.block_lines(name)

    def listed(self, name: str) -> Iterator[tuple[str, int]]:
        for entry, entry_node in self.listed_entries(name):
            yield entry["text"], _line(entry_node)

    def listed_entries(self, name: str) -> Iterator[tuple[dict[str, Any], yaml.Node]]:
        """Examples written as a list of `{text: …, metadata: …}` (or of plain strings)."""
        node = self.examples_node()
        assert isinstance(node, yaml.SequenceNode)
        for number, (entry, entry_node) in enumerate(zip(self.item["examples"], node.value, strict=True), 1):
            if isinstance(entry, str):
                entry = {"text": entry}
            if not isinstance(entry, dict) or not isinstance(entry.get("text"), str):
                raise self.error(_line(entry_node), f"'{name}': example {number} must be a mapping with 'text'")
            text = entry["text"].strip()
            if not text:
                raise self.error(_line(entry_node), f"'{name}': example {number} is empty")
            metadata = entry.get("metadata")
            if metadata is not None and not isinstance(metadata, dict):
                raise self.error(_line(entry_node), f"'{name}': example {number}: 'metadata' must be a mapping")
            yield {"text": text, "metadata": metadata}, entry_node

    def read_intent(self, intent: str) -> None:
        item_metadata = self.item.get("metadata")
        if item_metadata is not None and not isinstance(item_metadata, dict):
            raise self.error(_line(self.node), f"intent '{intent}': 'metadata' must be a mapping")
        if isinstance(self.item["examples"], list):
            entries = [
                (entry["text"], _line(node), entry["metadata"] or item_metadata)
                for entry, node in self.listed_entries(intent)
            ]
        else:
            entries = [(text, line, item_metadata) for text, line in self.block_lines(intent)]
        for annotated, line, metadata in entries:
            try:
                text, entities = parse_annotated(annotated)
            except AnnotationError as exc:
                raise self.error(line, f"intent '{intent}': {exc} in {annotated!r}") from exc
            for span in entities:
                surface = text[span.start : span.end]
                if span.value != surface:
                    self.data.synonyms[fold(surface)] = span.value
            self.data.examples.append(Example(text, intent, entities, dict(metadata) if metadata else None))


# ------------------------------------------------------------------------------------------ annotations


class AnnotationError(ValueError):
    """A malformed entity annotation inside one example."""


def parse_annotated(annotated: str) -> tuple[str, list[EntitySpan]]:
    """Split `[text](entity)`, `[text](entity:value)`, `[text]{…}` and `[text][{…}, …]` annotations
    out of an example: the plain text and the entity spans within it."""
    plain: list[str] = []
    length = 0
    spans: list[EntitySpan] = []
    i, n = 0, len(annotated)
    while i < n:
        char = annotated[i]
        if char == "]":
            raise AnnotationError(f"unbalanced brackets: ']' at column {i + 1} has no opening '['")
        if char != "[":
            plain.append(char)
            length += 1
            i += 1
            continue
        close = annotated.find("]", i + 1)
        if close == -1:
            raise AnnotationError(f"unbalanced brackets: '[' at column {i + 1} has no closing ']'")
        surface = annotated[i + 1 : close]
        if "[" in surface:
            raise AnnotationError(f"unbalanced brackets: '[' at column {i + 1} is opened twice")
        after = annotated[close + 1] if close + 1 < n else ""
        if after not in ("(", "{", "["):
            # brackets without an annotation are plain text, as in Rasa
            plain.append(annotated[i : close + 1])
            length += close + 1 - i
            i = close + 1
            continue
        if not surface:
            raise AnnotationError(f"empty entity text at column {i + 1}")
        if after == "(":
            end = annotated.find(")", close + 2)
            if end == -1:
                raise AnnotationError(f"unbalanced brackets: '(' at column {close + 2} has no closing ')'")
            annotations = [_short_annotation(annotated[close + 2 : end], surface)]
        else:
            end = _json_end(annotated, close + 1)
            annotations = _json_annotations(annotated[close + 1 : end + 1], close + 2)
        for spec in annotations:
            spans.append(_span(spec, surface, length))
        plain.append(surface)
        length += len(surface)
        i = end + 1
    return "".join(plain), spans


def _short_annotation(spec: str, surface: str) -> dict[str, Any]:
    entity, colon, value = spec.partition(":")
    if not entity.strip():
        raise AnnotationError(f"empty entity name in ({spec})")
    if colon and not value.strip():
        raise AnnotationError(f"empty synonym value in ({spec})")
    return {"entity": entity.strip(), "value": value.strip() if colon else surface}


def _json_end(text: str, start: int) -> int:
    """Index of the bracket closing the JSON value that opens at `start` (strings may hold brackets)."""
    opener = text[start]
    closer = "}" if opener == "{" else "]"
    depth = 0
    in_string = False
    i = start
    while i < len(text):
        char = text[i]
        if in_string:
            if char == "\\":
                i += 1
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "{[":
            depth += 1
        elif char in "}]":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    raise AnnotationError(f"unbalanced brackets: '{opener}' at column {start + 1} has no closing '{closer}'")


def _json_annotations(raw: str, column: int) -> list[dict[str, Any]]:
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise AnnotationError(f"bad JSON in annotation at column {column}: {exc.msg}") from exc
    annotations = value if isinstance(value, list) else [value]
    if not annotations or not all(isinstance(a, dict) for a in annotations):
        raise AnnotationError(f"annotation at column {column} must be a JSON object (or a list of them)")
    return annotations


def _span(spec: dict[str, Any], surface: str, start: int) -> EntitySpan:
    entity = spec.get("entity")
    if not isinstance(entity, str) or not entity.strip():
        raise AnnotationError(f"annotation {json.dumps(spec, ensure_ascii=False)} has no 'entity' name")
    value = spec.get("value", surface)
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise AnnotationError(f"entity '{entity}': 'value' must be a string or a number")
    extra = {}
    for key in ("role", "group"):
        if spec.get(key) is not None:
            if not isinstance(spec[key], str | int):
                raise AnnotationError(f"entity '{entity}': '{key}' must be a string")
            extra[key] = str(spec[key])
    return EntitySpan(start, start + len(surface), entity.strip(), str(value), **extra)


# ------------------------------------------------------------------------------------------------ dumping


class _Block(str):
    """A string written as a YAML literal block (`|`)."""


class _Dumper(yaml.SafeDumper):
    pass


_Dumper.add_representer(
    _Block, lambda dumper, value: dumper.represent_scalar("tag:yaml.org,2002:str", str(value), style="|")
)


def annotate(example: Example) -> str:
    """The example text with its entities written back as Rasa annotations."""
    by_span: dict[tuple[int, int], list[EntitySpan]] = {}
    for span in sorted(example.entities, key=lambda s: (s.start, s.end)):
        by_span.setdefault((span.start, span.end), []).append(span)
    out: list[str] = []
    cursor = 0
    for (start, end), spans in by_span.items():
        if start < cursor:
            raise ValueError(f"overlapping entities cannot be written as Rasa annotations: {example.text!r}")
        surface = example.text[start:end]
        out.append(example.text[cursor:start])
        if len(spans) == 1 and spans[0].value == surface and spans[0].role is None and spans[0].group is None:
            out.append(f"[{surface}]({spans[0].entity})")
        else:
            objects = [_annotation_object(span, surface) for span in spans]
            body = objects[0] if len(objects) == 1 else objects
            out.append(f"[{surface}]{json.dumps(body, ensure_ascii=False)}")
        cursor = end
    out.append(example.text[cursor:])
    return "".join(out)


def _annotation_object(span: EntitySpan, surface: str) -> dict[str, str]:
    obj = {"entity": span.entity}
    if span.value != surface:
        obj["value"] = span.value
    if span.role is not None:
        obj["role"] = span.role
    if span.group is not None:
        obj["group"] = span.group
    return obj


def dump_training_data(data: TrainingData) -> str:
    """Rasa 3.1 YAML text for the training data (examples grouped by intent, first-seen order)."""
    by_intent: dict[str, list[Example]] = {}
    for ex in data.examples:
        by_intent.setdefault(ex.intent, []).append(ex)
    items: list[dict[str, Any]] = []
    for intent, examples in by_intent.items():
        if any(ex.metadata for ex in examples):
            listed = [
                {"text": annotate(ex), **({"metadata": ex.metadata} if ex.metadata else {})} for ex in examples
            ]
            items.append({"intent": intent, "examples": listed})
        else:
            items.append({"intent": intent, "examples": _block(annotate(ex) for ex in examples)})
    variants: dict[str, list[str]] = {}
    for variant, canonical in data.synonyms.items():
        variants.setdefault(canonical, []).append(variant)
    items += [{"synonym": canonical, "examples": _block(names)} for canonical, names in variants.items()]
    items += [{"regex": name, "examples": _block(patterns)} for name, patterns in data.regexes.items()]
    items += [{"lookup": name, "examples": _block(values)} for name, values in data.lookups.items()]
    document = {"version": "3.1", "nlu": items}
    return yaml.dump(document, Dumper=_Dumper, allow_unicode=True, sort_keys=False, width=10_000)


def _block(lines: Iterator[str] | list[str]) -> _Block:
    return _Block("".join(f"- {line}\n" for line in lines))
