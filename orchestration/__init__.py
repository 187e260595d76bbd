"""The application layer: the ``kore`` CLI, the production flow, the run report and the demo.

It imports the stages; no stage imports it.
"""
