"""Scheduled jobs: plain functions of (database, clock) that APScheduler and
``python bot.py sweep`` both call."""
