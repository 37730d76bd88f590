"""`make bench`: load generator and measurements for the 12345 front door (docs/performance.md).

An asyncio client (aiohttp) that plays many citizens at once against the REST channel and the
WeChat channel, at fixed concurrencies (closed loop) and, for WeChat, at a fixed arrival rate
above saturation (open loop); beside it the floor (the model's own parse time for the same
messages, in a process of its own), Rasa's start-up time, training time, resident memory of each
process and, on request, a py-spy profile of the Rasa process under load.

By default it starts its own stack on free ports (bot/stack/processes.py), so it never meets a
developer's `make run`; `--rasa-url` points it at a running one instead.
"""
