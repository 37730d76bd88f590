"""The whole stack on loopback for tests and benchmarks: real processes, real Redis and SQL,
and local stand-ins for the platforms that cannot run here (WeChat's and Telegram's servers)."""
