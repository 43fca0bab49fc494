"""Every validation rule of a network profile, each with a bad input and its exact message.

Each case is a whole profile; the first two lines are always the network table, so the
line numbers in the expected messages can be read off the text.
"""

# The tables of cases read best with one case, and its exact message, per line.
# ruff: noqa: E501

from __future__ import annotations

from textwrap import dedent

import pytest

from iotsim_tui.errors import ProfileError, ProfileProblems
from iotsim_tui.profiles.load import parse_network

FILE = "profiles/lab.toml"
HEAD = '[network]\nname = "LAB"\n'


def problems(text: str) -> list[str]:
    """The messages a profile fails with (the test fails when it loads)."""
    with pytest.raises(ProfileProblems) as caught:
        parse_network(text, FILE)
    messages = [problem.message for problem in caught.value.problems]
    assert str(caught.value) == "\n".join(messages)
    return messages


def profile(body: str) -> str:
    return HEAD + dedent(body).lstrip("\n")


def test_the_example_from_the_issue() -> None:
    text = profile(
        """
        [[devices]]
        name = "A"
        id = "A1"

        [[devices]]
        name = "B"
        id = "B1"

        [[devices]]
        name = "C"
        id = "C1"
        subscribe = [{ topic = "High_Tempe", qos = 3 }]
        """
    )
    assert problems(text) == [f"{FILE}:14: devices[2].subscribe[0].qos = 3: must be 0, 1 or 2"]


NETWORK_CASES = [
    pytest.param(
        '[[devices]]\nname = "A"\nid = "A1"\n',
        [f"{FILE}: network: is required: a [network] table with a name"],
        id="network missing",
    ),
    pytest.param(
        'network = "LAB"\n',
        [f'{FILE}:1: network = "LAB": must be a table'],
        id="network not a table",
    ),
    pytest.param(
        '[network]\ndescription = "x"\n',
        [f"{FILE}:1: network.name: is required"],
        id="name missing",
    ),
    pytest.param(
        '[network]\nname = "  "\n',
        [f'{FILE}:2: network.name = "  ": must not be empty'],
        id="name empty",
    ),
    pytest.param(
        "[network]\nname = 5\n",
        [f"{FILE}:2: network.name = 5: must be a string"],
        id="name not a string",
    ),
    pytest.param(
        HEAD + 'descripton = "x"\n',
        [f'{FILE}:3: network.descripton: unknown key; did you mean "description"?'],
        id="unknown key, did you mean",
    ),
    pytest.param(
        HEAD + 'colour = "red"\n',
        [f"{FILE}:3: network.colour: unknown key; allowed here: name, description, broker, ramp"],
        id="unknown key, allowed keys",
    ),
    pytest.param(
        HEAD + '\n[[device]]\nname = "A"\n',
        [f'{FILE}:4: device: unknown key; did you mean "devices"?'],
        id="unknown top-level table",
    ),
    pytest.param(
        "devices = 3\n" + HEAD,
        [f"{FILE}:1: devices = 3: must be an array of tables ([[devices]])"],
        id="devices not an array",
    ),
    pytest.param(
        HEAD + 'description = ["a"]\n',
        [f'{FILE}:3: network.description = ["a"]: must be a string'],
        id="description not a string",
    ),
]


@pytest.mark.parametrize(("text", "expected"), NETWORK_CASES)
def test_network_rules(text: str, expected: list[str]) -> None:
    assert problems(text) == expected


def broker(lines: str) -> str:
    """A profile whose [network.broker] table starts on line 4 and holds `lines` from line 5."""
    return HEAD + "\n[network.broker]\n" + dedent(lines)


