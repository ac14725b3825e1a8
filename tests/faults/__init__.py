"""Fault-injection suite (pytest marker ``faults``): the enricher CLI as a real subprocess, against the local
OpenSearch through a fault proxy (``proxy.py``) that refuses, drops, delays and rewrites requests and bulk
items. Each test checks outcomes: no document lost, none written twice, no original field changed, and its
own expectation. Run alone with ``pytest -m faults``; skip with ``-m "not faults"``.
"""
