"""Background work: the Huey instance (queue.py), the tasks, and the consumer entry (main.py)."""
