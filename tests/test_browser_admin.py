"""The administration area in a real Chromium (issue 13): an administrator creates a
user with a role, who signs in with the one-time password, chooses their own and sees
that role's inbox."""
from __future__ import annotations

import re
from pathlib import Path


from browser import axe_violations, needs_chromium, page, screenshot, server, sign_in  # noqa: F401 (fixtures)

pytestmark = needs_chromium


def test_a_created_user_signs_in_with_the_one_time_password_and_sees_the_roles_inbox(server, page, sqlite_runtime):
    from playwright.sync_api import expect
    sqlite_runtime.engine.start_case("aaby", "rehabilitering", "010190-1234", "Anna Andersen")
    sign_in(page, server, "aaby.admin")
    page.get_by_role("link", name="Administration").click()
    page.get_by_role("heading", name="Brugere og roller").wait_for()
    page.get_by_label("Brugernavn").fill("aaby.jens")
    page.get_by_label("Fulde navn").fill("Jens Jensen")
    page.get_by_label("Sagsbehandler (myndighed)").check()
    page.get_by_role("button", name="Opret bruger").click()
    expect(page.locator(".notice")).to_contain_text("Brugeren aaby.jens er oprettet.")
    password = page.locator("#engangskode").inner_text()
    assert re.fullmatch(r"[A-Za-z0-9_-]{16}", password)
    expect(page.locator("table.users")).to_contain_text("Jens Jensen")
    screenshot(page, "admin-users")
    assert axe_violations(page) == []

    page.get_by_role("link", name="aaby.jens").click()
    page.get_by_role("heading", name=re.compile("Jens Jensen")).wait_for()
    expect(page.get_by_label("Sagsbehandler (myndighed)")).to_be_checked()
    screenshot(page, "admin-user")
    assert axe_violations(page) == []

    page.get_by_role("button", name="Log ud").click()
    sign_in(page, server, "aaby.jens", password, landing="Skift adgangskode")
    screenshot(page, "password-change")
    assert axe_violations(page) == []
    page.get_by_label("Ny adgangskode").fill("kort")
    page.get_by_label("Gentag den nye adgangskode").fill("kort")
    page.get_by_role("button", name="Skift adgangskode").click()
    expect(page.locator("#fejlopsummering")).to_contain_text("mindst 12 tegn")
    page.get_by_label("Ny adgangskode").fill("jens vælger selv en kode")
    page.get_by_label("Gentag den nye adgangskode").fill("jens vælger selv en kode")
    page.get_by_role("button", name="Skift adgangskode").click()
    page.get_by_role("heading", name="Min indbakke").wait_for()
    expect(page.locator("table.tasks tbody tr", has_text="Anna Andersen")).to_contain_text("Vurdér målgruppe og rute")


def test_a_policy_value_beyond_the_law_is_refused_then_a_change_is_dry_run_and_applied(server, page, sqlite_runtime):
    from playwright.sync_api import expect
    sqlite_runtime.engine.start_case("boegeby", "fleksjob", "040470-1004", "Dennis Dam",
                                     {"overdragelse": {"visitationsdato": "2027-01-04"}})
    sign_in(page, server, "boegeby.admin")
    page.get_by_role("link", name="Administration").click()
    page.get_by_role("link", name="Politik", exact=True).click()
    page.get_by_role("heading", name="Politik for Bøgeby").wait_for()
    row = page.locator("tr", has=page.get_by_role("rowheader", name=re.compile("Første samtale efter visitation")))
    expect(row).to_contain_text("højst 3 uger (lov)")
    expect(row).to_contain_text("first talk must be within 3 weeks")
    screenshot(page, "admin-policy-catalogue")
    assert axe_violations(page) == []

    page.get_by_role("link", name="Ændr politikken for Fleksjob").click()
    page.get_by_label("Første samtale efter visitation").fill("P4W")
    page.get_by_label("Begrundelse").fill("Vi vil give borgeren mere tid")
    page.get_by_role("button", name="Gem ny version").click()
    summary = page.locator("#fejlopsummering")
    expect(summary).to_contain_text("Første samtale efter visitation: fleksjob: first talk must be within 3 weeks (P3W); got P4W")
    expect(summary).to_be_focused()
    screenshot(page, "admin-policy-refused")
    assert axe_violations(page) == []

    page.get_by_label("Første samtale efter visitation").fill("P2W")
    page.get_by_label("Begrundelse").fill("Borgerne skal hurtigere i gang")
    page.get_by_role("button", name="Gem ny version").click()
    expect(page.locator(".flash-success")).to_contain_text("er gemt og gælder for nye sager fra 2027-01-04")
    dry_run = page.locator("table.dry-run tbody tr", has_text="Dennis Dam")
    expect(dry_run).to_contain_text("040470-XXXX")
    expect(dry_run).to_contain_text("25. jan. 2027")
    expect(dry_run).to_contain_text("18. jan. 2027")
    screenshot(page, "admin-policy-dry-run")
    assert axe_violations(page) == []
    page.get_by_role("button", name="Flyt de kørende sager").click()
    expect(page.locator("#fejlopsummering")).to_contain_text("Sæt kryds for at bekræfte")
    page.get_by_label(re.compile("Jeg bekræfter, at de 1 sager flyttes")).check()
    page.get_by_role("button", name="Flyt de kørende sager").click()
    expect(page.locator(".flash-success")).to_contain_text("1 kørende sag(er) er flyttet til version")

    page.locator("#sagstype-fleksjob ~ table.policy-history a").first.click()
    expect(page.locator("table.compare tr.differs")).to_contain_text("2 uger")
    screenshot(page, "admin-policy-version")
    assert axe_violations(page) == []
    page.goto(f"{server}/admin/politik/sammenlign?sagstype=fleksjob&kommune=aaby")
    expect(page.locator("table.compare thead")).to_contain_text("Aaby")
    screenshot(page, "admin-policy-compare")
    assert axe_violations(page) == []


