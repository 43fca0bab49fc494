"""Traffic kept and played back: recordings (JSON lines), record, replay, and pcap to recording.

Record and replay read and write through MQTT clients of their own (the engine's door to
aiomqtt), so they work on the bundled broker and on any other.
"""
