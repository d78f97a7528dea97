"""Email out: compose (templates, threading, reply tokens), transports (SMTP, Graph, sink) and the
channel that registers them (channel.py)."""
