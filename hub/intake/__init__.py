"""Inbound channels: email (SMTP, HTTP, mailbox) and Teams (webhook, bot) into one set of operations."""
