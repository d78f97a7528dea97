"""Monitoring alerts in: Prometheus Alertmanager, Grafana and Azure Monitor webhooks.

parse.py (pure: payload → alerts, or the reason it is malformed) → sources.py (per-source
tokens and rates) → http.py (store raw, answer 202) → ingest.py (dedupe by identity, one
report per group, resolution) with mapping.py (policy `alerts:` rules, pure) and quiet.py
(the quiet-time timer of minor alert-only incidents).
"""
