#!/usr/bin/python3
"""The portal pages (docs/portal.md) in a real browser: headless Chromium driven by
Selenium against the real nrfprov-mock started on port 0, with nrfprov-sim playing the
devices. Every control is found by the accessible name docs/portal.md gives it (label,
aria-label or button text), every outcome is also checked through the REST API, and any
browser console error fails the test unless the step provoked that very API error.

Not a unit test of the scripts: it walks the portal guide. Screenshots of each page go
to $NRFPROV_TEST_ARTIFACTS (the build dir's browser-artifacts/). Exits 77 (ctest: skipped)
when chromium, chromedriver or python3-selenium is missing."""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.error
import urllib.request

try:
    from selenium import webdriver
    from selenium.common.exceptions import StaleElementReferenceException, TimeoutException
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import Select, WebDriverWait
except ImportError:
    print("test_portal: python3-selenium is not installed; skipped", file=sys.stderr)
    sys.exit(77)

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
MOCK = os.environ.get("NRFPROV_TEST_MOCK_BIN", os.path.join(ROOT, "build", "nrfprov-mock"))
SIM = os.environ.get("NRFPROV_TEST_SIM_BIN", os.path.join(ROOT, "build", "nrfprov-sim"))
FIXTURES = os.environ.get("NRFPROV_TEST_FIXTURES", os.path.join(ROOT, "fixtures"))
ARTIFACTS = os.environ.get("NRFPROV_TEST_ARTIFACTS", os.path.join(ROOT, "build", "browser-artifacts"))
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
WAIT = 20  # seconds: the bound of every wait for the page (it refreshes every 1.5-2 s)
CHOICES = {"All": "all", "AWS": "aws", "CoAP": "coap", "None": "none"}


def q(text):
    """An XPath string literal for text (which may hold quotes)."""
    if "'" not in text:
        return f"'{text}'"
    return "concat('" + text.replace("'", "', \"'\", '") + "')"


class Mock:
    """One nrfprov-mock on free ports, in memory, read from its ready file."""

    def __init__(self, *extra):
        self.dir = tempfile.mkdtemp(prefix="nrfprov-portal-")
        ready = os.path.join(self.dir, "ready.json")
        self.log = open(os.path.join(self.dir, "mock.log"), "w")
        self.proc = subprocess.Popen(
            [MOCK, "--in-memory", "--http-port", "0", "--https-port", "0", "--coap-port", "-1",
             "--coaps-port", "-1", "--ready-file", ready, *extra],
            stdout=subprocess.DEVNULL, stderr=self.log)
        deadline = time.monotonic() + 15
        while not os.path.exists(ready):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"nrfprov-mock did not start (see {self.log.name})")
            time.sleep(0.02)
        with open(ready) as f:
            r = json.load(f)
        self.base = f"http://127.0.0.1:{r['http']['port']}"
        self.https_port = r["https"]["port"]

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def call(self, method, path, body=None, key=None, headers=None, raw=False):
        """(status, parsed JSON or text, headers) of one REST call."""
        hdrs = dict(headers or {})
        data = None
        if body is not None:
            data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
            hdrs.setdefault("Content-Type", "application/json")
        if key:
            hdrs["Authorization"] = f"Bearer {key}"
        req = urllib.request.Request(self.base + path, data=data, method=method, headers=hdrs)
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                status, text, h = resp.status, resp.read().decode(), resp.headers
        except urllib.error.HTTPError as e:
            status, text, h = e.code, e.read().decode(), e.headers
        if not raw and text and (h.get("Content-Type") or "").startswith("application/json"):
            return status, json.loads(text), h
        return status, text, h


def sim(*args):
    out = subprocess.run([SIM, *args], capture_output=True, text=True, timeout=60)
    return out


