"""Infrastructure: settings, the SQL database, Redis, production checks, forwarding. No framework here."""
