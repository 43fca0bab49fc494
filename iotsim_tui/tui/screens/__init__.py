"""The app's screens: the main screen, the broker console and the dialogs.

Each dialog is a `ModalScreen` that dismisses with a new model value, or None when cancelled.
"""
