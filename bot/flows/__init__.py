"""The bot's conversations, one module per feature. Each has `start(turn, understanding)` and
`STEPS`: step name → handler of the user's next message. A handler returns the reply text (or a
`Reply`) and moves the conversation on, or ends it with `turn.conversation.leave()`."""
