"""Notifications: recipients, the outbox, the sent journal, throttling and delivery."""
