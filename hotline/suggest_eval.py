"""How well categories are suggested: `python server.py hotline eval` prints the 5-fold
cross-validated top-1 accuracy on the labelled messages, per-category precision and recall, the
confusion matrix and the most confident misses, then the accuracy for two other fold seeds and
the time training and one suggestion take. Exit status 0 when accuracy reaches TARGET.
"""

from __future__ import annotations

import time
import unicodedata
from pathlib import Path

from hotline.suggest import (MESSAGES_FILE, TREE_FILE, CategorySuggester, CrossValidation, cross_validate,
                             default_analyzer, load_messages, load_tree)

TARGET = 0.85
FOLDS = 5
SEED = 0
OTHER_SEEDS = (1, 2)


def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def _left(text: str, width: int) -> str:
    return text + " " * max(width - _width(text), 0)


def _right(text: str, width: int) -> str:
    return " " * max(width - _width(text), 0) + text


def _percent(value: float | None) -> str:
    return "   -  " if value is None else f"{value:6.1%}"


def report(result: CrossValidation, misses: int = 10) -> None:
    """Accuracy, per-category precision and recall, the confusion matrix and the worst misses."""
    print(f"{result.folds} 折交叉验证（种子 {result.seed}）：{result.total} 条  准确率 {result.accuracy:.1%}")
    print(f"  {_left('category', 16)}{'support':>8}{'precision':>10}{'recall':>8}")
    for category in result.categories:
        print(f"  {_left(category, 16)}{result.support(category):>8}{_percent(result.precision(category)):>10}"
              f"{_percent(result.recall(category)):>8}")
    # Columns: the labelled categories, then any other the model suggested ("" when it had nothing to say).
    columns = result.categories + sorted({got for _, got in result.confusion} - set(result.categories))
    print("  混淆矩阵（行：标注，列：建议）")
    print("  " + " " * 16 + "".join(_right(c[:2] or "无", 6) for c in columns))
    for expected in result.categories:
        print(f"  {_left(expected, 16)}" + "".join(_right(str(result.confusion[expected, got] or "."), 6)
                                                 for got in columns))
    if result.misses:
        print(f"  最有把握的错误（前 {min(misses, len(result.misses))} 条）")
    for message, got, score in result.misses[:misses]:
        print(f"    ✗ {message.title[:30]}  标注 {message.category}  建议 {got} {score:.2f}")


def _timings(messages, tree) -> tuple[float, float]:
    """Seconds to train (the jieba dictionary already loaded) and milliseconds per suggestion."""
    started = time.perf_counter()
    suggester = CategorySuggester.train(messages, tree)
    trained = time.perf_counter() - started
    started = time.perf_counter()
    for message in messages:
        suggester.suggest(message.title, detail=message.detail)
    return trained, (time.perf_counter() - started) * 1000 / len(messages)


def main(datasets_dir: Path) -> int:
    """Cross-validate on the labelled messages in `datasets_dir`; 0 if accuracy ≥ TARGET."""
    messages_path, tree_path = Path(datasets_dir) / MESSAGES_FILE, Path(datasets_dir) / TREE_FILE
    if not messages_path.exists():
        print(f"找不到标注留言 {messages_path}（共享数据集目录应在仓库旁边）")
        return 1
    started = time.perf_counter()
    default_analyzer()
    loaded = time.perf_counter() - started
    messages = load_messages(messages_path)
    tree = load_tree(tree_path) if tree_path.exists() else []
    print(f"标注留言 {len(messages)} 条；类目树 {len(tree)} 行" + ("" if tree else f"（{tree_path} 不存在）"))
    result = cross_validate(messages, tree, folds=FOLDS, seed=SEED)
    report(result)
    others = [cross_validate(messages, tree, folds=FOLDS, seed=seed).accuracy for seed in OTHER_SEEDS]
    print("其他划分：" + "，".join(f"种子 {seed} 准确率 {acc:.1%}" for seed, acc in zip(OTHER_SEEDS, others)))
    trained, per_call = _timings(messages, tree)
    print(f"训练 {trained:.2f} 秒（另加载分词词典 {loaded:.2f} 秒）；每条建议 {per_call:.2f} 毫秒")
    reached = result.accuracy >= TARGET
    print(f"目标 ≥ {TARGET:.0%}：{'达到' if reached else '未达到'}")
    return 0 if reached else 1
