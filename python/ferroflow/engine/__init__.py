"""The engine: what running a graph means.

Submitting a graph's tasks to the Rust core, expanding graph tasks at run time, the attempt
policy, caching, and settling every task's final state; the store is reached only through its
recorder. Backends (:mod:`ferroflow.executors`) run the calls the engine hands them.
"""
