"""test_manifests.py — manifests/ and manifests/cert-manager/ rendered with `kubectl kustomize`.

Checks what kube-apiserver, the aggregator and the HPA depend on (spec §11-§16): the objects and
their namespaces, RBAC rules and bindings exactly, the APIService (no insecureSkipTLSVerify),
the Service port name, probes, the security context, the PodDisruptionBudget, that every
Deployment argument is a flag the binary accepts (its --help, and its parser), the rules
ConfigMap against rules/default.yaml, the cert-manager overlay, and that the example HPAs use
metric names and label keys of the default rules with a target type that fits the metric.

kubectl comes from PATH (hack/install-deps.sh installs Debian's kubernetes-client when there is
none; this test installs nothing). TA_KUBECTLS may name more kubectl binaries (os.pathsep-
separated), e.g. Debian's 1.20 one with kustomize v2.0.3: each must render the same objects.
"""
import copy
import json
import os
import re
import shutil
import subprocess
import unittest

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MANIFESTS = os.path.join(ROOT, "manifests")
CERT_MANAGER = os.path.join(MANIFESTS, "cert-manager")
EXAMPLES = os.path.join(MANIFESTS, "examples")
BIN_DIR = os.environ.get("TA_BIN", os.path.join(ROOT, "bin"))
NS = "tempo-adapter"
APP = {"app.kubernetes.io/name": "tempo-adapter"}
NAMES4 = ["tempo-adapter.tempo-adapter.svc", "tempo-adapter.tempo-adapter", "tempo-adapter",
          "tempo-adapter.tempo-adapter.svc.cluster.local"]
MANAGED_FLAGS = ["--manage-serving-cert", "--serving-cert-secret=tempo-adapter-serving-cert",
                 "--service-name=tempo-adapter", "--service-namespace=$(POD_NAMESPACE)",
                 "--apiservice-name=v1beta1.external.metrics.k8s.io"]
CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding", "APIService"}
HASHED = re.compile(r"^(tempo-adapter-(?:rules|tempo))-[a-z0-9]{10}$")

_cache = {}


def kubectls():
    """kubectl from PATH first, then TA_KUBECTLS; [] when there is none."""
    out = []
    k = shutil.which("kubectl")
    if k:
        out.append(k)
    for extra in filter(None, os.environ.get("TA_KUBECTLS", "").split(os.pathsep)):
        out.append(extra)
    return out


def render(path=MANIFESTS, kubectl=None):
    """The objects `kubectl kustomize path` gives, as a list of dicts (a fresh copy of a cached
    render: callers may change it)."""
    kubectl = kubectl or (kubectls() or [None])[0]
    if not kubectl:
        raise unittest.SkipTest("no kubectl on PATH: run hack/install-deps.sh")
    key = (path, kubectl)
    if key not in _cache:
        r = subprocess.run([kubectl, "kustomize", path], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=60)
        if r.returncode != 0:
            raise AssertionError("%s kustomize %s failed:\n%s" % (kubectl, path,
                                                                  r.stderr.decode()))
        _cache[key] = [d for d in yaml.safe_load_all(r.stdout) if d is not None]
    return copy.deepcopy(_cache[key])


def find(objs, kind, name=None, namespace=None):
    """The one object of kind (and name: exact, or the generated ConfigMap's base name)."""
    hits = [o for o in objs if o["kind"] == kind and
            (name is None or o["metadata"]["name"] == name or
             HASHED.sub(r"\1", o["metadata"]["name"]) == name) and
            (namespace is None or o["metadata"].get("namespace") == namespace)]
    if len(hits) != 1:
        raise AssertionError("%d objects %s/%s in the render" % (len(hits), kind, name))
    return hits[0]


def container(objs):
    return find(objs, "Deployment", "tempo-adapter")["spec"]["template"]["spec"]["containers"][0]


def binary():
    path = os.path.join(BIN_DIR, "tempo-adapter")
    if not os.access(path, os.X_OK):
        raise unittest.SkipTest("%s not built: run make" % path)
    return path


