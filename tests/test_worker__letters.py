"""Letter texts: every template renders in Danish with the citizen, the municipality and
the case data, and nothing from the case can inject HTML."""
from datetime import date

import pytest

from processes.letters import TEMPLATES, UnknownTemplate, compose, danish_date

TODAY = date(2027, 3, 1)
DATA = {"moededato": "2027-03-15", "moedetidspunkt": "10:30", "indstilling": "fleksjob",
        "indstilling_begrundelse": "Varigt nedsat <b>arbejdsevne</b>", "afgoerelse": "afslag",
        "afgoerelse_begrundelse": "Ikke opfyldt", "afgoerelsesdato": "2027-03-20", "ansoegt_om": "foertidspension",
        "arbejdsfunktion": "Lettere kontorarbejde", "oversendelsesdato": "2027-02-01", "samtale_senest": "2027-03-08",
        "moedetilbud_dato": "2027-02-02", "partshoering_svarfrist_dato": "2027-03-15",
        "forsinkelse_aarsag": "Afventer lægeerklæring", "forventet_afgoerelsesdato": "2027-04-30",
        "tilskud_fra": "2027-03-01", "fleksloentilskud": 12000}
LABELS = {"afgoerelse": {"afslag": "Afslag på fleksjob"}}


@pytest.mark.parametrize("template", sorted(TEMPLATES))
def test_every_template_names_citizen_and_municipality_and_escapes(template):
    letter = compose(template, DATA, "Karen <script>alert(1)</script>", "Værkby Kommune", TODAY, LABELS)
    assert letter.template == template and letter.title in letter.body
    assert "Karen &lt;script&gt;alert(1)&lt;/script&gt;" in letter.body and "<script>" not in letter.body
    assert "Værkby Kommune" in letter.body and "1. marts 2027" in letter.body
    assert "<b>" not in letter.body
    assert letter.missing == ()


def test_template_specific_content():
    assert "15. marts 2027 kl. 10:30" in compose("invitation_moede", DATA, "K", "V", TODAY).body
    partshoering = compose("partshoering", DATA, "K", "V", TODAY).body
    assert "senest den 15. marts 2027" in partshoering and "Varigt nedsat &lt;b&gt;arbejdsevne&lt;/b&gt;" in partshoering
    assert "indstillet til: <strong>fleksjob</strong>" in partshoering
    afslag = compose("afslag", DATA, "K", "V", TODAY).body
    assert "afslag på førtidspension" in afslag and "Lettere kontorarbejde" in afslag and "Klagevejledning" in afslag
    assert "Du blev den 2. februar 2027 tilbudt et møde" in afslag
    assert "1. februar 2027" in compose("oversendelse_pension", DATA, "K", "V", TODAY).body
    assert "senest den 8. marts 2027" in compose("indkaldelse_samtale", DATA, "K", "V", TODAY).body
    afgoerelse = compose("afgoerelse", DATA, "K", "V", TODAY, LABELS)
    assert "20. marts 2027" in afgoerelse.body and "<strong>Afslag på fleksjob</strong>" in afgoerelse.body
    assert "Ikke opfyldt" in afgoerelse.body and "Klagevejledning" in afgoerelse.body
    forsinkelse = compose("forsinkelse", DATA, "K", "V", TODAY).body
    assert "Afventer lægeerklæring" in forsinkelse and "senest den 30. april 2027" in forsinkelse
    tilskud = compose("fleksloentilskud", DATA, "K", "V", TODAY).body
    assert "fleksløntilskud på 12000 kr. om måneden fra den 1. marts 2027" in tilskud and "Klagevejledning" in tilskud


def test_an_incomplete_letter_says_what_it_misses():
    """A decision without reasons, an enum key without a label: the letter names the gaps."""
    letter = compose("afgoerelse", {"afgoerelse": "ophoer_ly", "afgoerelsesdato": "2027-03-20"}, "K", "V", TODAY)
    assert letter.missing == ("afgoerelse=ophoer_ly (no label)", "afgoerelse_begrundelse")
    assert compose("partshoering", {"indstilling": "fleksjob"}, "K", "V", TODAY).missing == (
        "partshoering_svarfrist_dato",)


def test_unknown_template_and_dates():
    with pytest.raises(UnknownTemplate):
        compose("rykker", {}, "K", "V", TODAY)
    assert danish_date("2027-12-31T23:30:00+00:00") == "1. januar 2028"  # Copenhagen time
    assert danish_date(None) == ""
