"""The JSON Schemas of inspectorctl's JSON outputs (package data: ``KIND.json``), and
``build``, which derives them from the models (``python -m inspectorctl.schemas.build``)."""
