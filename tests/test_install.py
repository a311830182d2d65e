# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""The addon is installed, its models are loaded and every one of them has access rules."""

import ast

from odoo.modules.module import get_module_path
from odoo.tests import TransactionCase, tagged

MODULE = "office365_calendar_sync"


@tagged("post_install", "-at_install")
class TestInstall(TransactionCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.own_models = sorted(
            name
            for name, model_cls in cls.env.registry.items()
            if getattr(model_cls, "_original_module", None) == MODULE
        )

    def _manifest(self):
        path = get_module_path(MODULE)
        with open(f"{path}/__manifest__.py", encoding="utf-8") as handle:
            return ast.literal_eval(handle.read())

    def test_module_is_installed_at_manifest_version(self):
        module = self.env["ir.module.module"].search([("name", "=", MODULE)])
        self.assertEqual(len(module), 1)
        self.assertEqual(module.state, "installed")
        self.assertEqual(module.latest_version, self._manifest()["version"])
        missing = [
            name
            for name in self._manifest()["depends"]
            if self.env["ir.module.module"].search([("name", "=", name)]).state != "installed"
        ]
        self.assertFalse(missing, f"dependencies not installed: {missing}")

    def test_module_defines_models_known_to_ir_model(self):
        self.assertTrue(self.own_models, f"{MODULE} defines no model")
        known = set(self.env["ir.model"].search([("model", "in", self.own_models)]).mapped("model"))
        self.assertEqual(known, set(self.own_models))
        # And the other way round: every ir.model xml id of the module names a loaded model.
        xmlids = self.env["ir.model.data"].search(
            [("module", "=", MODULE), ("model", "=", "ir.model")]
        )
        for model in self.env["ir.model"].browse(xmlids.mapped("res_id")):
            self.assertIn(model.model, self.env.registry, f"{model.model} is not loaded")

    def test_every_concrete_model_has_access_rules(self):
        concrete = [name for name in self.own_models if not self.env[name]._abstract]
        self.assertTrue(concrete, f"{MODULE} defines no concrete model")
        without = []
        for name in concrete:
            rows = self.env["ir.model.access"].search([("model_id.model", "=", name)])
            if not rows.filtered("perm_read"):
                without.append(name)
        self.assertFalse(without, f"models without a read access rule: {without}")

    def test_registry_loads_each_model_and_its_table(self):
        for name in self.own_models:
            model = self.env[name]
            with self.subTest(model=name):
                fields = model.fields_get(attributes=["type"])
                if model._abstract or not model._auto:
                    continue
                self.assertIn("id", fields)
                self.assertTrue(model._table)
                self.env.cr.execute("SELECT to_regclass(%s)", [model._table])
                self.assertIsNotNone(self.env.cr.fetchone()[0], f"no table {model._table}")
                model.search([], limit=1)

    def test_waiting_links_have_their_partial_index(self):
        """The sync job's claim asks, per connected account, whether links wait to be pushed:
        a partial index on exactly that condition (created by ``init``, so on upgrade too)."""
        self.env.cr.execute(
            "SELECT indexdef FROM pg_indexes WHERE tablename = 'office365_link' AND indexname = %s",
            ["office365_link_waiting_user_id_index"],
        )
        row = self.env.cr.fetchone()
        self.assertTrue(row, "no partial index of the waiting links")
        self.assertIn("(user_id)", row[0])
        self.assertIn("WHERE", row[0])
        for state in ("'pending'", "'to_delete'"):
            self.assertIn(state, row[0])

    def test_every_record_of_the_module_exists(self):
        dangling = []
        for data in self.env["ir.model.data"].search([("module", "=", MODULE)]):
            if data.model not in self.env.registry:
                dangling.append(f"{data.complete_name} ({data.model} not loaded)")
            elif not self.env[data.model].browse(data.res_id).exists():
                dangling.append(f"{data.complete_name} -> {data.model}({data.res_id})")
        self.assertFalse(dangling, f"xml ids pointing nowhere: {dangling}")
