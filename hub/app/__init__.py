"""Process wiring: settings, database, models, migrations, errors, time formatting, templates."""
