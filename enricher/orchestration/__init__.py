"""Composing the pure stages into runs: the pipeline (one batch through every stage), the service (passes:
source -> pipeline -> writer -> report), training from historical documents, and model loading.
"""
