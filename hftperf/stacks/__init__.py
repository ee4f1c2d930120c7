"""Generic stack backends: the user's own services (a compose file) driven through the Docker SDK.

``compose_file`` reads and checks a compose file (no Docker needed), ``compose`` runs it,
``revisions`` exports git revisions for ``hftperf ab --rev``. The bundled reference stack's
backends stay in ``hftperf.reference_engine.backends`` (whose registry also names ``compose``).
"""

__all__: list[str] = []
