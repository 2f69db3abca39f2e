"""The Slack adapter: Bolt listeners, Block Kit renderers, the Web API transport and
Slack identities. The only package that imports ``slack_sdk`` or ``slack_bolt``."""
