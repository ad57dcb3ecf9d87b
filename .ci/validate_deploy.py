"""Offline validation of fluxq's deployment files; run by .ci/validate-deploy.

Checks, each printed as one line (ok / FAIL / skip):
- Dockerfile: hadolint; the shell scripts: shellcheck.
- docker-compose.yml: the Compose Specification's JSON Schema (check-jsonschema's
  vendored copy), `docker compose config -q` when a Compose plugin is installed, and
  what a schema cannot see (depends_on targets and their health checks, volumes, the
  worker's stop grace period against FLUXQ_SHUTDOWN_GRACE).
- k8s/: every manifest file (in the kustomization or not: the Secret template, the
  components) against the Kubernetes OpenAPI schemas shipped by kubernetes-validate,
  strict (unknown fields fail); custom resources (KEDA, Prometheus Operator) against
  the strict schemas in k8s/schemas/. kustomization.yaml's references are checked,
  and when kubectl or kustomize is on PATH the kustomization is rendered (alone and
  with both components) and every rendered object is validated again. Then the
  operational rules of issue 6 (grace periods, probes, security context, resources,
  placeholder-only Secret template, KEDA queue names).
- examples/demo.jsonl and k8s/catalog/*.jsonl: every line against contract.md.

Exit status 1 when anything failed.
"""

from __future__ import annotations

import json
import os
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile
import uuid

import jsonschema
import kubernetes_validate
import yaml

ROOT = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else ".").resolve()
K8S = ROOT / "k8s"
K8S_VERSION = os.environ.get("FLUXQ_K8S_VERSION", "1.30")
BIN = pathlib.Path(sys.executable).parent

# Custom resources: (apiVersion, kind) -> schema file under k8s/schemas/.
CRD_SCHEMAS = {
    ("keda.sh/v1alpha1", "ScaledObject"): "keda.sh_v1alpha1_scaledobject.json",
    ("keda.sh/v1alpha1", "TriggerAuthentication"): "keda.sh_v1alpha1_triggerauthentication.json",
    ("monitoring.coreos.com/v1", "ServiceMonitor"): "monitoring.coreos.com_v1_servicemonitor.json",
}

passed = 0
failed = 0


def rel(path: pathlib.Path) -> str:
    try:
        return str(path.relative_to(ROOT))
    except ValueError:
        return str(path)


def ok(what: str, how: str) -> None:
    global passed
    passed += 1
    print(f"ok    {what}: {how}")


def fail(what: str, why: str) -> None:
    global failed
    failed += 1
    print(f"FAIL  {what}: {why}")


def skip(what: str, why: str) -> None:
    print(f"skip  {what}: {why}")


def run(cmd: list[str], cwd: pathlib.Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)


def first_lines(text: str, n: int = 8) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    more = f" (+{len(lines) - n} more lines)" if len(lines) > n else ""
    return " | ".join(lines[:n]) + more


# --- Dockerfile and shell scripts -------------------------------------------------


def check_dockerfile() -> None:
    path = ROOT / "Dockerfile"
    p = run([str(BIN / "hadolint"), "--no-color", str(path)])
    if p.returncode == 0:
        ok("Dockerfile", "hadolint (syntax and best practices)")
    else:
        fail("Dockerfile", "hadolint: " + first_lines(p.stdout + p.stderr))
    text = path.read_text()
    for needle, rule in [
        ("COPY examples/demo.jsonl /usr/share/fluxq/demo.jsonl", "ships the demo batch"),
        ("USER 10001", "runs as uid 10001"),
        ('CMD ["worker"]', "defaults to the worker"),
        ("ca-certificates", "installs CA certificates"),
    ]:
        if needle not in text:
            fail("Dockerfile", f"expected {needle!r} ({rule})")


def check_shell_scripts() -> None:
    for name in [".ci/validate-deploy", "docker/http-check"]:
        path = ROOT / name
        p = run([str(BIN / "shellcheck"), str(path)])
        if p.returncode == 0:
            ok(name, "shellcheck")
        else:
            fail(name, "shellcheck: " + first_lines(p.stdout + p.stderr))


# --- docker-compose.yml ---------------------------------------------------------


def seconds(value) -> float:
    """A Compose duration ("40s", "1m30s", 40) in seconds."""
    if isinstance(value, (int, float)):
        return float(value)
    total, units = 0.0, {"h": 3600, "m": 60, "s": 1, "ms": 0.001, "us": 1e-6}
    for number, unit in re.findall(r"(\d+(?:\.\d+)?)(h|ms|us|m|s)", str(value)):
        total += float(number) * units[unit]
    return total


