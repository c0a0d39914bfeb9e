"""pytest plugin for gradcheck (being written)."""
