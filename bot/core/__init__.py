"""The domain core: tickets, handoff, crisis screening, the approved-reply check, privacy, catalogue,
topics and the city profile. No framework is imported here."""