def expand_default(value: str) -> str:
    """${VAR:-default} -> default, as Compose does when VAR is unset."""
    return re.sub(r"\$\{[A-Za-z_][A-Za-z0-9_]*:?-([^}]*)\}", r"\1", str(value))


def check_compose() -> None:
    path = ROOT / "docker-compose.yml"
    name = rel(path)
    p = run([str(BIN / "check-jsonschema"), "--builtin-schema", "vendor.compose-spec", str(path)])
    if p.returncode == 0:
        ok(name, "Compose Specification JSON Schema (check-jsonschema vendor.compose-spec)")
    else:
        fail(name, "compose-spec schema: " + first_lines(p.stdout + p.stderr))

    docker = shutil.which("docker")
    if docker and run([docker, "compose", "version"]).returncode == 0:
        p = run([docker, "compose", "-f", str(path), "config", "-q"])
        if p.returncode == 0:
            ok(name, "docker compose config -q")
        else:
            fail(name, "docker compose config: " + first_lines(p.stderr))
    else:
        skip(name, "docker compose config (no Compose plugin for the docker client here)")

    doc = yaml.safe_load(path.read_text())
    services = doc.get("services", {})
    volumes = set((doc.get("volumes") or {}).keys())
    problems = []
    for svc_name, svc in services.items():
        deps = svc.get("depends_on", {})
        deps = {d: {} for d in deps} if isinstance(deps, list) else deps
        for dep, cond in deps.items():
            if dep not in services:
                problems.append(f"{svc_name} depends on unknown service {dep}")
            elif (cond or {}).get("condition") == "service_healthy" and "healthcheck" not in services[dep]:
                problems.append(f"{svc_name} waits for {dep} to be healthy, but {dep} has no healthcheck")
        for mount in svc.get("volumes", []):
            source = mount.split(":")[0] if isinstance(mount, str) else mount.get("source")
            if source and not source.startswith((".", "/", "~")) and source not in volumes:
                problems.append(f"{svc_name} mounts undeclared volume {source}")
    for svc_name in ["rabbitmq", "redis", "mock-provider", "worker", "producer"]:
        if svc_name not in services:
            problems.append(f"service {svc_name} is missing")
    worker = services.get("worker", {})
    env = worker.get("environment", {})
    grace = float(expand_default(env.get("FLUXQ_SHUTDOWN_GRACE", "25")))
    stop = seconds(worker.get("stop_grace_period", "10s"))
    if stop <= grace:
        problems.append(f"worker stop_grace_period {stop:g}s must exceed FLUXQ_SHUTDOWN_GRACE {grace:g}s")
    if "/usr/share/fluxq/demo.jsonl" not in " ".join(map(str, services.get("producer", {}).get("command", []))):
        problems.append("producer does not submit /usr/share/fluxq/demo.jsonl")
    if problems:
        for problem in problems:
            fail(name, problem)
    else:
        ok(name, "services, depends_on health checks, volumes, stop_grace_period > FLUXQ_SHUTDOWN_GRACE")


# --- Kubernetes -------------------------------------------------------------------


def load_docs(path: pathlib.Path) -> list[dict]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def validate_object(obj: dict) -> str:
    """Validates one object; returns how, raises ValueError when it is invalid."""
    key = (obj.get("apiVersion"), obj.get("kind"))
    if key in CRD_SCHEMAS:
        schema_path = K8S / "schemas" / CRD_SCHEMAS[key]
        schema = json.loads(schema_path.read_text())
        errors = sorted(jsonschema.Draft202012Validator(schema).iter_errors(obj), key=lambda e: list(e.path))
        if errors:
            e = errors[0]
            where = ".".join(map(str, e.path)) or "(root)"
            raise ValueError(f"{where}: {e.message}" + (f" (+{len(errors) - 1} more)" if len(errors) > 1 else ""))
        return f"CRD schema {rel(schema_path)}, strict"
    try:
        version = kubernetes_validate.validate(obj, K8S_VERSION, strict=True)
    except kubernetes_validate.ValidationError as e:
        where = ".".join(map(str, e.path)) or "(root)"
        raise ValueError(f"{where}: {e.message}") from None
    except kubernetes_validate.SchemaNotFoundError as e:
        raise ValueError(f"no schema: {e.message}") from None
    return f"Kubernetes {version} schema, strict"


