"""Runs a network's simulation for the app in a child process of its own (no textual here).

`process.EngineProcess` is the app's side, `child.serve` the child's, `messages` what the two
say over their pipes, and `digest` how the child boils its events down for the screen.
"""
