"""Load and cross-check the knowledge-base data files.

`load_catalogue()` reads every item and scenario file, validates each against the models in
`schema.py` and then checks what no single file can: unique codes and ids, scenario references
to existing items, and one name per material key.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from core.datafile import DataFileError, load_model
from knowledge_base.schema import Item, ItemFile, Material, Scenario, ScenarioFile

DATA_DIR = Path(__file__).parent / "data"


@dataclass
class Catalogue:
    items: dict[str, Item] = field(default_factory=dict)
    scenarios: dict[str, Scenario] = field(default_factory=dict)


def _scenario_materials(scenario: Scenario) -> list[Material]:
    found = list(scenario.extra_materials)
    for q in scenario.questions:
        for o in q.options:
            found.extend(o.adds_materials)
    return found


def load_catalogue(data_dir: Path = DATA_DIR) -> Catalogue:
    """Read all data files under `data_dir`; raise DataFileError naming every problem."""
    cat = Catalogue()
    problems: list[str] = []
    item_origin: dict[str, str] = {}
    for path in sorted((data_dir / "items").glob("*.yaml")):
        for item in load_model(path, ItemFile).items:
            if item.code in cat.items:
                problems.append(f"{path.name}: item code {item.code} already defined in {item_origin[item.code]}")
                continue
            cat.items[item.code] = item
            item_origin[item.code] = path.name
    scenario_origin: dict[str, str] = {}
    names: dict[str, str] = {}
    for path in sorted((data_dir / "scenarios").glob("*.yaml")):
        for sc in load_model(path, ScenarioFile).scenarios:
            where = f"{path.name}: scenario {sc.id}"
            if sc.id in cat.scenarios:
                problems.append(f"{where}: id already defined in {scenario_origin[sc.id]}")
                continue
            for name in (sc.name, *sc.aliases):
                if name in names:
                    problems.append(f"{where}: name {name} already used by {names[name]}")
                names[name] = sc.id
            refs = set(sc.items)
            refs.update(code for st in sc.steps for code in st.items)
            for q in sc.questions:
                for o in q.options:
                    refs.update(o.adds_items)
                    refs.update(o.drops_items)
            problems.extend(f"{where}: unknown item {code}" for code in sorted(refs - cat.items.keys()))
            cat.scenarios[sc.id] = sc
            scenario_origin[sc.id] = path.name
    material_names: dict[str, tuple[str, str]] = {}
    all_materials = [(f"item {i.code}", m) for i in cat.items.values() for m in i.materials]
    all_materials += [(f"scenario {s.id}", m) for s in cat.scenarios.values() for m in _scenario_materials(s)]
    for owner, m in all_materials:
        seen = material_names.setdefault(m.key, (m.name, owner))
        if seen[0] != m.name:
            problems.append(f"material key {m.key}: named {m.name!r} in {owner} but {seen[0]!r} in {seen[1]}")
    if problems:
        raise DataFileError(data_dir, problems)
    return cat


def main() -> int:
    """Validate the data files and print a summary (used by `python server.py kb check`)."""
    try:
        cat = load_catalogue()
    except DataFileError as exc:
        print(f"知识库数据有误 {exc.path}:")
        for p in exc.problems:
            print(f"  - {p}")
        return 1
    by_batch: dict[str, int] = {}
    for sc in cat.scenarios.values():
        by_batch[sc.batch.value] = by_batch.get(sc.batch.value, 0) + 1
    print(f"items: {len(cat.items)}; scenarios: {len(cat.scenarios)} {by_batch}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
