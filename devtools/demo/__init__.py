"""The first-run experience: a synthetic portfolio streamed through the real worker."""
