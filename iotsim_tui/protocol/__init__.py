"""Sans-IO MQTT 3.1.1 and 5.0: packets, their wire codec, and topic rules.

`packets` (the values), `codec` (`encode`, `PacketReader`, `peek_header`), `errors`
(`MalformedPacket` with the reason code to answer), `reasons` (packet types, protocol
levels, reason codes), `properties` (MQTT 5.0 properties), `topics`, and `fast`: PUBLISH
read and written the short way for the broker's and the engine's hot paths, held to the
general codec's bytes by the tests. No sockets here: the broker, the engine and the eavesdrop
dissector bring their own bytes.
"""
