"""Sagsflow's domain core: model catalogue, policies, clock and the engine wrapper.

Nothing in this package imports Flask, the worker or the inbox.
"""
