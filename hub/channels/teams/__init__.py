"""Teams out: Adaptive Cards from templates/teams/, the transports that post them, and the
channel that registers them (channel.py)."""
