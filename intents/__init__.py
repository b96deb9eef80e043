"""Natural-language understanding: intent, target and entities of a citizen's message.

Not built yet (issue: understanding). Nothing here is wired into the service.
"""
