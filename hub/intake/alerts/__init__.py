"""Monitoring alerts in: Prometheus Alertmanager, Grafana and Azure Monitor webhooks.

http.py (authenticate the source: sources.py; check the payload: parse.py, pure; store it raw
and answer 202) → the worker's `process_alerts` task → drain.py (the waiting ones in batches)
→ ingest.py (dedupe by identity, one report per group, resolution) with mapping.py (the policy's `alerts:` rules, pure) and
quiet.py (the quiet-time timer of minor alert-only incidents); view.py: the room's list.
"""
