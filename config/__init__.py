"""Settings for the engagement scheduler (see ``config.settings``)."""

from config import settings
from config.settings import Settings, SettingsError, load_settings

__all__ = ["Settings", "SettingsError", "load_settings", "settings"]
