"""`mlp-bench reproduce`: the seed articles' experiments rerun, and one report that sets every claim beside our
measurement.

The claims (figures, tolerances, source quality) are data in ``claims.toml``; the report lists its edits since
the run's code (``provenance``). Each
experiment is one module (``ladder``, ``batch_size``, ``accuracy``, ``lambda2``, ``cnn``) that writes its
finished parts into the run folder as it goes and summarises them into measures; ``report`` turns the measures
of one or several run folders into ``report.md``; ``command`` holds the two CLI commands.
"""
