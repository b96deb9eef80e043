"""Understanding a citizen's message (chat or search box): intent, target, entities.

Why this method. Messages are short, often colloquial or misspelt, and arrive thousands a
second with a few milliseconds to spare, while the intents are few and sharply worded
(进度, 投诉, 人工, 我的证照). So:

- a softmax regression (a small linear model) over words, characters, character and syllable
  bigrams, trained in about a second from examples in `data/examples.yaml`. It generalises past
  the exact examples far better than rules or nearest-example matching, needs no GPU or model
  download, gives probabilities that can be thresholded, and scores a message in microseconds;
- rules only where a rule is the truth: an `SX…` number is an application, a `GD…` number a
  ticket (read in entities.py); alone it is a lookup, and with words it settles an unsure reading
  (understanding.py, step 6);
- the knowledge base's own search for guide targets, whose score decides how far a guide
  reading can be trusted (understanding.py): a confident wrong guide is worse than asking.

Vocabulary is shared with the knowledge base: one jieba tokenizer holding every scenario and item
name, loaded once per process.
"""

from __future__ import annotations

from aiohttp import web


def setup(app: web.Application) -> None:
    """Add after knowledge_base.setup: the model tokenises with the knowledge base's analyzer.
    Imported here, as knowledge_base.setup does: a worker process never trains the model."""
    from intents.service import intents_context

    app.cleanup_ctx.append(intents_context)