def help_flags():
    out = subprocess.run([binary(), "--help"], stdout=subprocess.PIPE, check=True,
                         timeout=10).stdout.decode()
    return set(re.findall(r"^\s+--([a-z0-9-]+)", out, re.M))


def expand(arg, env):
    """$(VAR) as the kubelet expands it (an undefined variable stays as written)."""
    return re.sub(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)",
                  lambda m: env.get(m.group(1), m.group(0)), arg)


def container_env(objs):
    """The container's environment as the kubelet builds it from the rendered objects."""
    c = container(objs)
    dep = find(objs, "Deployment", "tempo-adapter")
    env = {}
    for e in c.get("env", []):
        vf = e.get("valueFrom")
        if "value" in e:
            env[e["name"]] = e["value"]
        elif vf and "fieldRef" in vf:
            assert vf["fieldRef"]["fieldPath"] == "metadata.namespace", vf
            env[e["name"]] = dep["metadata"]["namespace"]
        elif vf and "configMapKeyRef" in vf:
            ref = vf["configMapKeyRef"]
            cm = [o for o in objs if o["kind"] == "ConfigMap" and
                  o["metadata"]["name"] == ref["name"]]
            assert len(cm) == 1, "env %s: ConfigMap %s is not in the render" % (e["name"],
                                                                                 ref["name"])
            env[e["name"]] = cm[0]["data"][ref["key"]]
        else:
            raise AssertionError("unexpected env entry %r" % e)
    return env


def normalized(objs):
    """Objects with the generated ConfigMaps' hash suffixes removed (they differ by version)."""
    text = re.sub(r'(tempo-adapter-(?:rules|tempo))-[a-z0-9]{10}"', r'\1"',
                  json.dumps(objs, sort_keys=True))
    return sorted(json.dumps(o, sort_keys=True) for o in json.loads(text))


def read(path, mode="r"):
    with open(path, mode) as f:
        return f.read()


class KustomizeRenders(unittest.TestCase):
    def test_every_kubectl_renders_the_same_objects(self):
        ks = kubectls()
        if not ks:
            self.skipTest("no kubectl on PATH: run hack/install-deps.sh")
        for path in (MANIFESTS, CERT_MANAGER):
            first = normalized(render(path, ks[0]))
            for k in ks[1:]:
                self.assertEqual(normalized(render(path, k)), first, "%s differs with %s"
                                 % (path, k))
            self.assertNotIn("{}", [yaml.safe_dump(o).strip() for o in render(path, ks[0])])

    def test_kustomizations_avoid_fields_newer_than_kustomize_2_0_3(self):
        for d in (MANIFESTS, os.path.join(MANIFESTS, "base"), CERT_MANAGER):
            k = yaml.safe_load(read(os.path.join(d, "kustomization.yaml")))
            for field in ("patches", "replacements", "components", "labels", "helmCharts",
                          "sortOptions", "openapi"):
                self.assertNotIn(field, k, "%s uses %s" % (d, field))


