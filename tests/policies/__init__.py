"""One behavioural suite per policy (retries, timeouts, error handlers, cancellation, failure
propagation), each test run on every backend through the ``backend`` fixture
(:mod:`policies.backends`). A package, so that its test modules may share names with older
files in ``tests/`` and so that Dask workers import its flow modules as ``policies.flows``."""
