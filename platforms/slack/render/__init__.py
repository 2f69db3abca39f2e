"""Block Kit and mrkdwn renderers: domain facts -> Slack messages, escaping included."""
