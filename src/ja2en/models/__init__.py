"""Model names → loaded models: resolving a preset, Hub id or folder (load.py), Hub downloads
(hub.py), the presets and their licenses (presets.py), and the local `models/` store with
pinned downloads and CT2 conversions (store.py)."""
