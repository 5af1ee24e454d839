"""The routing core: rule schema and loading, conditions, identification, the pure decision, numbers.

Nothing here talks to the network or reads a clock: `decide` is a function of its inputs.
"""
