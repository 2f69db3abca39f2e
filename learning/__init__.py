"""The domain rules: pure, clock-injected, free of Slack."""
