"""Data files that ship inside the package (mappings); read with importlib.resources."""