def test_the_audit_log_filters_who_viewed_a_case(server, page, sqlite_runtime):
    from playwright.sync_api import expect
    instance = sqlite_runtime.engine.start_case("aaby", "rehabilitering", "010190-1234", "Anna Andersen")
    sign_in(page, server, "aaby.sagsbehandler")
    page.goto(f"{server}/sager/{instance.case_id}")
    page.goto(f"{server}/sager/soeg?q=010190-1234")   # a search for a CPR number is audited
    page.get_by_role("button", name="Log ud").click()
    sign_in(page, server, "aaby.admin")
    page.get_by_role("link", name="Administration").click()
    page.get_by_role("link", name="Revisionslog").click()
    page.get_by_role("heading", name="Revisionslog").wait_for()
    page.get_by_label("Handling").select_option("case.view")
    page.get_by_label("Sag").fill(str(instance.case_id))
    page.get_by_role("button", name="Vis", exact=True).click()
    rows = page.locator("table.audit tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("aaby.sagsbehandler")
    expect(rows.first).to_contain_text("case.view")
    with page.expect_download() as download:
        page.get_by_role("link", name="Hent som CSV").click()
    exported = Path(download.value.path()).read_text(encoding="utf-8-sig")
    assert exported.splitlines()[1].split(",")[2:5] == ["aaby.sagsbehandler", "case.view", str(instance.case_id)]

    # everything the caseworker did, each event's details as a list of labelled values
    page.get_by_label("Handling").select_option("")
    page.get_by_label("Sag").fill("")
    page.get_by_label("Bruger").fill("aaby.sagsbehandler")
    page.get_by_role("button", name="Vis", exact=True).click()
    search = page.locator("table.audit tbody tr", has_text="case.search")
    expect(search).to_have_count(1)
    details = search.locator("dl.audit-detail")
    expect(details.locator("dt")).to_have_text(["Sager", "Slags", "Søgning"])
    expect(details.locator("dd")).to_have_text([str(instance.case_id), "cpr", "010190-XXXX"])
    expect(page.locator("table.audit")).not_to_contain_text("010190-1234")
    screenshot(page, "admin-audit")
    assert axe_violations(page) == []


def test_the_national_administrator_registers_a_municipality_from_a_zip(server, page, tmp_path):
    from playwright.sync_api import expect
    from test_admin_municipalities import dalby, dalby_zip
    broken = dalby()
    broken["policy"]["values"]["fj_foerste_samtale"] = "P5W"
    (tmp_path / "broken.zip").write_bytes(dalby_zip(broken))
    (tmp_path / "dalby.zip").write_bytes(dalby_zip())
    sign_in(page, server, "national.admin", landing="Registrér en kommune")
    page.get_by_label("Kommunens mappe (zip)").set_input_files(str(tmp_path / "broken.zip"))
    page.get_by_role("button", name="Kontrollér og registrér").click()
    expect(page.locator("#fejlopsummering")).to_contain_text(
        "dalby/municipality.json: policy: fleksjob: first talk must be within 3 weeks (P3W); got P5W")
    screenshot(page, "admin-municipality-refused")
    assert axe_violations(page) == []
    page.get_by_label("Kommunens mappe (zip)").set_input_files(str(tmp_path / "dalby.zip"))
    page.get_by_role("button", name="Kontrollér og registrér").click()
    expect(page.locator(".notice")).to_contain_text("Dalby Kommune (dalby) er registreret.")
    expect(page.get_by_role("heading", name="Dalby Kommune (dalby)")).to_be_visible()
    screenshot(page, "admin-municipalities")
    assert axe_violations(page) == []
