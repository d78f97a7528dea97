"""The status page: each catalogue service's state, open major incidents, maintenance, history.

`board` composes what the page shows from plain rows (pure: it takes `now`); `read` loads
those rows and the change counter from the database; `render` turns them into HTML and Atom
with its own small Jinja environment (no MkDocs build), cached per change counter; `static`
writes a copy for any web server; `maintenance` schedules and cancels maintenance windows.
"""
