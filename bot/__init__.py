"""The core of the 12345 front door: no platform inside, imports nothing above it."""
