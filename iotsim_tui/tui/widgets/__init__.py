"""Widgets of the app, one module per area of the screen."""
