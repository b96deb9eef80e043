"""Data files (scenarios, items, synonyms, calendar overrides) loaded into pydantic models.

A data file is YAML. Validation errors name the file and the line of the offending entry, so
an operator who edits a file by hand is told exactly where the mistake is.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)


class DataFileError(Exception):
    """A data file could not be read or does not match its model."""

    def __init__(self, path: Path | str, problems: list[str]):
        self.path = str(path)
        self.problems = problems
        super().__init__(f"{self.path}: " + "; ".join(problems))


class _LineLoader(yaml.SafeLoader):
    """Safe YAML loader that remembers the line where every mapping and sequence starts."""


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode) -> dict:
    mapping = _LinedDict(loader.construct_mapping(node, deep=True))
    mapping.line = node.start_mark.line + 1
    mapping.key_lines = {k.value: k.start_mark.line + 1 for k, _ in node.value if hasattr(k, "value")}
    return mapping


def _construct_sequence(loader: _LineLoader, node: yaml.SequenceNode) -> list:
    seq = _LinedList(loader.construct_sequence(node, deep=True))
    seq.lines = [item.start_mark.line + 1 for item in node.value]
    return seq


class _LinedDict(dict):
    line: int = 0
    key_lines: dict[str, int]


class _LinedList(list):
    lines: list[int]


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_sequence)


def read_yaml(path: Path | str) -> Any:
    """Parse a YAML file, keeping line numbers; a syntax error names file and line."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise DataFileError(path, [f"cannot read: {exc.strerror or exc}"]) from None
    try:
        return yaml.load(text, Loader=_LineLoader)  # noqa: S506 - SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark else ""
        raise DataFileError(path, [f"{where}invalid YAML ({getattr(exc, 'problem', exc)})"]) from None
    except ValueError as exc:  # PyYAML raises a bare ValueError for an impossible date (2027-02-30)
        raise DataFileError(path, [f"无效日期或数值（{exc}）"]) from None


def line_of(document: Any, loc: tuple[int | str, ...]) -> int | None:
    """The line of the deepest node along a pydantic error location that the file has."""
    line = getattr(document, "line", None)
    node = document
    for part in loc:
        if isinstance(node, _LinedDict) and part in node:
            # The key's own line; YAML keys may be ints (a year), key_lines holds their text.
            line = node.key_lines.get(str(part), line)
            node = node[part]
        elif isinstance(node, _LinedList) and isinstance(part, int) and part < len(node):
            line = node.lines[part]
            node = node[part]
        else:
            break
    return line


def describe_validation_error(document: Any, error: ValidationError) -> list[str]:
    """Turn a pydantic error into 'line N: field.path: message' strings."""
    problems = []
    for err in error.errors():
        loc = tuple(err["loc"])
        line = line_of(document, loc)
        where = f"line {line}: " if line else ""
        field = ".".join(str(p) for p in loc) or "(document)"
        problems.append(f"{where}{field}: {err['msg']}")
    return problems


def load_model(path: Path | str, model: type[M]) -> M:
    """Read a YAML data file and validate it as `model`; errors name the file and line."""
    document = read_yaml(path)
    try:
        return model.model_validate(document)
    except ValidationError as exc:
        raise DataFileError(path, describe_validation_error(document, exc)) from None
