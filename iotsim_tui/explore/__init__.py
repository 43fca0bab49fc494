"""The traffic explorer's model: every topic seen on a broker, payloads read and charted.

No textual here: the screens in `tui/` draw what these modules keep and compute.
"""
