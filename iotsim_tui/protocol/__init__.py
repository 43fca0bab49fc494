"""Sans-IO MQTT 3.1.1 and 5.0: packets, their wire codec, and topic rules.

`packets` (the values), `codec` (`encode`, `PacketReader`, `peek_header`), `errors`
(`MalformedPacket` with the reason code to answer), `reasons` (packet types, protocol
levels, reason codes), `properties` (MQTT 5.0 properties) and `topics`. No sockets here:
the broker and the eavesdrop dissector bring their own bytes.
"""
