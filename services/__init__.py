"""Pure-Python services of the calendar sync (no Odoo imports here)."""