class DefaultInstall(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.objs = render(MANIFESTS)

    def test_objects_kinds_names_and_namespaces(self):
        got = sorted((o["kind"], o["metadata"].get("namespace", ""),
                      HASHED.sub(r"\1", o["metadata"]["name"])) for o in self.objs)
        want = sorted([
            ("Namespace", "", NS),
            ("ServiceAccount", NS, "tempo-adapter"),
            ("ClusterRoleBinding", "", "tempo-adapter:system:auth-delegator"),
            ("RoleBinding", "kube-system", "tempo-adapter-auth-reader"),
            ("ClusterRole", "", "tempo-adapter-external-metrics-reader"),
            ("ClusterRoleBinding", "", "tempo-adapter-hpa-external-metrics"),
            ("Role", NS, "tempo-adapter-serving-cert"),
            ("RoleBinding", NS, "tempo-adapter-serving-cert"),
            ("ClusterRole", "", "tempo-adapter-apiservice-ca"),
            ("ClusterRoleBinding", "", "tempo-adapter-apiservice-ca"),
            ("Secret", NS, "tempo-adapter-serving-cert"),
            ("ConfigMap", NS, "tempo-adapter-rules"),
            ("ConfigMap", NS, "tempo-adapter-tempo"),
            ("Deployment", NS, "tempo-adapter"),
            ("PodDisruptionBudget", NS, "tempo-adapter"),
            ("Service", NS, "tempo-adapter"),
            ("Service", NS, "tempo-adapter-otlp"),
            ("APIService", "", "v1beta1.external.metrics.k8s.io"),
        ])
        self.assertEqual(got, want)
        for o in self.objs:
            self.assertEqual(o["kind"] in CLUSTER_SCOPED, "namespace" not in o["metadata"], o)
            self.assertEqual(o["metadata"].get("labels", {}).get("app.kubernetes.io/name"),
                             "tempo-adapter", o["metadata"])

    def assertBinding(self, kind, name, role_kind, role, subjects, namespace=None):
        b = find(self.objs, kind, name, namespace)
        self.assertEqual(b["roleRef"], {"apiGroup": "rbac.authorization.k8s.io",
                                        "kind": role_kind, "name": role})
        self.assertEqual(b["subjects"], [{"kind": "ServiceAccount", "name": n, "namespace": ns}
                                         for ns, n in subjects])

    def test_delegated_auth_bindings(self):
        self.assertBinding("ClusterRoleBinding", "tempo-adapter:system:auth-delegator",
                           "ClusterRole", "system:auth-delegator", [(NS, "tempo-adapter")])
        self.assertBinding("RoleBinding", "tempo-adapter-auth-reader", "Role",
                           "extension-apiserver-authentication-reader", [(NS, "tempo-adapter")],
                           namespace="kube-system")

    def test_hpa_controller_may_read_external_metrics(self):
        role = find(self.objs, "ClusterRole", "tempo-adapter-external-metrics-reader")
        self.assertEqual(role["rules"], [{"apiGroups": ["external.metrics.k8s.io"],
                                          "resources": ["*"], "verbs": ["get", "list"]}])
        self.assertBinding("ClusterRoleBinding", "tempo-adapter-hpa-external-metrics",
                           "ClusterRole", "tempo-adapter-external-metrics-reader",
                           [("kube-system", "horizontal-pod-autoscaler")])

    def test_serving_cert_rbac_is_narrowed_to_one_secret_and_one_apiservice(self):
        role = find(self.objs, "Role", "tempo-adapter-serving-cert", NS)
        self.assertEqual(role["rules"], [{"apiGroups": [""], "resources": ["secrets"],
                                          "resourceNames": ["tempo-adapter-serving-cert"],
                                          "verbs": ["get", "update", "patch"]}])
        self.assertBinding("RoleBinding", "tempo-adapter-serving-cert", "Role",
                           "tempo-adapter-serving-cert", [(NS, "tempo-adapter")], namespace=NS)
        cr = find(self.objs, "ClusterRole", "tempo-adapter-apiservice-ca")
        self.assertEqual(cr["rules"], [{"apiGroups": ["apiregistration.k8s.io"],
                                        "resources": ["apiservices"],
                                        "resourceNames": ["v1beta1.external.metrics.k8s.io"],
                                        "verbs": ["get", "update", "patch"]}])
        self.assertBinding("ClusterRoleBinding", "tempo-adapter-apiservice-ca", "ClusterRole",
                           "tempo-adapter-apiservice-ca", [(NS, "tempo-adapter")])
        # no rule anywhere lets the adapter create or list Secrets
        for o in self.objs:
            for r in o.get("rules") or []:
                if "secrets" in r.get("resources", []):
                    self.assertNotIn("create", r["verbs"])
                    self.assertNotIn("list", r["verbs"])
                    self.assertTrue(r.get("resourceNames"))

    def test_the_managed_secret_ships_empty(self):
        s = find(self.objs, "Secret", "tempo-adapter-serving-cert", NS)
        self.assertEqual(s.get("type"), "Opaque")
        self.assertNotIn("data", s)
        self.assertNotIn("stringData", s)
        args = container(self.objs)["args"]
        for flag in MANAGED_FLAGS:
            self.assertIn(flag, args)

    def test_apiservice(self):
        a = find(self.objs, "APIService", "v1beta1.external.metrics.k8s.io")
        self.assertEqual(a["apiVersion"], "apiregistration.k8s.io/v1")
        self.assertEqual(a["spec"], {
            "group": "external.metrics.k8s.io", "version": "v1beta1",
            "service": {"name": "tempo-adapter", "namespace": NS, "port": 443},
            "groupPriorityMinimum": 100, "versionPriority": 100})
        self.assertNotIn("insecureSkipTLSVerify", a["spec"])
        self.assertNotIn("caBundle", a["spec"])

    def test_service_port_is_named_and_reaches_the_container(self):
        svc = find(self.objs, "Service", "tempo-adapter", NS)
        self.assertEqual(svc["spec"]["ports"], [{"name": "https", "port": 443,
                                                 "targetPort": 6443, "protocol": "TCP"}])
        self.assertEqual(svc["spec"]["selector"], APP)
        dep = find(self.objs, "Deployment", "tempo-adapter", NS)
        self.assertEqual(dep["spec"]["template"]["metadata"]["labels"], APP)
        self.assertIn({"name": "https", "containerPort": 6443, "protocol": "TCP"},
                      container(self.objs)["ports"])
        self.assertIn("--secure-port=6443", container(self.objs)["args"])
        otlp = find(self.objs, "Service", "tempo-adapter-otlp", NS)
        self.assertEqual(otlp["spec"]["ports"], [{"name": "otlp-http", "port": 4318,
                                                  "targetPort": 4318, "protocol": "TCP"}])
        self.assertIn("--otlp-bind-address=0.0.0.0:4318", container(self.objs)["args"])

    def test_deployment_replicas_spread_and_disruption_budget(self):
        dep = find(self.objs, "Deployment", "tempo-adapter", NS)
        self.assertEqual(dep["spec"]["replicas"], 2)
        self.assertEqual(dep["spec"]["selector"], {"matchLabels": APP})
        anti = dep["spec"]["template"]["spec"]["affinity"]["podAntiAffinity"]
        terms = anti["preferredDuringSchedulingIgnoredDuringExecution"]
        self.assertEqual(terms[0]["podAffinityTerm"], {
            "topologyKey": "kubernetes.io/hostname", "labelSelector": {"matchLabels": APP}})
        self.assertEqual(dep["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"], 0)
        pdb = find(self.objs, "PodDisruptionBudget", "tempo-adapter", NS)
        self.assertEqual(pdb["apiVersion"], "policy/v1")
        self.assertEqual(pdb["spec"], {"minAvailable": 1, "selector": {"matchLabels": APP}})
        self.assertEqual(dep["spec"]["template"]["spec"]["serviceAccountName"], "tempo-adapter")

    def test_probes_are_https_on_6443(self):
        c = container(self.objs)
        for probe, path in (("livenessProbe", "/livez"), ("readinessProbe", "/readyz"),
                            ("startupProbe", "/livez")):
            self.assertEqual(c[probe]["httpGet"], {"path": path, "port": 6443,
                                                   "scheme": "HTTPS"}, probe)

    def test_security_context(self):
        spec = find(self.objs, "Deployment", "tempo-adapter")["spec"]["template"]["spec"]
        pod = spec["securityContext"]
        self.assertTrue(pod["runAsNonRoot"])
        self.assertEqual(pod["runAsUser"], 65532)
        self.assertEqual(pod["seccompProfile"], {"type": "RuntimeDefault"})
        sc = container(self.objs)["securityContext"]
        self.assertEqual(sc["runAsUser"], 65532)
        self.assertTrue(sc["runAsNonRoot"])
        self.assertTrue(sc["readOnlyRootFilesystem"])
        self.assertIs(sc["allowPrivilegeEscalation"], False)
        self.assertEqual(sc["capabilities"], {"drop": ["ALL"]})
        self.assertEqual(sc["seccompProfile"], {"type": "RuntimeDefault"})

    def test_cert_dir_is_a_writable_empty_dir(self):
        c = container(self.objs)
        spec = find(self.objs, "Deployment", "tempo-adapter")["spec"]["template"]["spec"]
        cert_dir = [a.split("=", 1)[1] for a in c["args"] if a.startswith("--cert-dir=")]
        self.assertEqual(len(cert_dir), 1)
        mount = [m for m in c["volumeMounts"] if m["mountPath"] == cert_dir[0]]
        self.assertEqual(len(mount), 1)
        self.assertFalse(mount[0].get("readOnly", False))
        vol = [v for v in spec["volumes"] if v["name"] == mount[0]["name"]]
        self.assertIn("emptyDir", vol[0])

    def test_resources_are_set(self):
        r = container(self.objs)["resources"]
        for k in ("cpu", "memory"):
            self.assertIn(k, r["requests"])
        self.assertIn("memory", r["limits"])
        self.assertEqual(r["requests"]["memory"], "128Mi")
        self.assertEqual(r["limits"]["memory"], "256Mi")
        self.assertIn("--embedded-max-spans=1000000", container(self.objs)["args"])

    def test_rules_configmap_is_the_default_rules(self):
        default = read(os.path.join(ROOT, "rules", "default.yaml"), "rb")
        self.assertEqual(read(os.path.join(MANIFESTS, "rules.yaml"), "rb"), default)
        self.assertEqual(read(os.path.join(MANIFESTS, "base", "rules.yaml"), "rb"), default)
        cm = find(self.objs, "ConfigMap", "tempo-adapter-rules", NS)
        self.assertEqual(cm["data"]["rules.yaml"].encode(), default)
        c = container(self.objs)
        spec = find(self.objs, "Deployment", "tempo-adapter")["spec"]["template"]["spec"]
        self.assertIn("--config=/etc/tempo-adapter/rules.yaml", c["args"])
        mount = [m for m in c["volumeMounts"] if m["mountPath"] == "/etc/tempo-adapter"][0]
        vol = [v for v in spec["volumes"] if v["name"] == mount["name"]][0]
        self.assertEqual(vol["configMap"]["name"], cm["metadata"]["name"])

    def test_tempo_settings_come_from_one_configmap_and_default_to_embedded(self):
        cm = find(self.objs, "ConfigMap", "tempo-adapter-tempo", NS)
        self.assertEqual(cm["data"], {"TEMPO_URL": "", "TEMPO_TENANT": "",
                                      "TEMPO_BEARER_TOKEN_FILE": "", "TEMPO_BASIC_AUTH_FILE": ""})
        env = container_env(self.objs)
        args = [expand(a, env) for a in container(self.objs)["args"]]
        self.assertIn("--tempo-url=", args)  # empty: the embedded store
        self.assertIn("--tempo-tenant=", args)
        self.assertIn("--service-namespace=tempo-adapter", args)
        for a in args:
            self.assertNotIn("$(", a, "undefined variable in %s" % a)
        spec = find(self.objs, "Deployment", "tempo-adapter")["spec"]["template"]["spec"]
        auth = [v for v in spec["volumes"] if v["name"] == "tempo-auth"][0]
        self.assertEqual(auth["secret"], {"secretName": "tempo-adapter-tempo-auth",
                                          "optional": True, "defaultMode": 0o440})

    def test_deployment_args_are_flags_the_binary_accepts(self):
        known = help_flags()
        args = container(self.objs)["args"]
        for a in args:
            self.assertTrue(a.startswith("--"), a)
            self.assertIn(a[2:].split("=", 1)[0], known, a)
        # and its parser takes them all, values included (--help exits 0 only after parsing)
        env = container_env(self.objs)
        r = subprocess.run([binary()] + [expand(a, env) for a in args] + ["--help"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=10)
        self.assertEqual(r.returncode, 0, r.stderr.decode())

    def test_image(self):
        c = container(self.objs)
        self.assertEqual(c["image"], "tempo-adapter:0.1.0")
        self.assertEqual(c["imagePullPolicy"], "IfNotPresent")


class CertManagerOverlay(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.objs = render(CERT_MANAGER)

    def test_objects(self):
        kinds = sorted((o["kind"], HASHED.sub(r"\1", o["metadata"]["name"])) for o in self.objs)
        base = sorted((o["kind"], HASHED.sub(r"\1", o["metadata"]["name"]))
                      for o in render(MANIFESTS))
        managed = {("Role", "tempo-adapter-serving-cert"), ("RoleBinding",
                                                            "tempo-adapter-serving-cert"),
                   ("ClusterRole", "tempo-adapter-apiservice-ca"),
                   ("ClusterRoleBinding", "tempo-adapter-apiservice-ca"),
                   ("Secret", "tempo-adapter-serving-cert")}
        added = [("Certificate", "tempo-adapter-ca"), ("Certificate", "tempo-adapter-serving"),
                 ("Issuer", "tempo-adapter-ca"), ("Issuer", "tempo-adapter-selfsigned")]
        self.assertEqual(kinds, sorted([k for k in base if k not in managed] + added))
        for o in self.objs:
            if o["kind"] in ("Issuer", "Certificate"):
                self.assertEqual(o["apiVersion"], "cert-manager.io/v1")
                self.assertEqual(o["metadata"]["namespace"], NS)

    def test_no_access_to_secrets_or_apiservices(self):
        for o in self.objs:
            for r in o.get("rules") or []:
                self.assertNotIn("secrets", r.get("resources", []), o["metadata"]["name"])
                self.assertNotIn("apiservices", r.get("resources", []), o["metadata"]["name"])

    def test_certificate_chain_and_names(self):
        serving = find(self.objs, "Certificate", "tempo-adapter-serving", NS)["spec"]
        self.assertEqual(serving["dnsNames"], NAMES4)
        self.assertEqual(serving["secretName"], "tempo-adapter-tls")
        self.assertIn("server auth", serving["usages"])
        ca_issuer = find(self.objs, "Issuer", serving["issuerRef"]["name"], NS)["spec"]
        self.assertEqual(serving["issuerRef"]["kind"], "Issuer")
        ca = find(self.objs, "Certificate", "tempo-adapter-ca", NS)["spec"]
        self.assertTrue(ca["isCA"])
        self.assertEqual(ca_issuer["ca"]["secretName"], ca["secretName"])
        self.assertEqual(find(self.objs, "Issuer", ca["issuerRef"]["name"], NS)["spec"],
                         {"selfSigned": {}})

    def test_apiservice_gets_the_ca_from_cert_manager(self):
        a = find(self.objs, "APIService", "v1beta1.external.metrics.k8s.io")
        self.assertEqual(a["metadata"]["annotations"],
                         {"cert-manager.io/inject-ca-from": "tempo-adapter/tempo-adapter-serving"})
        self.assertNotIn("insecureSkipTLSVerify", a["spec"])
        self.assertNotIn("caBundle", a["spec"])
        self.assertEqual(a["spec"]["service"], {"name": "tempo-adapter", "namespace": NS,
                                                "port": 443})

    def test_deployment_reads_the_cert_manager_files(self):
        c = container(self.objs)
        args = c["args"]
        for flag in MANAGED_FLAGS:
            self.assertNotIn(flag, args)
        files = dict(a[2:].split("=", 1) for a in args
                     if a.startswith("--tls-cert-file=") or a.startswith("--tls-private-key-file="))
        self.assertEqual(set(files), {"tls-cert-file", "tls-private-key-file"})
        mount = [m for m in c["volumeMounts"]
                 if files["tls-cert-file"].startswith(m["mountPath"] + "/")]
        self.assertEqual(len(mount), 1)
        self.assertEqual(os.path.dirname(files["tls-private-key-file"]), mount[0]["mountPath"])
        spec = find(self.objs, "Deployment", "tempo-adapter")["spec"]["template"]["spec"]
        vol = [v for v in spec["volumes"] if v["name"] == mount[0]["name"]][0]
        self.assertEqual(vol["secret"]["secretName"], "tempo-adapter-tls")
        # everything else is the base's
        base = container(render(MANIFESTS))
        self.assertEqual([a for a in base["args"] if a not in MANAGED_FLAGS],
                         [a for a in args if not a[2:].split("=")[0] in files])
        for key in ("livenessProbe", "readinessProbe", "securityContext", "resources", "env"):
            self.assertEqual(c[key], base[key], key)

    def test_deployment_args_are_flags_the_binary_accepts(self):
        env = container_env(self.objs)
        args = [expand(a, env) for a in container(self.objs)["args"]]
        known = help_flags()
        for a in args:
            self.assertIn(a[2:].split("=", 1)[0], known, a)


class ExampleHPAs(unittest.TestCase):
    VALUE_METRICS = {"quantile", "error_ratio", "slow_ratio", "io_share", "mean"}

    @classmethod
    def setUpClass(cls):
        rules = yaml.safe_load(read(os.path.join(ROOT, "rules", "default.yaml")))
        cls.metrics = {r["name"]: r["metric"] for r in rules["externalRules"]}
        cls.labels = set((rules.get("labels") or {}).keys())
        cls.files = sorted(f for f in os.listdir(EXAMPLES) if f.endswith(".yaml"))

    def test_there_are_the_four_examples(self):
        self.assertEqual(len(self.files), 4, self.files)
        used = set()
        for f in self.files:
            for m in yaml.safe_load(read(os.path.join(EXAMPLES, f)))["spec"]["metrics"]:
                used.add(m["external"]["metric"]["name"])
        self.assertEqual(used, {"http_server_request_duration_p95_seconds",
                                "http_server_io_wait_share", "http_server_requests_per_second",
                                "http_server_slow_request_ratio"})

    def test_every_metric_and_label_exists_and_the_target_type_fits(self):
        for f in self.files:
            text = read(os.path.join(EXAMPLES, f))
            self.assertTrue(text.startswith("# "), "%s: starts with its explanation" % f)
            hpa = yaml.safe_load(text)
            self.assertEqual((hpa["apiVersion"], hpa["kind"]),
                             ("autoscaling/v2", "HorizontalPodAutoscaler"), f)
            for m in hpa["spec"]["metrics"]:
                self.assertEqual(m["type"], "External", f)
                name = m["external"]["metric"]["name"]
                self.assertIn(name, self.metrics, "%s: %s is not in rules/default.yaml" % (f, name))
                for key, value in m["external"]["metric"]["selector"]["matchLabels"].items():
                    self.assertIn(key, self.labels, f)
                    self.assertNotIn("/", value, f)
                target = m["external"]["target"]
                kind = self.metrics[name]
                if kind in self.VALUE_METRICS:
                    self.assertEqual(target["type"], "Value", f)
                    self.assertIn("value", target)
                else:
                    self.assertEqual(target["type"], "AverageValue", f)
                    self.assertIn("averageValue", target)

    def test_the_latency_example_has_a_behavior_block(self):
        hpa = yaml.safe_load(read(os.path.join(EXAMPLES, "hpa-checkout-p95-latency.yaml")))
        self.assertIn("scaleUp", hpa["spec"]["behavior"])
        self.assertIn("scaleDown", hpa["spec"]["behavior"])


class ImageDefinition(unittest.TestCase):
    def test_dockerfile_runtime_stage(self):
        text = read(os.path.join(ROOT, "Dockerfile"))
        stages = re.split(r"^FROM ", text, flags=re.M)[1:]
        self.assertEqual(len(stages), 2)
        self.assertTrue(all(s.startswith("debian:bookworm-slim") for s in stages))
        final = stages[1]
        for pkg in ("libmicrohttpd12", "libcurl4", "libjansson4", "libssl3", "libyaml-0-2",
                    "libgnutls30", "zlib1g", "ca-certificates"):
            self.assertRegex(final, r"\b%s\b" % re.escape(pkg))
        self.assertNotIn("-dev", final)
        self.assertIn("USER 65532:65532", final)
        self.assertIn('ENTRYPOINT ["/tempo-adapter"]', final)
        self.assertIn("/tempo-adapter\n", final.split("COPY --from=build", 1)[1])


if __name__ == "__main__":
    unittest.main()
