"""Provider wire formats, one module each. ``adapter_for`` picks one by provider name and path."""
