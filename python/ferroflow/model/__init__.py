"""The build-time model: what a workflow *is* before anything runs.

Socket specs, data nodes, task definitions, the graph of task nodes with their input bindings
and future outputs, graph bodies, and the vocabulary (states, node kinds, link types, link
labels) every other layer speaks. It imports only the standard library and ``_core`` (for
time-ordered uuids), so the store, the engine, the views and the API can all build on it.
"""
