"""The bot process: the Bolt app and how it is served (HTTP or Socket Mode)."""
