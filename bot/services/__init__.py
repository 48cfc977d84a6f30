"""Use cases behind the commands: generation, presets, server settings. No Discord here."""