def check_manifest_files() -> list[pathlib.Path]:
    """Validates every manifest file under k8s/; returns the files."""
    files = sorted(
        p
        for p in K8S.rglob("*.yaml")
        if p.name != "kustomization.yaml" and "schemas" not in p.relative_to(K8S).parts
    )
    for path in files:
        try:
            docs = load_docs(path)
        except yaml.YAMLError as e:
            fail(rel(path), f"not YAML: {e}")
            continue
        if not docs:
            fail(rel(path), "no object in the file")
        for obj in docs:
            label = f"{rel(path)} {obj.get('kind')}/{(obj.get('metadata') or {}).get('name')}"
            try:
                ok(label, validate_object(obj))
            except ValueError as e:
                fail(label, str(e))
    return files


def check_kustomization(directory: pathlib.Path) -> None:
    path = directory / "kustomization.yaml"
    label = rel(path)
    try:
        k = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as e:
        fail(label, str(e))
        return
    problems = []
    for res in k.get("resources", []) + k.get("components", []):
        if not (directory / res).exists():
            problems.append(f"{res} does not exist")
    for gen in k.get("configMapGenerator", []) + k.get("secretGenerator", []):
        for entry in gen.get("files", []):
            if not (directory / entry.split("=")[-1]).is_file():
                problems.append(f"{entry} does not exist")
    for res in k.get("resources", []):
        if "secret" in res and "example" in res:
            problems.append(f"{res} is a template and must not be applied")
    if problems:
        for problem in problems:
            fail(label, problem)
    else:
        ok(label, f"{k.get('kind')}: every file it lists exists")


def renderer() -> list[str] | None:
    if shutil.which("kustomize"):
        return ["kustomize", "build"]
    if shutil.which("kubectl") and run(["kubectl", "kustomize", "--help"]).returncode == 0:
        return ["kubectl", "kustomize"]
    return None


def render(cmd: list[str], label: str, directory: pathlib.Path) -> list[dict] | None:
    p = run(cmd + [str(directory)])
    if p.returncode != 0:
        fail(label, f"{' '.join(cmd)}: " + first_lines(p.stderr))
        return None
    objs = [d for d in yaml.safe_load_all(p.stdout) if d]
    ok(label, f"{' '.join(cmd)} rendered {len(objs)} objects")
    for obj in objs:
        what = f"{label} -> {obj.get('kind')}/{obj['metadata'].get('name')}"
        try:
            ok(what, validate_object(obj))
        except ValueError as e:
            fail(what, str(e))
    return objs


def check_rendered() -> list[dict] | None:
    """Renders k8s/ (and k8s/ with both components); returns the default render."""
    cmd = renderer()
    if cmd is None:
        skip("k8s/ (rendered)", "neither kustomize nor kubectl on PATH: only the files were validated")
        return None
    default = render(cmd, "k8s/ (kustomize)", K8S)
    # An overlay outside k8s/ (kustomize forbids one inside its base) with both
    # components: the HPA alternative and the ServiceMonitor.
    with tempfile.TemporaryDirectory(prefix="fluxq-overlay-") as tmp:
        base = os.path.relpath(K8S, tmp)
        pathlib.Path(tmp, "kustomization.yaml").write_text(
            "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
            f"resources:\n  - {base}\n"
            f"components:\n  - {base}/components/hpa\n  - {base}/components/servicemonitor\n"
        )
        objs = render(cmd, "k8s/ + components/hpa + components/servicemonitor", pathlib.Path(tmp))
    if objs is not None:
        kinds = {o["kind"] for o in objs}
        if {"ScaledObject", "TriggerAuthentication"} & kinds or not {"HorizontalPodAutoscaler", "ServiceMonitor"} <= kinds:
            fail("components/hpa", f"expected HPA + ServiceMonitor and no KEDA objects, got {sorted(kinds)}")
        else:
            ok("components/hpa", "replaces the KEDA objects by a HorizontalPodAutoscaler")
    return default


def pod_specs(objs: list[dict]):
    for o in objs:
        if o["kind"] == "Deployment":
            yield o, o["spec"]["template"]["spec"]
        elif o["kind"] == "CronJob":
            yield o, o["spec"]["jobTemplate"]["spec"]["template"]["spec"]


