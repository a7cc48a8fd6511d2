"""Model names → loaded models: resolving a preset, Hub id or folder (load.py), the presets
and their licenses (presets.py), and the local `models/` store with pinned downloads (store.py)."""
