"""Test support shipped with the hub: local fakes of Microsoft 365 and SMTP, and one process harness."""
