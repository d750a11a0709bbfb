"""The data layer: Debian packages -> cache -> ``data/`` (pretraining text, segments, tasks).

Modules, one responsibility each:

* :mod:`.sources`   the registry: which Debian package holds which file, as data;
* :mod:`.fetch`     ``apt-get download`` + ``dpkg-deb -x`` into ``cache/`` with a manifest;
* :mod:`.problems`  reporting malformed input (file + record) without tracebacks;
* :mod:`.genbank`, :mod:`.fasta`  streaming readers;
* :mod:`.statlog`, :mod:`.promoters`, :mod:`.rrna16s`  labelled benchmarks;
* :mod:`.english`, :mod:`.dnacorpus`  pretraining text;
* :mod:`.splits`, :mod:`.tasks`  split policies and task builders;
* :mod:`.build`     the orchestration, writing ``data/`` atomically;
* :mod:`.recipe`    :class:`~.recipe.DataRecipe`, loaded from ``recipes/data/<name>.toml``.
"""
