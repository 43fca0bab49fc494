"""Labs: TLS lessons that set a case up for real, and a profile's `[lab]` steps and checks.

- `lessons`: the eight TLS lessons, each run for real on loopback (`lesson_command`:
  `iotsim-tui lab lesson NAME PROFILE`);

- `checks`: `Grader` folds in what a running network reports (engine events, the eavesdrop
  relay's items, the devices' ledgers) and says of each check whether it passed, and why;
  the app's checklist and `iotsim-tui lab check` both use it;
- `steps`: `LabRun` runs a network's steps headless, with the bundled broker on free ports;
- `report`: the pass/fail table, JUnit XML and JSON;
- `check_command`: `iotsim-tui lab check PROFILE [--junit FILE] [--json]`.

Nothing here imports textual. Labs only ever touch brokers they started on loopback.
"""
