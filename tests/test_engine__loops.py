"""A case that loops back (the meeting is postponed, the case is prepared and booked again)
keeps its timers: the engine tolerates SpiffWorkflow dropping a waiting timer's task when
the branch is rebuilt. Found by the demo history (processes/history.py), where Aaby's
second invitation timer made the step fail with TaskNotFoundException."""
from __future__ import annotations

from test_domain_rehab import INDSTILLING, Rehab, book, prepare


def test_a_postponed_meeting_is_booked_again_and_its_timers_fire(runtime):
    w = Rehab(runtime, "aaby", "rehabilitering")
    prepare(w)
    book(w)
    w.at("2027-02-01")
    w.complete("rehabiliteringsmoede", borger_deltog=True, sagsbehandler_deltog=True, indstilling="udsaettelse",
               indstilling_begrundelse="Sagen er ikke tilstrækkeligt oplyst")
    assert set(w.ready()) == {"planlaeg_forberedelse"}
    w.complete("planlaeg_forberedelse", laegeattest_noedvendig=False, samtykke_deling="givet")
    w.at("2027-02-02")
    w.complete("indhent_oplysninger", oplysninger="Nye oplysninger fra psykiatrien")
    w.complete("forberedende_del", forberedende_del_tekst="8 overskrifter", borger_medvirken="sammen",
               underskriftsdato="2027-02-02")
    w.complete("book_moede", bookingdato="2027-02-02", moededato="2027-03-01")
    w.complete("forbered_sundhedskoordinator", sundhedsfaglig_vurdering="Uændret")
    w.complete("forbered_borger", forberedende_samtale_dato="2027-02-02", samtale_sagen=True, samtale_udfald=True,
               samtale_bisidder=True)
    # the meeting day waits for the invitation, as the first time (the join no longer
    # counts the first meeting's invitation: processes/spiff_fixes.py)
    assert w.timers() == {"invitation_tid": "2027-02-22"}
    w.at("2027-02-23")                      # the invitation goes out a week before the new meeting
    assert w.templates().count("invitation_moede") == 2
    assert w.timers() == {"moededag": "2027-03-01"}
    w.at("2027-03-01", hour=10)
    assert w.ready() == {"rehabiliteringsmoede": "rehabiliteringsteam"}


def test_after_a_postponed_meeting_booking_waits_for_the_whole_preparation_again(runtime):
    """SpiffWorkflow's parallel join counted the first preparation's branches as arrived
    again (processes/spiff_fixes.py): the case went on to booking with the preparation
    open, and when the open task was done after the new meeting, the join fired again,
    dropped the recommendation being written and its deadline timer, and the step failed
    (AttributeError from Spiff's refresh_timers; the bench's case 343)."""
    w = Rehab(runtime, "boegeby", "rehabilitering")
    prepare(w)                              # the forberedende del done last
    book(w)
    w.at("2027-02-01")
    w.complete("rehabiliteringsmoede", borger_deltog=True, sagsbehandler_deltog=True, indstilling="udsaettelse",
               indstilling_begrundelse="Sagen er ikke tilstrækkeligt oplyst")
    w.complete("planlaeg_forberedelse", laegeattest_noedvendig=False, samtykke_deling="givet")
    w.at("2027-02-02")
    w.complete("forberedende_del", forberedende_del_tekst="8 overskrifter", borger_medvirken="sammen",
               underskriftsdato="2027-02-02")
    assert w.ready() == {"indhent_oplysninger": "sagsbehandler"}
    w.complete("indhent_oplysninger", oplysninger="Nye oplysninger fra psykiatrien")
    assert w.ready() == {"book_moede": "sekretariat"}
    w.complete("book_moede", bookingdato="2027-02-02", moededato="2027-03-01")
    w.complete("forbered_sundhedskoordinator", sundhedsfaglig_vurdering="Uændret")
    w.complete("forbered_borger", forberedende_samtale_dato="2027-02-02", samtale_sagen=True, samtale_udfald=True,
               samtale_bisidder=True)
    w.at("2027-03-01", hour=10)
    w.complete("rehabiliteringsmoede", borger_deltog=True, bisidder_deltog=True, sagsbehandler_deltog=True,
               indstilling="fleksjob", indstilling_begrundelse="Helbred og skånehensyn er vægtet")
    assert w.ready() == {"skriv_indstilling": "moedeleder"}
    assert set(w.timers()) == {"frist_skriv_indstilling"}
    w.complete("skriv_indstilling", indstillingsdato="2027-03-01", **INDSTILLING["fleksjob"])
    assert "frist_skriv_indstilling" not in w.timers()
    assert "skriv_indstilling" not in w.ready()