def check_rules(objs: list[dict], source: str) -> None:
    """The operational rules of issue 6 on the default kustomization's objects."""
    label = f"k8s rules ({source})"
    problems = []
    by_kind: dict[str, list[dict]] = {}
    for o in objs:
        by_kind.setdefault(o["kind"], []).append(o)
    for kind in ["Namespace", "ConfigMap", "Deployment", "Service", "PodDisruptionBudget", "ScaledObject", "CronJob"]:
        if kind not in by_kind:
            problems.append(f"no {kind}")
    config = {}
    for cm in by_kind.get("ConfigMap", []):
        if cm["metadata"]["name"].startswith("fluxq-config"):
            config = cm.get("data", {})
    grace = int(config.get("FLUXQ_SHUTDOWN_GRACE", "25"))
    ns = config.get("FLUXQ_NAMESPACE", "fluxq")
    for o, spec in pod_specs(objs):
        name = f"{o['kind']}/{o['metadata']['name']}"
        psc = spec.get("securityContext", {})
        for c in spec["containers"]:
            sc = c.get("securityContext", {})
            if not (sc.get("runAsNonRoot") or psc.get("runAsNonRoot")):
                problems.append(f"{name}: {c['name']} may run as root")
            if not sc.get("readOnlyRootFilesystem"):
                problems.append(f"{name}: {c['name']} root filesystem is writable")
            if sc.get("allowPrivilegeEscalation") is not False:
                problems.append(f"{name}: {c['name']} allows privilege escalation")
            if "ALL" not in sc.get("capabilities", {}).get("drop", []):
                problems.append(f"{name}: {c['name']} does not drop ALL capabilities")
            res = c.get("resources", {})
            for part in ["requests", "limits"]:
                if not {"cpu", "memory"} <= set(res.get(part, {})):
                    problems.append(f"{name}: {c['name']} lacks cpu/memory {part}")
    for d in by_kind.get("Deployment", []):
        spec = d["spec"]["template"]["spec"]
        tgps = spec.get("terminationGracePeriodSeconds", 30)
        if tgps <= grace:
            problems.append(f"Deployment: terminationGracePeriodSeconds {tgps} must exceed FLUXQ_SHUTDOWN_GRACE {grace}")
        c = spec["containers"][0]
        ports = {p.get("name"): p["containerPort"] for p in c.get("ports", [])}
        for probe, want in [("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")]:
            get = c.get(probe, {}).get("httpGet", {})
            port = ports.get(get.get("port"), get.get("port"))
            if get.get("path") != want or port != 9090:
                problems.append(f"Deployment: {probe} must GET {want} on 9090 (got {get.get('path')} on {port})")
        mounts = {m["mountPath"] for m in c.get("volumeMounts", [])}
        if config.get("FLUXQ_OUTPUT_DIR", "/data/output") not in mounts:
            problems.append("Deployment: nothing mounted at FLUXQ_OUTPUT_DIR")
    for so in by_kind.get("ScaledObject", []):
        queues = [t.get("metadata", {}).get("queueName") for t in so["spec"]["triggers"]]
        if f"{ns}.jobs.bulk" not in queues:
            problems.append(f"ScaledObject: no trigger on {ns}.jobs.bulk (got {queues})")
        for q in queues:
            if not str(q).startswith(f"{ns}.jobs."):
                problems.append(f"ScaledObject: queue {q} is not one of namespace {ns}'s lane queues")
    for cj in by_kind.get("CronJob", []):
        cmd = " ".join(cj["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0].get("args", []))
        if "producer submit" not in cmd or "--batch" not in cmd:
            problems.append("CronJob: does not run producer submit --batch")
    if problems:
        for problem in problems:
            fail(label, problem)
    else:
        ok(label, "grace periods, probes, securityContext, resources, KEDA queues, CronJob command")


def check_secret_template() -> None:
    path = K8S / "secret.example.yaml"
    label = rel(path)
    problems = []
    for obj in load_docs(path):
        values = {**obj.get("stringData", {}), **obj.get("data", {})}
        for key, value in values.items():
            if "CHANGE_ME" not in str(value):
                problems.append(f"{key} is not a CHANGE_ME placeholder")
        for key in ["FLUXQ_AMQP_URL", "FLUXQ_REDIS_URL", "BFL_API_KEY", "RUNWARE_API_KEY", "RUNFLOW_API_KEY"]:
            if key not in values:
                problems.append(f"{key} missing")
    if problems:
        for problem in problems:
            fail(label, problem)
    else:
        ok(label, "placeholders only (CHANGE_ME), every key present")


# --- Job files (contract.md) --------------------------------------------------------

JOB_FIELDS = {
    "id", "batch", "provider", "model", "prompt", "width", "height", "size", "seed",
    "steps", "guidance", "prompt_upsampling", "reference_images", "output_format",
    "safety_tolerance", "metadata",
}
SIZES = {"square_hd", "square", "portrait_4_3", "portrait_16_9", "landscape_4_3", "landscape_16_9"}


def job_problems(job) -> list[str]:
    if not isinstance(job, dict):
        return ["not a JSON object"]
    p = [f"unknown field {k}" for k in sorted(set(job) - JOB_FIELDS)]
    if job.get("model") not in {"flux-2-pro", "flux-2-flex", "flux-2-max"}:
        p.append(f"model {job.get('model')!r}")
    prompt = job.get("prompt")
    if not isinstance(prompt, str) or not 1 <= len(prompt) <= 32000:
        p.append("prompt must be 1-32000 characters")
    if "id" in job:
        try:
            uuid.UUID(str(job["id"]))
        except ValueError:
            p.append("id is not a UUID")
    provider = job.get("provider", "bfl")
    if provider not in {"bfl", "runware", "runflow"}:
        p.append(f"provider {provider!r}")
    if "size" in job and ("width" in job or "height" in job):
        p.append("size and width/height together")
    if "size" in job and job["size"] not in SIZES:
        p.append(f"size {job['size']!r}")
    if ("width" in job) != ("height" in job):
        p.append("width and height go together")
    lo, hi = (256, 2048) if provider == "runware" else (64, 2048)
    for side in ["width", "height"]:
        v = job.get(side)
        if v is not None and (not isinstance(v, int) or v % 16 or not lo <= v <= hi):
            p.append(f"{side} {v} must be a multiple of 16 in {lo}..{hi}")
    if isinstance(job.get("width"), int) and isinstance(job.get("height"), int):
        if job["width"] * job["height"] > 4 * 2**20:
            p.append("more than 4 megapixels")
    flex = job.get("model") == "flux-2-flex"
    s_lo = 2 if provider == "runflow" else 1
    if "steps" in job and (not flex or not isinstance(job["steps"], int) or not s_lo <= job["steps"] <= 50):
        p.append(f"steps: flex only, {s_lo}-50")
    g_lo, g_hi = (1.0, 20.0) if provider == "runware" else (1.5, 10.0)
    if "guidance" in job and (not flex or not isinstance(job["guidance"], (int, float)) or not g_lo <= job["guidance"] <= g_hi):
        p.append(f"guidance: flex only, {g_lo}-{g_hi}")
    if job.get("output_format", "jpeg") not in {"jpeg", "png", "webp"}:
        p.append(f"output_format {job.get('output_format')!r}")
    if "metadata" in job and not isinstance(job["metadata"], dict):
        p.append("metadata must be an object")
    return p


def check_job_files() -> None:
    files = [ROOT / "examples" / "demo.jsonl", *sorted((K8S / "catalog").glob("*.jsonl"))]
    for path in files:
        label = rel(path)
        if not path.is_file():
            fail(label, "missing")
            continue
        problems, count = [], 0
        for n, line in enumerate(path.read_text().splitlines(), 1):
            if not line.strip():
                continue
            count += 1
            try:
                job = json.loads(line)
            except json.JSONDecodeError as e:
                problems.append(f"line {n}: not JSON ({e})")
                continue
            problems += [f"line {n}: {x}" for x in job_problems(job)]
        if count == 0:
            problems.append("no job")
        if problems:
            for problem in problems:
                fail(label, problem)
        else:
            ok(label, f"{count} jobs valid per contract.md")


def main() -> int:
    print(f"validate-deploy: {ROOT} (Kubernetes {K8S_VERSION}, kubernetes-validate {kubernetes_validate.__version__})")
    check_dockerfile()
    check_shell_scripts()
    check_compose()
    check_kustomization(K8S)
    for component in sorted((K8S / "components").glob("*/kustomization.yaml")):
        check_kustomization(component.parent)
    files = check_manifest_files()
    check_secret_template()
    rendered = check_rendered()
    if rendered is None:
        # No renderer: apply the rules to the files the kustomization lists.
        k = yaml.safe_load((K8S / "kustomization.yaml").read_text())
        listed = [K8S / r for r in k.get("resources", []) if (K8S / r).is_file()]
        objs = [o for f in files if f in listed for o in load_docs(f)]
        check_rules(objs, "kustomization's files")
    else:
        check_rules(rendered, "rendered")
    check_job_files()
    print(f"validate-deploy: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
