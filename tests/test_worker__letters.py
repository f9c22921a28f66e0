"""Letter texts: every template renders in Danish with the citizen, the municipality and
the case data, and nothing from the case can inject HTML."""
from datetime import date

import pytest

from processes.letters import TEMPLATES, UnknownTemplate, compose, danish_date

TODAY = date(2027, 3, 1)
DATA = {"moededato": "2027-03-15", "moedetidspunkt": "10:30", "indstilling": "fleksjob",
        "indstilling_begrundelse": "Varigt nedsat <b>arbejdsevne</b>", "afgoerelse": "afslag",
        "afgoerelse_begrundelse": "Ikke opfyldt", "afgoerelsesdato": "2027-03-20", "ansoegt_om": "foertidspension",
        "arbejdsfunktion": "Lettere kontorarbejde", "oversendelsesdato": "2027-02-01", "samtaledato": "2027-03-08",
        "policy": {"rehab_partshoering_svarfrist": "P14D"}}


@pytest.mark.parametrize("template", sorted(TEMPLATES))
def test_every_template_names_citizen_and_municipality_and_escapes(template):
    letter = compose(template, DATA, "Karen <script>alert(1)</script>", "Værkby Kommune", TODAY)
    assert letter.template == template and letter.title in letter.body
    assert "Karen &lt;script&gt;alert(1)&lt;/script&gt;" in letter.body and "<script>" not in letter.body
    assert "Værkby Kommune" in letter.body and "1. marts 2027" in letter.body
    assert "<b>" not in letter.body


def test_template_specific_content():
    assert "15. marts 2027 kl. 10:30" in compose("invitation_moede", DATA, "K", "V", TODAY).body
    partshoering = compose("partshoering", DATA, "K", "V", TODAY).body
    assert "inden 14 dage" in partshoering and "Varigt nedsat &lt;b&gt;arbejdsevne&lt;/b&gt;" in partshoering
    afslag = compose("afslag", DATA, "K", "V", TODAY).body
    assert "afslag på førtidspension" in afslag and "Lettere kontorarbejde" in afslag and "Klagevejledning" in afslag
    assert "1. februar 2027" in compose("oversendelse_pension", DATA, "K", "V", TODAY).body
    assert "8. marts 2027" in compose("indkaldelse_samtale", DATA, "K", "V", TODAY).body
    assert "20. marts 2027" in compose("afgoerelse", DATA, "K", "V", TODAY).body


def test_unknown_template_and_dates():
    with pytest.raises(UnknownTemplate):
        compose("rykker", {}, "K", "V", TODAY)
    assert danish_date("2027-12-31T23:30:00+00:00") == "1. januar 2028"  # Copenhagen time
    assert danish_date(None) == ""
