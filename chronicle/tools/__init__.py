"""Operator tooling over a queue directory, used by the ``chronicle`` command.

:mod:`~chronicle.tools.files` parses the files byte by byte (csrc/format.h),
:mod:`~chronicle.tools.view` gives a read-only view of a whole queue, and one
module per job builds on it: :mod:`~chronicle.tools.verify`,
:mod:`~chronicle.tools.repair`, :mod:`~chronicle.tools.retention`,
:mod:`~chronicle.tools.readers`, :mod:`~chronicle.tools.export` and
:mod:`~chronicle.tools.stats`. docs/TOOLS.md describes them.
"""
