"""directmail: the chassis example service."""
