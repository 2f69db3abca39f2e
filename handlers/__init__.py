"""Bolt listeners, one folder per kind (commands/ actions/ events/ views/ home/).

Each folder has ``register(app)``; ``register_all`` wires them all. Listeners parse,
``ack()``, call one domain function and render with ``messages``; no SQL and no Block
Kit dicts live here. The listeners arrive with the chat-interactions work (issue 4);
the nudge buttons' ``action_id`` values are fixed in ``messages.ids`` already.
"""
