"""Network profiles: one TOML file = one network.

- `model`: the typed model (frozen dataclasses) the engine and the app read, and
  `lab_model` the model of its `[lab]` table (steps and checks);
- `load`: `load_network(path)` / `parse_network(text, path)` check every value and raise
  `ProfileProblems` naming file, line, dotted key, value and what is allowed;
  `check_network(network)` applies the same rules to a network built in code;
- `save`: `save_network(network, path)` writes short TOML atomically and never over a file
  that does not load; `dumps_network(network)` gives the text;
- `expand`: `devices_of(network)` lists the devices with templates expanded;
- `command`: `iotsim-tui validate PROFILE...`.
"""
