"""The kind provider: kind clusters rendered from the profiles (needs kind and a container engine)."""
