"""Outgoing channels: email (SMTP, Graph, sink) and Teams (Workflows webhook, bot, sink)."""
