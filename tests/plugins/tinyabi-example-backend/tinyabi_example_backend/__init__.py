"""tinyabi's example backend plugin (see ``plugin.py``)."""
