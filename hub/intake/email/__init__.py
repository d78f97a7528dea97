"""Email intake: SMTP listener, HTTP and mailbox polling into one pipeline (see pipeline.py).

Every message is stored raw first (`store.store_raw`), then processed by `pipeline.process`
in ordered steps that each record their decision on the stored row: limits, parse, dedupe,
our own mail, bounce, automatic mail, sender trust, match, body, effect.
"""