class Portal(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        for binary in (CHROMIUM, CHROMEDRIVER):
            if not os.path.exists(binary):
                raise unittest.SkipTest(f"{binary} is not installed")
        os.makedirs(ARTIFACTS, exist_ok=True)
        cls.mock = Mock()
        opts = webdriver.ChromeOptions()
        opts.binary_location = CHROMIUM
        for a in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                  "--window-size=1360,1000", "--disable-extensions", "--no-first-run"):
            opts.add_argument(a)
        opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        cls.driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
        cls.driver.set_page_load_timeout(30)
        cls.devdir = tempfile.mkdtemp(prefix="nrfprov-portal-devs-")

    @classmethod
    def tearDownClass(cls):
        cls.driver.quit()
        cls.mock.stop()
        shutil.rmtree(cls.devdir, ignore_errors=True)

    def setUp(self):
        self.allowed = []  # console errors this test provokes on purpose (substrings)
        self.driver.get("about:blank")  # no dialog or poll of an earlier test goes on
        self.driver.get_log("browser")  # drop what earlier tests left

    def tearDown(self):
        errors = [e for e in self.driver.get_log("browser") if e["level"] == "SEVERE"]
        errors = [e for e in errors if not any(a in e["message"] for a in self.allowed)]
        self.assertEqual(errors, [], "browser console errors")

    # ---- finding controls by their accessible names (docs/portal.md) ----

    def wait(self, cond, what, timeout=WAIT):
        try:
            return WebDriverWait(self.driver, timeout, poll_frequency=0.1,
                                 ignored_exceptions=(StaleElementReferenceException,)).until(lambda d: cond())
        except TimeoutException:
            self.shot(f"timeout-{self.id().split('.')[-1]}")
            self.fail(f"timed out waiting for {what}")

    def scope(self, scope):
        return scope if scope is not None else self.driver

    def find(self, xpath, what, scope=None, file_ok=False):
        """The first displayed element matching xpath, waited for (the pages draw after fetching)."""
        s = self.scope(scope)
        return self.wait(lambda: next((e for e in s.find_elements(By.XPATH, xpath)
                                       if e.is_displayed() or (file_ok and e.get_attribute("type") == "file")), None), what)

    def control(self, name, scope=None):
        """The input, select or textarea named `name` by its <label> (and aria-label)."""
        x = (f".//*[self::input or self::select or self::textarea][@aria-label={q(name)} or "
             f"@id=//label[normalize-space()={q(name)}]/@for]")
        return self.find(x, f"a control named {name!r}", scope, file_ok=True)

    def button(self, name, scope=None):
        return self.find(f".//button[normalize-space()={q(name)}]", f"a button named {name!r}", scope)

    def link(self, name, scope=None):
        return self.find(f".//a[normalize-space()={q(name)}]", f"a link named {name!r}", scope)

    def dialog(self):
        return self.wait(lambda: next((d for d in self.driver.find_elements(By.CSS_SELECTOR, "[role=dialog]")
                                       if d.is_displayed()), None), "a dialog")

    def no_dialog(self):
        self.wait(lambda: not [d for d in self.driver.find_elements(By.CSS_SELECTOR, "[role=dialog]") if d.is_displayed()],
                  "the dialog to close")

    def alert_text(self, scope=None):
        s = self.scope(scope)
        el = self.wait(lambda: next((a for a in s.find_elements(By.CSS_SELECTOR, "[role=alert]") if a.is_displayed()), None),
                       "an alert")
        return el.text

    def type_into(self, name, text, scope=None):
        el = self.control(name, scope)
        el.clear()
        el.send_keys(text)
        return el

    def set_checked(self, name, on, scope=None):
        el = self.control(name, scope)
        if el.is_selected() != on:
            el.click()
        return el

    def row_of(self, text):
        """The table row holding a link or cell with text."""
        return self.wait(lambda: next(iter(self.driver.find_elements(
            By.XPATH, f"//tr[td[normalize-space()={q(text)}] or td/a[normalize-space()={q(text)}]]")), None),
            f"a row for {text}")

    def shot(self, name):
        self.driver.save_screenshot(os.path.join(ARTIFACTS, f"{name}.png"))

    def heading(self, text):
        self.wait(lambda: self.driver.find_elements(By.XPATH, f"//h1[normalize-space()={q(text)}]"), f"heading {text}")

    def open(self, hash_):
        url = f"{self.mock.base}/{hash_}"
        if self.driver.current_url == url:
            self.driver.refresh()  # the same URL again: load the page anew
        else:
            self.driver.get(url)

    def use_key(self, key):
        if not self.driver.current_url.startswith(self.mock.base):
            self.open("")
        self.type_into("API key", key)
        self.button("Use key").click()
        self.wait(lambda: self.driver.execute_script("return localStorage.getItem('nrfprov.apiKey')") == key, "the key kept")

    def nav(self, name):
        self.link(name, self.driver.find_element(By.TAG_NAME, "nav")).click()

    # ---- devices ----

    def new_device(self, name, key=None):
        d = os.path.join(self.devdir, name)
        out = sim("create", "--dir", d)
        self.assertEqual(out.returncode, 0, out.stderr)
        dev_id = out.stdout.strip()
        ident = sim("identity", "--dir", d).stdout.strip()
        st, body, _ = self.mock.call("POST", "/_mock/identities", ident)
        self.assertEqual(st, 201, body)
        token = sim("token", "--dir", d).stdout.strip()
        return d, dev_id, token

    def provision(self, d):
        out = sim("run", "--dir", d, "--url", self.mock.base)
        self.assertEqual(out.returncode, 0, f"nrfprov-sim run: {out.stdout}{out.stderr}")
        return out.stdout

    def rest(self, key, method, path, body=None):
        return self.mock.call(method, path, body, key=key)

    # ---- the guide, page by page ----

    def test_01_frame_and_key(self):
        """Before a key only the key form; Use key keeps it; the nav and hashes work."""
        self.open("")
        self.driver.execute_script("localStorage.clear()")
        self.open("#/claimed-devices")
        self.heading("Welcome")
        self.assertFalse(self.driver.find_element(By.TAG_NAME, "nav").is_displayed())
        self.shot("00-api-key")
        self.use_key("portal-frame")
        self.heading("Claimed Devices")
        for name, hash_, h1 in (("Provisioning Groups", "#/groups", "Provisioning Groups"), ("Rules", "#/rules", "Rules"),
                                ("Devices", "#/devices", "Devices"), ("QA", "#/qa", "QA"),
                                ("Claimed Devices", "#/claimed-devices", "Claimed Devices")):
            self.nav(name)
            self.heading(h1)
            self.assertTrue(self.driver.current_url.endswith(hash_), self.driver.current_url)
        # A bookmark reloads to its page, key kept.
        self.open("#/rules")
        self.heading("Rules")

    def test_02_claim_single_new_rule_each_certificate_choice(self):
        """Claim with a new auto-onboarding rule for All, AWS, CoAP and None; the simulator
        provisions; PROVISIONED, every command SUCCEEDED, the device under Devices."""
        key = "portal-claim"
        self.open("#/claimed-devices")
        self.use_key(key)
        for i, (choice, fname) in enumerate(CHOICES.items()):
            with open(os.path.join(FIXTURES, "rules", f"nrf-cloud-onboarding-{fname}.json")) as f:
                template = json.load(f)
            d, dev_id, token = self.new_device(f"single-{fname}")
            rule_name = f"Onboard {choice} {i}"
            group = f"Onboard-{choice}-{i}"
            self.open("#/claimed-devices")
            self.heading("Claimed Devices")
            self.button("Claim Device").click()
            dlg = self.dialog()
            self.control("Single", dlg).click()
            self.type_into("Claim token", token, dlg)
            self.set_checked("Create a new rule", True, dlg)
            self.type_into("Rule name", rule_name, dlg)
            self.button("Additional Configuration", dlg).click()
            self.assertEqual(self.control("Security tag", dlg).get_attribute("value"), "16842753")
            self.assertTrue(self.control("All", dlg).is_selected(), "All is the default")
            for fw in ("APP", "MODEM"):
                self.assertTrue(self.control(fw, dlg).is_selected(), f"{fw} checked at first")
            for fw in ("BOOT", "SOFTDEVICE", "BOOTLOADER"):
                self.assertFalse(self.control(fw, dlg).is_selected(), f"{fw} unchecked at first")
            self.control(choice, dlg).click()
            self.type_into("Device management group", f"dm-{fname}", dlg)
            self.set_checked("BOOT", True, dlg)
            self.type_into("Device subtype", f"board-{fname}", dlg)
            if i == 0:
                self.shot("01-claim-dialog-single")
            self.button("Claim Device", dlg).click()
            self.no_dialog()

            # The rule: ACTIVE, its own group, the template's commands with our settings.
            st, rules, _ = self.rest(key, "GET", "/v1/provisioning-rules?pageLimit=100")
            rule = next(r for r in rules["items"] if r["name"] == rule_name)
            self.assertEqual(rule["status"], "ACTIVE")
            self.assertEqual(rule["tags"], [group])
            want = json.loads(json.dumps(template["commands"]))
            for c in want:
                (t, p), = c["request"].items()
                if t == "cloudAccessKeyGeneration":
                    p.update(deviceManagementGroup=f"dm-{fname}", firmwareTypes=["APP", "MODEM", "BOOT"], subType=f"board-{fname}")
            self.assertEqual([c["request"] for c in rule["commands"]], [c["request"] for c in want])
            st, dev, _ = self.rest(key, "GET", f"/v1/claimed-devices/{dev_id}")
            self.assertEqual(st, 200, dev)
            self.assertEqual(dev["tags"], [group])

            # The list shows it; the simulator provisions it; the row turns PROVISIONED.
            row = self.row_of(dev_id)
            self.provision(d)
            self.wait(lambda: "PROVISIONED" in self.row_of(dev_id).text, f"{dev_id} PROVISIONED in the list")
            if i == 0:
                self.shot("02-claimed-devices")
            self.link(dev_id, self.row_of(dev_id)).click()
            self.heading(dev_id)
            self.wait(lambda: self.driver.find_elements(By.XPATH, "//h2[normalize-space()='Provisioning Configuration']"),
                      "the Provisioning Configuration card")
            n = len(want)
            card = self.driver.find_element(By.XPATH, "//section[h2[normalize-space()='Provisioning Configuration']]")
            self.wait(lambda: len(card.find_elements(By.XPATH, ".//tbody/tr")) == n
                      and all("SUCCEEDED" in r.text for r in card.find_elements(By.XPATH, ".//tbody/tr")),
                      "every command SUCCEEDED")
            self.assertIn("csr:", card.text, "the CSR of the cloud access key is shown")
            self.assertFalse([b for b in card.find_elements(By.XPATH, ".//button[normalize-space()='Discard']") if b.is_displayed()],
                             "no Discard for a finished command")
            st, cmds, _ = self.rest(key, "GET", f"/v1/claimed-devices/{dev_id}/provisioning?pageLimit=100")
            self.assertEqual([c["status"] for c in cmds["items"]], ["SUCCEEDED"] * n)
            st, dev, _ = self.rest(key, "GET", f"/v1/claimed-devices/{dev_id}")
            self.assertEqual(dev["status"], "PROVISIONED")
            open_in = self.wait(lambda: next((a for a in self.driver.find_elements(By.XPATH, "//a[normalize-space()='Open in Devices']")
                                              if a.is_displayed()), None), "Open in Devices")
            if i == 0:
                self.shot("03-device-page")
            open_in.click()
            self.heading("Devices")
            row = self.row_of(dev_id)
            self.assertIn(f"board-{fname}", row.text)
            self.assertIn(f"dm-{fname}", row.text)
            href = self.link("Download certificate", row).get_attribute("href")
            st, onboarded, _ = self.rest(key, "GET", f"/v1/devices/{dev_id}")
            self.assertEqual(st, 200)
            self.assertEqual(onboarded["subType"], f"board-{fname}")
            self.assertEqual(onboarded["firmware"]["supports"], ["APP", "MODEM", "BOOT"])
            self.assertEqual(urllib.request.unquote(href.split(",", 1)[1]), onboarded["certificatePem"])
            if i == 0:
                self.shot("04-devices")

    def test_03_claim_with_existing_rule_and_errors(self):
        """An existing rule's name gives the device that rule's groups; a bad token is
        refused with the API's code and message in an alert, and nothing is created."""
        key = "portal-existing"
        self.open("#/claimed-devices")
        self.use_key(key)
        st, _, _ = self.rest(key, "POST", "/v1/provisioning-rules", {
            "name": "Existing", "active": True, "tags": ["lab-a", "lab-b"],
            "commands": [{"description": "csr", "request": {"certificateSigningRequest": {"secTag": 7, "attributes": ""}}}]})
        self.assertEqual(st, 201)
        d, dev_id, token = self.new_device("existing")
        self.button("Claim Device").click()
        dlg = self.dialog()
        self.type_into("Claim token", token, dlg)
        self.type_into("Provisioning rule", "Existing", dlg)
        self.button("Claim Device", dlg).click()
        self.no_dialog()
        st, dev, _ = self.rest(key, "GET", f"/v1/claimed-devices/{dev_id}")
        self.assertEqual(sorted(dev["tags"]), ["lab-a", "lab-b"])

        self.allowed = ["/v1/claimed-devices?dryrun=true"]  # the 400 below, logged by the browser
        self.button("Claim Device").click()
        dlg = self.dialog()
        self.type_into("Claim token", "not-a-token", dlg)
        self.set_checked("Create a new rule", True, dlg)
        self.type_into("Rule name", "Never made", dlg)
        self.button("Claim Device", dlg).click()
        text = self.alert_text(dlg)
        st, body, _ = self.mock.call("POST", "/v1/claimed-devices?dryrun=true", {"claimToken": "not-a-token"}, key=key)
        self.assertIn(str(body["code"]), text)
        self.assertIn(body["message"], text)
        self.shot("05-claim-error")
        self.button("Cancel", dlg).click()
        self.no_dialog()
        st, rules, _ = self.rest(key, "GET", "/v1/provisioning-rules")
        self.assertEqual([r["name"] for r in rules["items"]], ["Existing"], "a refused token creates no rule")

    def test_04_bulk_claim_csv(self):
        """Bulk: a CSV with one bad row, dry run first (nothing claimed), then for real."""
        key = "portal-bulk"
        self.open("#/claimed-devices")
        self.use_key(key)
        ids, rows = [], []
        for n in range(3):
            _, dev_id, token = self.new_device(f"bulk-{n}")
            ids.append(dev_id)
            rows.append(f'{token},"bulk-group"' if n == 1 else token)
        rows.insert(2, "this-is-not-a-token")
        csv_path = os.path.join(self.devdir, "claims.csv")
        with open(csv_path, "w") as f:
            f.write("\n".join(rows) + "\n")
        for dry in (True, False):
            self.button("Claim Device").click()
            dlg = self.dialog()
            self.control("Bulk", dlg).click()
            self.control("CSV file", dlg).send_keys(csv_path)
            self.set_checked("Dry run", dry, dlg)
            self.button("Claim Device", dlg).click()
            self.wait(lambda: "Failed rows (1)" in dlg.text, "the bulk result")
            failed = dlg.find_element(By.CSS_SELECTOR, "table.failed-rows tbody tr").text
            self.assertIn("3", failed.split()[0], "the bad row's number")
            self.assertIn("40002", failed)
            for dev_id in ids:
                self.assertIn(dev_id, dlg.text)
            st, lst, _ = self.rest(key, "GET", "/v1/claimed-devices")
            self.assertEqual(lst["total"], 0 if dry else 3, "a dry run claims nothing")
            self.shot("06-bulk-dry-run" if dry else "07-bulk-result")
            self.button("Cancel", dlg).click()
            self.no_dialog()
        for dev_id in ids:
            self.row_of(dev_id)
        st, dev, _ = self.rest(key, "GET", f"/v1/claimed-devices/{ids[1]}")
        self.assertEqual(dev["tags"], ["bulk-group"])
        # The Group filter narrows the table to that group.
        self.type_into("Group", "bulk-group")
        self.wait(lambda: len(self.driver.find_elements(By.XPATH, "//tbody/tr")) == 1, "one row in bulk-group")
        self.row_of(ids[1])
        self.control("Group").clear()
        Select(self.control("Status")).select_by_visible_text("READY")
        self.wait(lambda: len(self.driver.find_elements(By.XPATH, "//tbody/tr")) == 3, "three READY rows")
        Select(self.control("Status")).select_by_visible_text("PROVISIONED")
        self.wait(lambda: len(self.driver.find_elements(By.XPATH, "//tbody/tr")) == 0, "no PROVISIONED rows")

    def test_05_groups(self):
        """Create a group, see its counts, its page; Delete shows the API's 409 while in use."""
        key = "portal-groups"
        self.open("#/groups")
        self.use_key(key)
        _, dev_id, token = self.new_device("grouped")
        st, _, _ = self.rest(key, "POST", "/v1/claimed-devices", {"claimToken": token, "tags": ["busy"]})
        self.assertEqual(st, 201)
        self.heading("Provisioning Groups")
        self.type_into("Group name", "spare")
        self.button("Create group").click()
        row = self.row_of("spare")
        st, tag, _ = self.rest(key, "GET", "/v1/provisioning/tags/spare")
        self.assertEqual(st, 200)
        busy = self.row_of("busy")
        self.assertEqual([c.text for c in busy.find_elements(By.TAG_NAME, "td")][2:4], ["1", "0"])
        self.shot("08-groups")
        self.allowed = ["/v1/provisioning/tags/busy"]
        self.button("Delete", busy).click()
        self.assertIn("40906", self.alert_text())
        st, _, _ = self.rest(key, "GET", "/v1/provisioning/tags/busy")
        self.assertEqual(st, 200, "a group in use stays")
        self.button("Delete", self.row_of("spare")).click()
        self.wait(lambda: not self.driver.find_elements(By.XPATH, "//tr[td/a[normalize-space()='spare']]"), "spare gone")
        st, _, _ = self.rest(key, "GET", "/v1/provisioning/tags/spare")
        self.assertEqual(st, 404)
        self.link("busy").click()
        self.heading("Group busy")
        self.link(dev_id)
        # The device page edits the groups.
        self.link(dev_id).click()
        self.heading(dev_id)
        # The field shows the device's groups once the page has loaded them; typing
        # before that would race with the fill.
        self.wait(lambda: self.control("Provisioning groups").get_attribute("value") == "busy", "the groups shown")
        self.type_into("Provisioning groups", "busy, second")
        self.button("Save groups").click()
        self.wait(lambda: sorted(self.rest(key, "GET", f"/v1/claimed-devices/{dev_id}")[1]["tags"]) == ["busy", "second"],
                  "the groups saved")

    def onboarded_device(self, key, name):
        """A device claimed into an onboarding rule's group and provisioned, set up over REST."""
        with open(os.path.join(FIXTURES, "rules", "nrf-cloud-onboarding-none.json")) as f:
            rule = json.load(f)
        st, _, _ = self.rest(key, "POST", "/v1/provisioning-rules", rule)
        self.assertIn(st, (201, 409))
        d, dev_id, token = self.new_device(name)
        st, body, _ = self.rest(key, "POST", "/v1/claimed-devices", {"claimToken": token, "tags": rule["tags"]})
        self.assertEqual(st, 201, body)
        self.provision(d)
        return d, dev_id

    def test_06_block_unblock_unclaim(self):
        """Block (confirm OK), Unblock, Unclaim (Cancel, then OK) from the list; the rows
        refresh in place keeping the checkbox and the selection; an onboarded device stays
        under Devices after Unclaim. Then the same from a device's page."""
        key = "portal-block"
        self.open("#/claimed-devices")
        self.use_key(key)
        _, a = self.onboarded_device(key, "blk-a")
        _, b = self.onboarded_device(key, "blk-b")
        self.open("#/claimed-devices")
        box = self.control(f"Select {a}")
        box.click()
        self.assertTrue(box.is_selected())
        # A change made elsewhere shows up in the same row, the checkbox element kept and still selected.
        self.rest(key, "POST", f"/v1/claimed-devices/{b}/block")
        self.wait(lambda: "Blocked" in self.row_of(b).text, "b's row refreshed")
        self.assertTrue(box.is_selected(), "the refresh kept the same checkbox, selected")
        self.assertEqual(self.control(f"Select {a}"), box)
        self.rest(key, "POST", f"/v1/claimed-devices/{b}/unblock")

        self.button("Block").click()
        dlg = self.dialog()
        self.shot("09-confirm-block")
        self.button("OK", dlg).click()
        self.no_dialog()
        self.wait(lambda: self.rest(key, "GET", f"/v1/claimed-devices/{a}")[1]["blocked"] is True, "a blocked")
        self.wait(lambda: "Blocked" in self.row_of(a).text, "Blocked shown")
        self.assertFalse(self.control(f"Select {a}").is_selected(), "the selection is cleared")

        self.control(f"Select {a}").click()
        self.button("Unblock").click()
        self.wait(lambda: self.rest(key, "GET", f"/v1/claimed-devices/{a}")[1]["blocked"] is False, "a unblocked")
        self.assertFalse(self.control(f"Select {a}").is_selected())

        self.control(f"Select {a}").click()
        self.button("Unclaim").click()
        self.button("Cancel", self.dialog()).click()
        self.no_dialog()
        self.assertEqual(self.rest(key, "GET", f"/v1/claimed-devices/{a}")[0], 200, "Cancel unclaims nothing")
        self.button("Unclaim").click()
        self.button("OK", self.dialog()).click()
        self.no_dialog()
        self.wait(lambda: not self.driver.find_elements(By.XPATH, f"//tr[td/a[normalize-space()={q(a)}]]"), "a's row gone")
        self.assertEqual(self.rest(key, "GET", f"/v1/claimed-devices/{a}")[0], 404)
        self.assertEqual(self.rest(key, "GET", f"/v1/devices/{a}")[0], 200, "an onboarded device stays under Devices")
        self.nav("Devices")
        self.row_of(a)

        # The device page: Block (confirm), Unblock, Unclaim back to the list.
        self.open(f"#/claimed-devices/{b}")
        self.heading(b)
        self.button("Block").click()
        self.button("OK", self.dialog()).click()
        self.wait(lambda: self.rest(key, "GET", f"/v1/claimed-devices/{b}")[1]["blocked"] is True, "b blocked")
        self.wait(lambda: self.driver.find_elements(By.XPATH, "//button[normalize-space()='Unblock']"), "Unblock offered")
        self.button("Unblock").click()
        self.wait(lambda: self.rest(key, "GET", f"/v1/claimed-devices/{b}")[1]["blocked"] is False, "b unblocked")
        self.button("Unclaim").click()
        self.button("OK", self.dialog()).click()
        self.heading("Claimed Devices")
        self.assertTrue(self.driver.current_url.endswith("#/claimed-devices"))
        self.assertEqual(self.rest(key, "GET", f"/v1/claimed-devices/{b}")[0], 404)
        self.assertEqual(self.rest(key, "GET", f"/v1/devices/{b}")[0], 200)

        # Devices: Delete with confirmation.
        self.nav("Devices")
        self.button("Delete", self.row_of(b)).click()
        self.button("OK", self.dialog()).click()
        self.wait(lambda: self.rest(key, "GET", f"/v1/devices/{b}")[0] == 404, "b deleted from device management")

    def test_07_device_page_commands(self):
        """Add a command, discard a PENDING one; the API's error for bad parameters."""
        key = "portal-commands"
        self.open("#/claimed-devices")
        self.use_key(key)
        _, dev_id, token = self.new_device("cmds")
        self.assertEqual(self.rest(key, "POST", "/v1/claimed-devices", {"claimToken": token})[0], 201)
        self.open(f"#/claimed-devices/{dev_id}")
        self.heading(dev_id)
        self.assertFalse([a for a in self.driver.find_elements(By.XPATH, "//a[normalize-space()='Open in Devices']") if a.is_displayed()],
                         "no Open in Devices before the device is onboarded")
        Select(self.control("Command type")).select_by_visible_text("config")
        self.button("Add command").click()
        card = self.driver.find_element(By.XPATH, "//section[h2[normalize-space()='Provisioning Configuration']]")
        self.wait(lambda: "PENDING" in card.text, "the queued command")
        st, cmds, _ = self.rest(key, "GET", f"/v1/claimed-devices/{dev_id}/provisioning")
        self.assertEqual([list(c["request"]) for c in cmds["items"]], [["config"]])
        self.allowed = [f"/v1/claimed-devices/{dev_id}/provisioning"]
        self.type_into("Parameters (JSON)", '{"properties": {}}')
        self.button("Add command").click()
        self.assertIn("400", self.alert_text(card))
        self.button("Discard", card).click()
        self.wait(lambda: self.rest(key, "GET", f"/v1/claimed-devices/{dev_id}/provisioning")[1]["total"] == 0, "discarded")

    def test_08_rules_page(self):
        """Create a rule from JSON (draft), Activate it, Delete it."""
        key = "portal-rules"
        self.open("#/rules")
        self.use_key(key)
        self.heading("Rules")
        self.type_into("Name", "From JSON")
        self.type_into("Groups", "json-group")
        self.type_into("Commands (JSON)", json.dumps([{"description": "key", "request": {"clientPrivateKeyGeneration": {"secTag": 42}}}]))
        self.button("Create rule").click()
        row = self.row_of("From JSON")
        self.assertIn("DRAFT", row.text)
        self.button("Activate", row).click()
        self.wait(lambda: "ACTIVE" in self.row_of("From JSON").text, "ACTIVE")
        st, rules, _ = self.rest(key, "GET", "/v1/provisioning-rules")
        self.assertEqual(rules["items"][0]["status"], "ACTIVE")
        self.assertEqual(rules["items"][0]["tags"], ["json-group"])
        self.shot("10-rules")
        self.button("Delete", self.row_of("From JSON")).click()
        self.wait(lambda: self.rest(key, "GET", "/v1/provisioning-rules")[1]["total"] == 0, "rule deleted")

    def test_09_qa(self):
        """Mark failed with a CME error and Mark succeeded; fault rules; the journal newest
        first with a body; Download CA; Reset team (confirmed)."""
        key = "portal-qa"
        self.open("#/qa")
        self.use_key(key)
        _, dev_id, token = self.new_device("qa")
        self.assertEqual(self.rest(key, "POST", "/v1/claimed-devices", {"claimToken": token})[0], 201)
        for n in range(2):
            st, _, _ = self.rest(key, "POST", f"/v1/claimed-devices/{dev_id}/provisioning",
                                 {"description": f"qa {n}", "request": {"config": {"properties": {"k": str(n)}}}})
            self.assertEqual(st, 201)
        self.open("#/qa")
        self.heading("QA")
        self.assertIn("Mock-only", self.driver.find_element(By.CSS_SELECTOR, ".qa-banner").text)
        self.assertFalse(self.driver.find_elements(By.XPATH, "//input[@aria-label='Control token']"),
                         "no Control token input when the mock has none")
        self.wait(lambda: dev_id in [o.get_attribute("value") for o in Select(self.control("Device")).options], "the device listed")
        Select(self.control("Device")).select_by_value(dev_id)
        first = self.row_of("qa 0")
        self.button("Mark succeeded", first).click()
        self.wait(lambda: self.rest(key, "GET", f"/v1/claimed-devices/{dev_id}/provisioning")[1]["items"][0]["status"] == "SUCCEEDED",
                  "qa 0 SUCCEEDED")
        second = self.row_of("qa 1")
        self.type_into("CME error", "527", second)
        self.button("Mark failed", second).click()
        self.wait(lambda: self.rest(key, "GET", f"/v1/claimed-devices/{dev_id}/provisioning")[1]["items"][1]["status"] == "FAILED",
                  "qa 1 FAILED")
        cmd = self.rest(key, "GET", f"/v1/claimed-devices/{dev_id}/provisioning")[1]["items"][1]
        self.assertEqual(cmd["response"]["errorResponse"]["cmeError"], 527)
        self.assertEqual(self.rest(key, "GET", f"/v1/claimed-devices/{dev_id}")[1]["status"], "ERROR")

        # Fault rules: add, listed, and it fires; Delete.
        self.type_into("Path", "/v1/provisioning-rules")
        self.type_into("Method", "GET")
        self.type_into("HTTP status", "503")
        self.type_into("Times", "1")
        self.button("Add fault").click()
        st, faults, _ = self.mock.call("GET", "/_mock/faults")
        self.wait(lambda: len(self.mock.call("GET", "/_mock/faults")[1]["items"]) == 1, "the fault rule added")
        fault = self.mock.call("GET", "/_mock/faults")[1]["items"][0]
        self.assertEqual(fault["match"]["path"], "/v1/provisioning-rules")
        self.assertEqual(fault["action"], {"status": 503})
        row = self.row_of(fault["id"])
        self.button("Delete", row).click()
        self.wait(lambda: self.mock.call("GET", "/_mock/faults")[1]["items"] == [], "the fault rule deleted")

        # The journal: newest first, live; a row's details show its bodies.
        marker = "journal-marker-123"
        self.rest(key, "POST", "/v1/provisioning/tags", {"tag": marker})
        self.rest(key, "GET", f"/v1/provisioning/tags/{marker}")
        self.rest(key, "DELETE", f"/v1/provisioning/tags/{marker}")
        journal = self.driver.find_element(By.XPATH, "//section[h2[normalize-space()='Request journal']]")
        self.type_into("Path prefix", f"/v1/provisioning/tags/{marker}", journal)
        rows = lambda: [r.text for r in journal.find_elements(By.XPATH, ".//tbody/tr")]
        self.wait(lambda: len(rows()) == 2 and "DELETE" in rows()[0] and "GET" in rows()[1], "both exchanges, newest first")
        self.button("Details", journal.find_element(By.XPATH, ".//tbody/tr[2]")).click()
        self.wait(lambda: "Response body" in journal.text and '"deviceCount"' in journal.text, "the response body shown")
        self.shot("11-qa")

        # Download CA: the link serves the CA PEM.
        href = self.link("Download CA").get_attribute("href")
        st, pem, h = self.mock.call("GET", href.replace(self.mock.base, ""), raw=True)
        self.assertEqual(st, 200)
        self.assertIn("BEGIN CERTIFICATE", pem)

        # Snapshots by name.
        self.type_into("Snapshot name", "qa-snap")
        self.button("Save snapshot").click()
        self.wait(lambda: any(x["name"] == "qa-snap" for x in self.mock.call("GET", "/_mock/snapshots")[1]["items"]),
                  "the snapshot saved")
        self.wait(lambda: "qa-snap" in self.driver.find_element(By.XPATH, "//section[h2[normalize-space()='Snapshots']]").text,
                  "the snapshot listed")

        self.button("Reset team").click()
        self.button("OK", self.dialog()).click()
        self.wait(lambda: self.rest(key, "GET", "/v1/claimed-devices")[1]["total"] == 0, "the team reset")

    def test_11_control_token(self):
        """A mock with a control token: the QA page asks for it (Control token) before any
        control call, keeps it, and sends it as X-Mock-Token."""
        tok = Mock("--control-token", "s3cret-token")
        try:
            st, health, _ = tok.call("GET", "/_mock/health")
            self.assertEqual(health["controlToken"], True)
            self.assertEqual(tok.call("GET", "/_mock/faults")[0], 401)
            self.driver.get(f"{tok.base}/#/qa")
            self.type_into("API key", "portal-token")
            self.button("Use key").click()
            self.heading("QA")
            self.type_into("Control token", "s3cret-token")
            self.button("Use token").click()
            self.type_into("Path", "/v1/devices")
            self.type_into("HTTP status", "500")
            self.button("Add fault").click()
            self.wait(lambda: len(tok.call("GET", "/_mock/faults", headers={"X-Mock-Token": "s3cret-token"})[1]["items"]) == 1,
                      "the fault rule added with the token")
            self.assertEqual(self.driver.execute_script("return localStorage.getItem('nrfprov.controlToken')"), "s3cret-token")
            self.assertTrue(self.control("Control token").is_displayed(), "the input stays to change the token")
            self.shot("12-qa-control-token")
        finally:
            tok.stop()
        self.assertEqual(self.mock.call("GET", "/_mock/health")[1]["controlToken"], False)

    def test_12_strict_keys(self):
        """A strict mock (--api-keys): an unknown key is refused with the API's words and
        not kept; a listed key works."""
        keys = os.path.join(self.devdir, "keys.txt")
        with open(keys, "w") as f:
            f.write("good-key,Team Good\n")
        strict = Mock("--api-keys", keys)
        try:
            self.driver.get(f"{strict.base}/")
            self.allowed = ["/v1/claimed-devices?pageLimit=1"]  # the refused key's 401
            self.type_into("API key", "bad-key")
            self.button("Use key").click()
            text = self.alert_text(self.driver.find_element(By.ID, "key-form"))
            st, body, _ = strict.call("GET", "/v1/claimed-devices?pageLimit=1", key="bad-key")
            self.assertEqual(st, 401)
            self.assertIn(str(body["code"]), text)
            self.assertIn(body["message"], text)
            self.assertIsNone(self.driver.execute_script("return localStorage.getItem('nrfprov.apiKey')"))
            self.heading("Welcome")
            self.type_into("API key", "good-key")
            self.button("Use key").click()
            self.heading("Claimed Devices")
        finally:
            strict.stop()

    def test_10_static_routes(self):
        """Content types, no-cache, a same-origin CSP; --ui false turns the pages off."""
        for path, ctype in (("/", "text/html"), ("/ui/app.js", "text/javascript"), ("/ui/style.css", "text/css"),
                            ("/ui/favicon.svg", "image/svg+xml"), ("/favicon.ico", "image/svg+xml"),
                            ("/ui/rule-templates.json", "application/json")):
            st, _, h = self.mock.call("GET", path, raw=True)
            self.assertEqual(st, 200, path)
            self.assertTrue(h["Content-Type"].startswith(ctype), f"{path}: {h['Content-Type']}")
            self.assertEqual(h["Cache-Control"], "no-cache")
            self.assertIn("default-src 'self'", h["Content-Security-Policy"])
        st, tpl, _ = self.mock.call("GET", "/ui/rule-templates.json")
        for choice, fname in CHOICES.items():
            with open(os.path.join(FIXTURES, "rules", f"nrf-cloud-onboarding-{fname}.json")) as f:
                self.assertEqual(tpl[choice], json.load(f), "the templates are the fixture files")
        self.assertEqual(self.mock.call("GET", "/ui/nothing.js")[0], 404)
        # Page files are not API exchanges: they stay out of the journal.
        st, j, _ = self.mock.call("GET", "/_mock/requests?path=/ui/")
        self.assertEqual(j["total"], 0)
        off = Mock("--ui", "false")
        try:
            for path in ("/", "/ui/app.js", "/ui/rule-templates.json"):
                self.assertEqual(off.call("GET", path)[0], 404, path)
            self.assertEqual(off.call("GET", "/_mock/health")[0], 200)
        finally:
            off.stop()


if __name__ == "__main__":
    unittest.main(verbosity=2)
