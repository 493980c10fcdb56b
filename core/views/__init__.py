"""The read side shared by every entrypoint: an order's snapshot, store-wide counts, and the
query text and metric definitions (cycle time, node dwell, stall rate, slice dimensions) that the
analytics, the dashboard and the reports all use.
"""
