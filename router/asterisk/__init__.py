"""The Asterisk edge: FastAGI server, AMI listener and framing, call tracking, dialplan variables.

`callsim` is Asterisk's side of FastAGI, for the tests, the demo and the benchmark.
"""