BROKER_CASES = [
    ("port = 0", "network.broker.port = 0: must be an integer from 1 to 65535"),
    ("port = 70000", "network.broker.port = 70000: must be an integer from 1 to 65535"),
    ('port = "1883"', 'network.broker.port = "1883": must be an integer from 1 to 65535'),
    ("port = true", "network.broker.port = true: must be an integer from 1 to 65535"),
    ('host = ""', 'network.broker.host = "": must not be empty'),
    (
        'host = "mqtt://broker"',
        "network.broker.host = \"mqtt://broker\": must be a host name or an address, no spaces or '/'",
    ),
    (
        'host = "127.0.0.1 "',
        "network.broker.host = \"127.0.0.1 \": must be a host name or an address, no spaces or '/'",
    ),
    ('bundled = "yes"', 'network.broker.bundled = "yes": must be true or false'),
    ("protocol = 4", 'network.broker.protocol = 4: must be "3.1.1" or "5"'),
    ('protocol = "5.0"', 'network.broker.protocol = "5.0": must be "3.1.1" or "5"'),
    ("protocol = 5.0", 'network.broker.protocol = 5.0: must be "3.1.1" or "5"'),
    (
        "keepalive = -1",
        "network.broker.keepalive = -1: must be an integer from 0 to 65535 (seconds; 0 turns it off)",
    ),
    (
        "keepalive = true",
        "network.broker.keepalive = true: must be an integer from 0 to 65535 (seconds; 0 turns it off)",
    ),
    ("clean_start = 1", "network.broker.clean_start = 1: must be true or false"),
    (
        "session_expiry = 4294967296",
        "network.broker.session_expiry = 4294967296: must be an integer from 0 to 4294967295",
    ),
    (
        "session_expiry = 3600",
        'network.broker.session_expiry = 3600: needs protocol = "5" '
        "(MQTT 3.1.1 has no session expiry: clean_start = false keeps a session)",
    ),
    ("client_id_prefix = 7", "network.broker.client_id_prefix = 7: must be a string"),
    ('username = ""', 'network.broker.username = "": must not be empty'),
    (
        'password = "hunter2"',
        'network.broker.password: needs a username with MQTT 3.1.1 (or protocol = "5")',
    ),
    ("password = 12345", "network.broker.password: must be a string"),
    ('hots = "x"', 'network.broker.hots: unknown key; did you mean "host"?'),
]


@pytest.mark.parametrize(("line", "expected"), BROKER_CASES)
def test_broker_rules(line: str, expected: str) -> None:
    assert problems(broker(line + "\n")) == [f"{FILE}:5: {expected}"]


def test_a_password_is_never_shown() -> None:
    messages = problems(broker('protocol = "3.1.1"\npassword = "hunter2"\n'))
    assert messages == [
        f'{FILE}:6: network.broker.password: needs a username with MQTT 3.1.1 (or protocol = "5")'
    ]
    assert "hunter2" not in messages[0]


@pytest.mark.parametrize(
    "lines",
    [
        'protocol = "5"\npassword = "only"\n',
        'username = "u"\npassword = ""\n',
        "protocol = 5\n",
        "port = 1\nkeepalive = 0\nprotocol = 5\nsession_expiry = 4294967295\n",
        "session_expiry = 0\nclean_start = false\n",
    ],
)
def test_broker_settings_that_are_allowed(lines: str) -> None:
    parse_network(broker(lines), FILE)


TLS_CASES = [
    ('enabled = "yes"', 'network.broker.tls.enabled = "yes": must be true or false'),
    ('ca = ""', 'network.broker.tls.ca = "": must not be empty'),
    ("ca = 5", "network.broker.tls.ca = 5: must be a string"),
    (
        'cert = "certs/client.crt"',
        'network.broker.tls.cert = "certs/client.crt": '
        "needs key, the private key of the client certificate",
    ),
    (
        'key = "certs/client.key"',
        'network.broker.tls.key = "certs/client.key": '
        "needs cert, the client certificate of this key",
    ),
    ('min_version = "1.1"', 'network.broker.tls.min_version = "1.1": must be "1.2" or "1.3"'),
    ("min_version = 1.3", 'network.broker.tls.min_version = 1.3: must be "1.2" or "1.3"'),
    ('verify_hostname = "no"', 'network.broker.tls.verify_hostname = "no": must be true or false'),
    ("verify_certificate = 0", "network.broker.tls.verify_certificate = 0: must be true or false"),
    ('key_log = ""', 'network.broker.tls.key_log = "": must not be empty'),
    (
        "verify_host = false",
        'network.broker.tls.verify_host: unknown key; did you mean "verify_hostname"?',
    ),
]


@pytest.mark.parametrize(("line", "expected"), TLS_CASES)
def test_tls_rules(line: str, expected: str) -> None:
    text = HEAD + "\n[network.broker.tls]\n" + line + "\n"
    assert problems(text) == [f"{FILE}:5: {expected}"]


