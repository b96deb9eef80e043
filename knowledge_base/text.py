"""Text handling shared by indexing and search: normalisation, synonyms and tokenisation.

jieba runs as a dedicated Tokenizer with the domain words (every item and scenario name, alias
and keyword) added once, so "居住证" or "不动产权证书" stay whole and score as one term.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from collections.abc import Iterable
from pathlib import Path

import jieba
import opencc
from pydantic import BaseModel, ConfigDict
from pypinyin import lazy_pinyin

from core.datafile import load_model

jieba.setLogLevel(logging.WARNING)  # its own start-up chatter is not our log

_PUNCT = re.compile(r"[\s\u3000-\u303f\uff00-\uff0f\uff1a-\uff20\uff3b-\uff40\uff5b-\uff65!-/:-@\[-`{-~]+")
# Words that say nothing about what is wanted; removed only as whole tokens.
STOPWORDS = frozenset(
    "我 我要 我想 想 要 想要 请问 请 问 问下 一下 怎么 怎么办 怎样 如何 怎么样 哪里 在哪 在哪里 去哪 哪儿 什么 啥 "
    "需要 需 要求 的 了 吗 呢 啊 吧 呀 嘛 个 一个 能 能不能 可以 可不可以 是 有 没有 该 应该 办 办理 手续 流程 "
    "材料 资料 准备 带 带什么 多久 多长时间 时间 条件 咨询 你好 您好 麻烦 帮 帮我 给 和 与 及 或 或者 还 再 又 "
    "就 都 也 去 到 在 把 让 那 这 这个 那个 自己 本人".split())
SCENARIO_INTENT = re.compile(r"^(我要|我想|想要|打算|准备|计划)?(开|办|开办|开个|开一家|开家|办个|办一个|创办|经营)")


class SynonymFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    synonyms: dict[str, list[str]]


_TO_SIMPLIFIED = opencc.OpenCC("t2s")
_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff"))


def name_key(text: str) -> str:
    """When two names are the same name: width, script and case folded, white space, invisible
    characters and book-title marks dropped. The importer merges on it; search's exact-name
    match looks it up."""
    folded = _TO_SIMPLIFIED.convert(unicodedata.normalize("NFKC", text)).translate(_INVISIBLE).casefold()
    return re.sub(r"\s+", "", folded).strip("《》")


def fold(text: str) -> str:
    """Full-width to half-width, traditional to simplified, lower case; punctuation kept."""
    return _TO_SIMPLIFIED.convert(unicodedata.normalize("NFKC", text)).lower()


def normalise(text: str) -> str:
    """`fold`, and punctuation to spaces."""
    return _PUNCT.sub(" ", fold(text)).strip()


class Synonyms:
    """Replace colloquial variants by the catalogue's word, longest variant first."""

    def __init__(self, table: dict[str, list[str]]):
        pairs = {variant: canonical for canonical, variants in table.items() for variant in variants}
        self._pattern = re.compile("|".join(re.escape(v) for v in sorted(pairs, key=len, reverse=True))) if pairs else None
        self._pairs = pairs
        self.canonical_words = set(table)

    @classmethod
    def load(cls, path: Path) -> Synonyms:
        return cls(load_model(path, SynonymFile).synonyms)

    def apply(self, text: str) -> str:
        if self._pattern is None:
            return text
        return self._pattern.sub(lambda m: self._pairs[m.group(0)], text)


def _bigrams(text: str) -> list[str]:
    chars = [c for c in text if not c.isspace()]
    return [a + b for a, b in zip(chars, chars[1:])]


_PINYIN: dict[str, str] = {}


def _syllable(char: str) -> str:
    """The most common reading of one character (cached: pypinyin is slow per call)."""
    reading = _PINYIN.get(char)
    if reading is None:
        reading = _PINYIN[char] = lazy_pinyin(char)[0] if "\u4e00" <= char <= "\u9fff" else char
    return reading


def pinyin_bigrams(text: str) -> list[str]:
    """Bigrams of syllables, prefixed '@': a homophone typo (网巴, 居住正) still matches."""
    syllables = [_syllable(c) for c in text if "\u4e00" <= c <= "\u9fff"]
    return ["@" + a + b for a, b in zip(syllables, syllables[1:])]


class Analyzer:
    """Turns text into index terms: jieba words (search mode, stopwords dropped), character
    bigrams prefixed '#', which keep a typo'd word partly matching, and for names and queries
    syllable bigrams prefixed '@', which catch typos of the same sound (同音字)."""

    def __init__(self, domain_words: Iterable[str], synonyms: Synonyms):
        self.synonyms = synonyms
        self._tokenizer = jieba.Tokenizer()
        self._tokenizer.initialize()
        for word in set(domain_words) | synonyms.canonical_words:
            word = normalise(word)
            if 2 <= len(word) <= 12 and " " not in word:
                self._tokenizer.add_word(word, freq=2000)

    def prepare(self, text: str) -> str:
        """Normalised text with synonyms replaced: what tokens and fuzzy matching see."""
        return self.synonyms.apply(normalise(text))

    def tokens(self, prepared: str) -> list[str]:
        """Every jieba word, stopwords included: how a thing is asked matters to intents. No HMM
        guessing of unknown words: their characters are features of their own anyway."""
        return [w for w in self._tokenizer.lcut(prepared, HMM=False) if w.strip()]

    def words(self, prepared: str) -> list[str]:
        return [w for w in self._tokenizer.lcut_for_search(prepared) if w.strip() and w not in STOPWORDS]

    def terms(self, prepared: str, pinyin: bool = False) -> list[str]:
        words = self.words(prepared)
        content = "".join(w for w in self._tokenizer.lcut(prepared) if w not in STOPWORDS)
        return words + ["#" + b for b in _bigrams(content)] + (pinyin_bigrams(content) if pinyin else [])
