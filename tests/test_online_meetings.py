# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Odoo meetings marked as Teams meetings: sent online, their join link comes back."""
