"""The WeChat official-account channel: webhook, crypto, dedupe, dialogue flows.

Not built yet (issue: chat bot). `/wechat` is not served until it is.
"""
