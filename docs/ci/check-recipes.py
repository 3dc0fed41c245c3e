#!/usr/bin/env python3
"""Check the CI recipes and the compose file of this repository (ctest docs_ci_recipes).

Every shell line of docs/ci/github-actions.yml and docs/ci/gitlab-ci.yml must be one of
the repository's scripts (docker/build.sh, docs/ci/ci-job.sh) or the apt-get line that
installs the package they make, so no step exists only as YAML: the suite runs those
scripts (it_test_ci_job, docker/test-rootfs.sh). The artifact upload must be on failure
and name the directory ci-job.sh writes. docker/compose.yml must parse, and its job must
reach the mock through the proxy and by service name. Not a YAML linter."""
import os
import sys

import yaml

root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
allowed = ("docker/build.sh /tmp/nrfprov-out",
           "apt-get install -y -qq --no-install-recommends /tmp/nrfprov-out/nrfprov-mock.deb curl",
           "docs/ci/ci-job.sh nrfprov-artifacts")
problems = []


def check_lines(where, lines):
    for line in lines:
        line = line.strip()
        if line and line not in allowed:
            problems.append(f"{where}: '{line}' is not one of the tested scripts")
    for want in allowed:
        if want not in [l.strip() for l in lines]:
            problems.append(f"{where}: missing step '{want}'")
    for script in ("docker/build.sh", "docs/ci/ci-job.sh"):
        if not os.access(os.path.join(root, script), os.X_OK):
            problems.append(f"{where}: {script} is not an executable file")


def load(rel):
    with open(os.path.join(root, rel)) as f:
        return yaml.safe_load(f)


gh = load("docs/ci/github-actions.yml")
steps = gh["jobs"]["provision"]["steps"]
lines = [l for s in steps if "run" in s for l in s["run"].splitlines()]
check_lines("github-actions.yml", lines)
uploads = [s for s in steps if str(s.get("uses", "")).startswith("actions/upload-artifact")]
if not uploads or uploads[0].get("if") != "failure()" or uploads[0]["with"]["path"].rstrip("/") != "nrfprov-artifacts":
    problems.append("github-actions.yml: the journal upload must run on failure() from nrfprov-artifacts/")
if gh["jobs"]["provision"].get("container") != "debian:12":
    problems.append("github-actions.yml: the job must run in debian:12")

gl = load("docs/ci/gitlab-ci.yml")["nrfprov-mock-job"]
check_lines("gitlab-ci.yml", gl["script"])
if gl.get("image") != "debian:12" or gl["artifacts"].get("when") != "on_failure" or \
        [p.rstrip("/") for p in gl["artifacts"]["paths"]] != ["nrfprov-artifacts"]:
    problems.append("gitlab-ci.yml: debian:12, artifacts on_failure from nrfprov-artifacts/")

compose = load("docker/compose.yml")["services"]
job = compose["job"]
if job["environment"].get("HTTPS_PROXY") != "http://mock:8888" or "http://mock:8080" not in "\n".join(job["command"]):
    problems.append("compose.yml: the job must use the proxy (HTTPS_PROXY) and the service name")
if job["depends_on"]["mock"]["condition"] != "service_healthy":
    problems.append("compose.yml: the job must wait for the mock's health check")

for p in problems:
    print(p, file=sys.stderr)
sys.exit(1 if problems else 0)
