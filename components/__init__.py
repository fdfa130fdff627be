"""dagwright's building blocks.

Every module in this package (and in its sub-packages) is scanned for `Component` subclasses, so a team adds a
component by dropping a module here. Components never import prefect or the engine (`flows`); heavy libraries are
imported inside the component that needs them, when it first runs.
"""
