"""Data-quality gates: checks declared per stage on its inputs and outputs, run through Great Expectations.

`catalog` knows every check by name without importing Great Expectations (so `dagwright validate` stays fast);
`frames` turns a port's value into a table; `run` validates it with GX and applies stop / warn / quarantine.
"""
