"""Delivery: the outbox, the sender that drains it, and the transports it sends through.

Only this package (and ``handlers/``) imports ``slack_sdk``; domain code enqueues
``delivery.outbox.NewMessage`` rows and never talks to Slack itself.
"""
