"""Findings: trends per template and host/service, silences, incidents with root-cause candidates, reports.

Import what you need from the submodules (``enricher.findings.engine``: ``run_findings``, ``analyse``,
``FindingsSchedule``; ``enricher.findings.index``: ``ensure_findings_index``). Its settings,
``FindingsConfig``, are the ``findings`` section of :mod:`enricher.config`.
"""