def test_tls_paths_need_not_exist_yet() -> None:
    text = HEAD + dedent(
        """
        [network.broker.tls]
        enabled = true
        ca = "certs/nowhere/ca.crt"
        cert = "certs/nowhere/client.crt"
        key = "certs/nowhere/client.key"
        min_version = "1.3"
        """
    )
    tls = parse_network(text, FILE).broker.tls
    assert (tls.enabled, tls.min_version, tls.key) == (True, "1.3", "certs/nowhere/client.key")


RAMP_CASES = [
    ("rate = 0", "network.ramp.rate = 0: must be a number greater than 0 (new connections per second)"),
    ('rate = "fast"', 'network.ramp.rate = "fast": must be a number greater than 0 (new connections per second)'),
    ("rate = nan", "network.ramp.rate = nan: must be a number greater than 0 (new connections per second)"),
    ("in_flight = 0", "network.ramp.in_flight = 0: must be an integer of at least 1"),
    ("in_flight = 2.5", "network.ramp.in_flight = 2.5: must be an integer of at least 1"),
]  # fmt: skip


@pytest.mark.parametrize(("line", "expected"), RAMP_CASES)
def test_ramp_rules(line: str, expected: str) -> None:
    assert problems(HEAD + "\n[network.ramp]\n" + line + "\n") == [f"{FILE}:5: {expected}"]


def test_every_problem_is_reported_at_once_in_line_order() -> None:
    text = profile(
        """
        [[devices]]
        id = "A+1"
        subscribe = [{ topic = "a/#/b", qos = 1, on = "later" }]

        [network.broker]
        port = 0
        """
    )
    assert problems(text) == [
        f"{FILE}:3: devices[0].name: is required",
        f"{FILE}:4: devices[0].id = \"A+1\": must not contain '+', '#' or control characters "
        "(ids go into topics)",
        f'{FILE}:5: devices[0].subscribe[0].topic = "a/#/b": '
        "'#' must be a whole level and the last one, as in 'a/b/#'",
        f'{FILE}:5: devices[0].subscribe[0].on = "later": must be "start" or "manual"',
        f"{FILE}:8: network.broker.port = 0: must be an integer from 1 to 65535",
    ]


def test_a_toml_syntax_error_names_the_file_and_line() -> None:
    with pytest.raises(ProfileError) as caught:
        parse_network(HEAD + 'description = "unterminated\n', FILE)
    assert not isinstance(caught.value, ProfileProblems)
    assert caught.value.message == (
        f"{FILE}:3: not valid TOML: illegal character '\\n' (column 28)"
    )


def test_a_toml_error_at_the_end_of_the_file() -> None:
    with pytest.raises(ProfileError) as caught:
        parse_network(HEAD + "x = [1, 2\n", FILE)
    assert caught.value.message == f"{FILE}: not valid TOML: unclosed array at the end of the file"


def test_a_key_given_twice_is_a_toml_error() -> None:
    with pytest.raises(
        ProfileError, match=r"^profiles/lab.toml:3: not valid TOML: cannot overwrite"
    ):
        parse_network(HEAD + 'name = "AGAIN"\n', FILE)


def test_a_bad_certificate_path_is_reported_once() -> None:
    text = HEAD + '\n[network.broker.tls]\ncert = 5\nkey = "certs/client.key"\n'
    assert problems(text) == [f"{FILE}:5: network.broker.tls.cert = 5: must be a string"]


def test_a_kept_plain_port_is_a_port_other_than_the_tls_one_and_saves_back() -> None:
    from iotsim_tui.profiles.save import dumps_network

    tls_on = "[network.broker.tls]\nenabled = true\n"
    assert problems(profile(f"[network.broker]\nkeep_plain_port = 8883\n{tls_on}")) == [
        "profiles/lab.toml:4: network.broker.keep_plain_port = 8883: must differ from the TLS port 8883"
    ]
    assert problems(profile("[network.broker]\nkeep_plain_port = 0\n")) == [
        "profiles/lab.toml:4: network.broker.keep_plain_port = 0: must be an integer from 1 to 65535"
    ]
    network = parse_network(profile(f"[network.broker]\nkeep_plain_port = 1883\n{tls_on}"), FILE)
    assert network.broker.plain_port_kept == 1883
    assert "keep_plain_port = 1883" in dumps_network(network)
    assert parse_network(dumps_network(network), FILE) == network
