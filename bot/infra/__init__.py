"""Infrastructure: settings, the SQL database, Redis, production checks. No framework here."""
