"""The domain core: tickets, handoff, crisis screening, the approved-reply check, privacy, catalogue,
topics, the city profile and forwarding tickets to the city's own system. No framework is imported here."""
