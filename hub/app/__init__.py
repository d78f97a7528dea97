"""Process wiring: settings, database, models, migrations, the unit of work carried by a write
transaction, errors, security (tokens stored only as their hash), text made safe for HTML,
time formatting, the time axis of the charts, templates."""
