"""Ops tools: validate, evaluate, spreadsheet, learn, ship, training, content check, seed, retention, launch."""
