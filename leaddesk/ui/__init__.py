"""The desktop interface (Qt). Importing this package does not import Qt: the command
line imports :mod:`leaddesk.ui.app` only when it has to open a window, so terminal
commands start without paying for PySide6."""
