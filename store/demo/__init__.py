"""The bundled demo package: a fictional city, 临江市 / Linjiang City, with every date relative to today.

``write_demo_package`` (``package``) writes it; the city (``city``, ``catalog``) is fixed data, the
projects (``plan``) and their rows (``rows``) are drawn from a seeded random generator; ``format`` holds
the import format's columns and value formats, which ``store.synth`` shares.
"""

from store.demo.package import write_demo_package

__all__ = ["write_demo_package"]
