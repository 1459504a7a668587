"""test_reload.py — the rules file is re-read on change and on SIGHUP; a bad file is refused whole.

A ConfigMap update replaces the mounted file; the adapter must pick the new rules up without a
restart, and must keep serving the old rules (and say why in its log) when the new file has any
error.
"""
import os
import signal

from tests.integration import harness

GV = "/apis/external.metrics.k8s.io/v1beta1"
RULES_A = """
externalRules:
  - name: first_metric
    spans: '{ kind = server }'
    metric: rate
    onEmpty: zero
"""
RULES_B = RULES_A + """
  - name: second_metric
    spans: '{ kind = client }'
    metric: rate
    onEmpty: zero
"""
BROKEN = RULES_B + """
  - name: third_metric
    spans: '{ kind = server && }'
    metric: rate
"""


def names(adapter):
    return [r["name"] for r in adapter.get(GV).json()["resources"]]


def replace(path, text):
    """Replace the file the way a ConfigMap volume does: write elsewhere, rename over."""
    tmp = path + ".new"
    with open(tmp, "w") as f:
        f.write(text)
    os.rename(tmp, path)


class ReloadTest(harness.AdapterTest):
    def test_change_sighup_and_rejected_file(self):
        a = self.adapter(rules=RULES_A)
        path = os.path.join(a.tmp, "rules.yaml")
        self.assertEqual(names(a), ["first_metric"])

        replace(path, RULES_B)  # picked up by the 5 s poll
        a.wait_until(lambda: names(a) == ["first_metric", "second_metric"], 20 * harness.SLOW,
                     "the changed rules file was not reloaded")
        self.assertEqual(a.get(GV + "/namespaces/shop/second_metric").status, 200)

        replace(path, BROKEN)
        a.proc.send_signal(signal.SIGHUP)
        a.wait_until(lambda: "rules reload (SIGHUP) rejected" in a.logs(), 10 * harness.SLOW,
                     "the broken file was not reported")
        self.assertRegex(a.logs(), r"rules\.yaml:\d+:\d+: ")
        self.assertEqual(names(a), ["first_metric", "second_metric"], "old rules keep serving")
        self.assertEqual(a.get("/readyz").status, 200)
        m = a.get("/metrics").body.decode()
        errors = [l for l in m.splitlines() if l.startswith("tempo_adapter_rules_reload_errors_total ")]
        self.assertGreaterEqual(float(errors[0].split()[1]), 1)  # the 5 s poll may see it first

        replace(path, RULES_A)
        a.proc.send_signal(signal.SIGHUP)
        a.wait_until(lambda: names(a) == ["first_metric"], 10 * harness.SLOW,
                     "SIGHUP did not reload")
        st = self.assertStatus(a.get(GV + "/namespaces/shop/second_metric"), 404, "NotFound")
        self.assertIn("second_metric", st["message"])
