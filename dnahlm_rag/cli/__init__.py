"""The ``dnahlm`` command line. One module per command group; each defines ``register(app)``.

Command bodies parse arguments, call one library function, and report. Logic lives in the library.
"""
