"""The departments tickets are dispatched to and the ticket categories, from two data files.

`data/departments.yaml` names the departments by code; `data/categories.yaml` lists the first-
and second-level categories (分类) and which department leads each. Both are read once per
process; a mistake in either (including a department code the other file does not know) is a
DataFileError naming the file and the line.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from core.datafile import DataFileError, line_of, load_model, read_yaml
from core.errors import InvalidInput

DATA_DIR = Path(__file__).parent / "data"
DEPARTMENTS_FILE = "departments.yaml"
CATEGORIES_FILE = "categories.yaml"

Code = Annotated[str, StringConstraints(pattern=r"^[a-z]{2,8}$")]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=40)]


class DepartmentFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    departments: dict[Code, Name] = Field(min_length=1)


class CategoryEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Name
    department: Code
    subcategories: list[Name] = Field(min_length=1)
    overrides: dict[Name, Code] = Field(default_factory=dict)  # subcategory → the department that leads it

    @model_validator(mode="after")
    def _overrides_name_subcategories(self) -> CategoryEntry:
        if len(set(self.subcategories)) != len(self.subcategories):
            raise ValueError(f"{self.name}: a subcategory is listed twice")
        unknown = [s for s in self.overrides if s not in self.subcategories]
        if unknown:
            raise ValueError(f"{self.name}: overrides name unknown subcategories {', '.join(unknown)}")
        return self


class CategoryFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    categories: list[CategoryEntry] = Field(min_length=1)

    @model_validator(mode="after")
    def _names_are_unique(self) -> CategoryFile:
        names = [c.name for c in self.categories]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"categories listed twice: {', '.join(twice)}")
        return self


@dataclass(frozen=True)
class Catalogue:
    departments: dict[str, str]  # code → name, file order
    categories: dict[str, CategoryEntry]  # first-level name → entry, file order


def load_catalogue(data_dir: Path = DATA_DIR) -> Catalogue:
    """Read and cross-check both files (uncached: the functions below use the cached one)."""
    departments = load_model(data_dir / DEPARTMENTS_FILE, DepartmentFile).departments
    categories_path = data_dir / CATEGORIES_FILE
    entries = load_model(categories_path, CategoryFile).categories
    problems = []
    for i, entry in enumerate(entries):
        used = [(("categories", i, "department"), entry.department)]
        used += [(("categories", i, "overrides", sub), code) for sub, code in entry.overrides.items()]
        for loc, code in used:
            if code not in departments:
                # Lines are looked up only when something is wrong: the file is read again for them.
                line = line_of(read_yaml(categories_path), loc)
                problems.append(f"line {line}: {'.'.join(map(str, loc))}: unknown department {code}"
                                f" (not in {DEPARTMENTS_FILE})")
    if problems:
        raise DataFileError(categories_path, problems)
    return Catalogue(dict(departments), {entry.name: entry for entry in entries})


@functools.cache
def _catalogue() -> Catalogue:
    return load_catalogue()


def departments() -> dict[str, str]:
    """Department code → name, in file order."""
    return dict(_catalogue().departments)


def categories() -> list[str]:
    """First-level category names, in file order."""
    return list(_catalogue().categories)


def subcategories(category: str) -> list[str]:
    """The second-level names under `category`; InvalidInput for an unknown category."""
    check_category(category)
    return list(_catalogue().categories[category].subcategories)


def check_department(code: str | None) -> str:
    """The department code, or InvalidInput (code unknown_department) when there is no such department."""
    if code not in departments():
        raise InvalidInput("未知的承办单位", code="unknown_department")
    return code


def check_category(category: str, subcategory: str | None = None) -> None:
    """Raise InvalidInput (code unknown_category) unless the category (and subcategory) exist."""
    entry = _catalogue().categories.get(category)
    if entry is None:
        raise InvalidInput(f"没有“{category}”这个分类", code="unknown_category")
    if subcategory is not None and subcategory not in entry.subcategories:
        raise InvalidInput(f"“{category}”分类下没有“{subcategory}”", code="unknown_category")


def department_for(category: str, subcategory: str | None = None) -> str:
    """The code of the department that leads tickets of this category (承办部门)."""
    check_category(category, subcategory)
    entry = _catalogue().categories[category]
    return entry.overrides.get(subcategory, entry.department) if subcategory else entry.department
