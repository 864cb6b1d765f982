"""Imported once by the job processes' fork server: shotoku and every separator, so that each
separation starts from a process that has them loaded already."""

from .. import registry, separation  # noqa: F401
from . import jobs, peaks  # noqa: F401

registry.available()
