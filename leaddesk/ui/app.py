"""Starting the desktop program: open the desk, show the window, then the first-start
questions (demo data on an empty desk, who is working, the starter scoring models) and
the background re-score for the time that passed (``MainWindow.start_up``).

Opening can fail for reasons the user can act on (a database written by a newer
LeadDesk, a folder given as the database, a failed upgrade with its backup named), so
those end in a readable message box and exit status 1, never a traceback.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from leaddesk import __version__
from leaddesk.services.desk import OpenedDesk, open_desk
from leaddesk.services.errors import ServiceError
from leaddesk.store.database import DatabaseUrlError, resolve_url
from leaddesk.store.migrate import DatabaseTooNewError, MigrationFailedError
from leaddesk.ui.clock import Clock, utc_now
from leaddesk.ui.main_window import MainWindow
from leaddesk.ui.qt import QApplication, QMessageBox, QTimer

ORGANIZATION = "LeadDesk"
APPLICATION = "LeadDesk"


def application(argv: Sequence[str] | None = None) -> QApplication:
    """The process's QApplication, named so QSettings finds LeadDesk's settings."""
    app = QApplication.instance()
    if not isinstance(app, QApplication):
        app = QApplication(list(argv) if argv is not None else sys.argv[:1])
    app.setOrganizationName(ORGANIZATION)
    app.setApplicationName(APPLICATION)
    app.setApplicationVersion(__version__)
    return app


def _open_or_explain(url: str | None, clock: Clock) -> OpenedDesk | None:
    title = "LeadDesk cannot open the database"
    try:
        return open_desk(resolve_url(url), clock())
    except DatabaseTooNewError as exc:
        text = (
            f"This database was written by a newer version of LeadDesk.\n\n{exc}\n\n"
            "Install the newer LeadDesk to open it; it was left untouched."
        )
    except MigrationFailedError as exc:
        text = f"Upgrading the database failed.\n\n{exc}"
    except DatabaseUrlError as exc:
        text = f"{exc}\n\nGive a database file or URL with --db or LEADDESK_DB."
    except ServiceError as exc:
        text = str(exc)
    except Exception as exc:
        # The driver's own errors (permissions, a locked or corrupt file) end up here;
        # the user still gets a sentence, not a traceback.
        text = f"{type(exc).__name__}: {exc}"
    QMessageBox.critical(None, title, text)
    return None


def run_gui(url: str | None, clock: Clock = utc_now, argv: Sequence[str] | None = None) -> int:
    """Run the desktop program on ``url`` (None: ``$LEADDESK_DB`` or the default file)
    until the window closes; returns the exit status."""
    app = application(argv)
    opened = _open_or_explain(url, clock)
    if opened is None:
        return 1
    try:
        window = MainWindow(opened.db, clock=clock)
        window.show()
        if opened.backup is not None:
            window.statusBar().showMessage(
                f"The database was upgraded; the old version is kept in {opened.backup}.",
                15000,
            )
        QTimer.singleShot(0, window.start_up)
        return int(app.exec())
    finally:
        opened.db.dispose()
