"""Incidents: operations, the workflow seams, mobilisation, timers, serialisation."""
