"""Build the English catalogue: ``python -m inbox.translations.english``.

The Danish UI text is the message id (Danish is the default language); this module
holds the English translation of every message, writes ``en/LC_MESSAGES/messages.po``
from ``messages.pot`` and compiles ``messages.mo``. After changing UI text, add the
English here (or in the area's ``en_<area>.py``) and run ``scripts/translations`` (it
re-extracts, see ``inbox/babel.cfg``, then runs this module);
``tests/test_inbox_i18n.py`` fails while a message has no English.
"""
from __future__ import annotations

from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po

HERE = Path(__file__).parent

ENGLISH = {
    "Forkert brugernavn eller adgangskode.": "Wrong username or password.",
    "Du er logget ud.": "You are signed out.",
    "Vælg en sagstype.": "Choose a case type.",
    "CPR-nummeret skal have 10 cifre (DDMMÅÅ-XXXX).": "The CPR number must have 10 digits (DDMMYY-XXXX).",
    "Skriv borgerens navn.": "Enter the citizen's name.",
    "Alderen skal være et helt tal mellem 0 og 130.": "The age must be a whole number between 0 and 130.",
    "Forkert forespørgsel": "Bad request",
    "Log ind for at fortsætte": "Sign in to continue",
    "Du har ikke adgang": "You do not have access",
    "Siden findes ikke": "Page not found",
    "Opgaven er ændret": "The task has changed",
    "Oplysningerne er ikke gyldige": "The information is not valid",
    "Formularen er udløbet": "The form has expired",
    "Siden var for gammel. Gå tilbage, genindlæs siden og prøv igen.":
        "The page was too old. Go back, reload the page and try again.",
    "Rehabilitering": "Rehabilitation team case",
    "Ressourceforløb": "Resource programme",
    "Fleksjob": "Flex job",
    "Førtidspension": "Disability pension",
    "Sygedagpenge": "Sickness benefit",
    "Overskredet": "Overdue",
    "Servicemål nærmer sig": "Service target due soon",
    "Servicemål overskredet": "Service target missed",
    "Snart": "Due soon",
    "I god tid": "On time",
    "Ingen frist": "No deadline",
    "Åben": "Open",
    "Afsluttet": "Completed",
    "Annulleret": "Cancelled",
    "I gang": "Running",
    "Du har taget opgaven »%(name)s«.": "You claimed the task “%(name)s”.",
    "Opgaven er allerede taget af en anden.": "Someone else has already claimed the task.",
    "Du har sluppet opgaven »%(name)s«.": "You released the task “%(name)s”.",
    "Opgaven er taget af en anden og kan ikke slippes.": "Someone else has claimed the task; you cannot release it.",
    "Opgaven »%(name)s« er givet til %(user)s.": "The task “%(name)s” was given to %(user)s.",
    "Opgaven kunne ikke fordeles: %(reason)s": "The task could not be reassigned: %(reason)s",
    "Giv filteret et navn.": "Give the filter a name.",
    "Filteret »%(name)s« er gemt.": "The filter “%(name)s” is saved.",
    "Filteret er slettet.": "The filter is deleted.",
    "Demo-uret er flyttet %(days)s dage frem.": "The demo clock moved %(days)s days ahead.",
    "Opgaven er blevet ændret, mens du havde den åben: en anden har taget, fordelt eller afsluttet den. "
    "Se opgaven igen, før du indsender.":
        "The task changed while you had it open: someone claimed, reassigned or completed it. "
        "Look at the task again before you submit.",
    "Opgaven »%(name)s« er afsluttet.": "The task “%(name)s” is completed.",
    "din indbakke": "your inbox",
    "indbakken for %(role)s": "the inbox of %(role)s",
    "Næste opgave: »%(name)s« er lagt i %(where)s.": "Next task: “%(name)s” is in %(where)s.",
    "Der er ingen ny opgave endnu: sagen venter på andre opgaver, en frist eller en hændelse.":
        "No new task yet: the case waits for other tasks, a deadline or an event.",
    "skal udfyldes": "required",
    "Dato, fx 2027-01-31": "Date, e.g. 2027-01-31",
    "Helt tal": "Whole number",
    "mellem %(min)s og %(max)s": "between %(min)s and %(max)s",
    "Højst %(n)s tegn": "At most %(n)s characters",
    "Fejl:": "Error:",
    "Vælg …": "Choose …",
    "API-nøgle": "API key",
    "Med en API-nøgle kan et andet system arbejde i Sagsflow på dine vegne, med dine roller. "
    "Dokumentationen findes på":
        "With an API key another system can work in Sagsflow on your behalf, with your roles. "
        "The documentation is at",
    "Din nye nøgle (vises kun én gang):": "Your new key (shown only once):",
    "Send den som": "Send it as",
    "API-nøgler": "API keys",
    "Navn (hvilket system bruger nøglen)": "Name (which system uses the key)",
    "Udløber efter": "Expires after",
    "%(n)s dage": "%(n)s days",
    "Dine nøgler": "Your keys",
    "Navn": "Name",
    "Oprettet": "Created",
    "Udløber": "Expires",
    "Aktiv": "Active",
    "Udløbet": "Expired",
    "Tilbagekaldt": "Revoked",
    "Tilbagekald": "Revoke",
    "Du har ingen API-nøgler.": "You have no API keys.",
    "API-nøglen er tilbagekaldt.": "The API key is revoked.",
    "For mange forkerte forsøg. Prøv igen om %(n)s sekunder.":
        "Too many failed attempts. Try again in %(n)s seconds.",
    "Lav en ny API-nøgle": "Create a new API key",
    "Gå til indhold": "Skip to content",
    "Hovedmenu": "Main menu",
    "Indbakke": "Inbox",
    "Fordel opgaver": "Assign tasks",
    "Opret sag": "Start a case",
    "Log ud": "Sign out",
    "Sag": "Case",
    "CPR-nummer": "CPR number",
    "Kommune": "Municipality",
    "oprettet": "created",
    "I dag": "Today",
    "Åbne opgaver": "Open tasks",
    "Opgave": "Task",
    "Rolle": "Role",
    "Frist": "Deadline",
    "Taget af": "Claimed by",
    "Ingen åbne opgaver.": "No open tasks.",
    "Kommende frister": "Pending deadlines",
    "Dato": "Date",
    "Forløb": "Process",
    "Ingen kommende frister.": "No pending deadlines.",
    "Overskredne frister": "Breached deadlines",
    "model v%(v)s": "model v%(v)s",
    "startet": "started",
    "afsluttet": "completed",
    "Procesdiagram for %(p)s. Aktuelle trin: %(cur)s": "Process diagram of %(p)s. Current steps: %(cur)s",
    "ingen": "none",
    "Her er sagen nu": "The case is here now",
    "Udført": "Done",
    "Venter på frist": "Waiting for a deadline",
    "Forløbet indtil nu": "History",
    "systemet": "the system",
    "Ingen opgaver er udført endnu.": "No tasks have been completed yet.",
    "Breve": "Letters",
    "Brev": "Letter",
    "Status": "Status",
    "Sendt %(when)s": "Sent %(when)s",
    "I kø": "Queued",
    "Ingen breve endnu.": "No letters yet.",
    "Ret venligst følgende": "Please correct the following",
    "Sagstype": "Case type",
    "DDMMÅÅ-XXXX. Brug fiktive numre i demo.": "DDMMYY-XXXX. Use fictional numbers in a demo.",
    "Borgerens navn": "Citizen's name",
    "Alder": "Age",
    "valgfri": "optional",
    "Tilbage til sagen": "Back to the case",
    "Siden eller sagen findes ikke, eller du har ikke adgang til den.":
        "The page or case does not exist, or you do not have access to it.",
    "Den kræver en rolle, du ikke har. Kontakt din teamleder, hvis du mener, det er en fejl.":
        "It needs a role you do not have. Contact your team leader if you think this is a mistake.",
    "Til indbakken": "To the inbox",
    "Processen kunne ikke fortsætte": "The process could not continue",
    "Processens model fejlede i elementet »%(element)s«, og intet er gemt. Kontakt den, der vedligeholder "
    "modellen. Fejlen: %(detail)s":
        "The process model failed in the element »%(element)s«, and nothing was saved. Contact whoever "
        "maintains the model. The error: %(detail)s",
    "Min indbakke": "My inbox",
    "demo-ur": "demo clock",
    "Demo-ur:": "Demo clock:",
    "+1 dag": "+1 day",
    "+1 uge": "+1 week",
    "+4 uger": "+4 weeks",
    "Filtrér opgaver": "Filter tasks",
    "Filtrér": "Filter",
    "Alle mine roller": "All my roles",
    "Alle roller": "All roles",
    "Alle": "All",
    "Mine": "Mine",
    "Ikke taget": "Unclaimed",
    "Vis": "Show",
    "Nulstil": "Reset",
    "Gemte filtre": "Saved filters",
    "Slet filteret %(name)s": "Delete the filter %(name)s",
    "slet": "delete",
    "Gem det viste filter som": "Save the current filter as",
    "Gem filter": "Save filter",
    ("%(count)s åben opgave", "%(count)s åbne opgaver"): ("%(count)s open task", "%(count)s open tasks"),
    "side %(page)s af %(pages)s": "page %(page)s of %(pages)s",
    "Borger": "Citizen",
    "Handling": "Action",
    "dig": "you",
    "Giv opgaven %(name)s til": "Give the task %(name)s to",
    "Giv": "Give",
    "Slip opgaven %(name)s for %(citizen)s": "Release the task %(name)s for %(citizen)s",
    "Slip": "Release",
    "Tag opgaven %(name)s for %(citizen)s": "Claim the task %(name)s for %(citizen)s",
    "Tag": "Claim",
    "Ingen åbne opgaver her.": "No open tasks here.",
    "Sider": "Pages",
    "← Forrige": "← Previous",
    "Side %(page)s af %(pages)s": "Page %(page)s of %(pages)s",
    "Næste →": "Next →",
    "Log ind": "Sign in",
    "Brugernavn": "Username",
    "Adgangskode": "Password",
    "Demo: brugernavn som aaby.sagsbehandler, adgangskode demo.":
        "Demo: a username like aaby.sagsbehandler, password demo.",
    "taget af %(name)s": "claimed by %(name)s",
    "Opgaven er ændret": "The task has changed",
    "Dine indtastninger er bevaret herunder. Tjek opgaven, og indsend igen, hvis den stadig er din.":
        "What you entered is kept below. Check the task and submit again if it is still yours.",
    "Tag opgaven": "Claim the task",
    "Ingen har taget opgaven endnu.": "Nobody has claimed the task yet.",
    "Slip opgaven": "Release the task",
    "Du har taget opgaven.": "You have claimed the task.",
    "%(name)s har taget opgaven. Kun den, der har taget den, kan afslutte den.":
        "%(name)s has claimed the task. Only they can complete it.",
    "Opgaven har ingen felter. Afslut den, når den er udført.": "The task has no fields. Complete it when it is done.",
    "Afslut opgaven": "Complete the task",
    "Annullér": "Cancel",
    "Indsendte oplysninger": "Submitted information",
    "Afsluttet af %(name)s den %(when)s.": "Completed by %(name)s on %(when)s.",
    "Frist nærmer sig": "Deadline approaching",
    "Frist overskredet": "Deadline breached",
    "Levering mislykkedes": "Delivery failed",
    "Beskeden er markeret som læst.": "The message is marked as read.",
    "Alle dine beskeder er markeret som læst.": "All your messages are marked as read.",
    "Beskeder (%(n)s)": "Messages (%(n)s)",
    "Beskeder": "Messages",
    "%(n)s ulæste af %(total)s": "%(n)s unread of %(total)s",
    "Markér alle som læst": "Mark all as read",
    "Dine beskeder, nyeste først": "Your messages, newest first",
    "Besked": "Message",
    "Vedrører": "Concerns",
    "Se opgaven": "Open the task",
    "Sag %(id)s": "Case %(id)s",
    "Læst %(when)s": "Read %(when)s",
    "Markér som læst": "Mark as read",
    "Du har ingen beskeder.": "You have no messages.",
    "Nyere": "Newer",
    "Ældre": "Older",
    "Udfyld én række pr. linje; tomme rækker gemmes ikke.": "Fill in one row per line; blank rows are not saved.",
    "række": "row",
    "Ja": "Yes",
    "Nej": "No",
    "Sagsejer": "Case owner",
    "ingen": "none",
    "Skift sagsejer": "Change case owner",
    "Ingen sagsejer": "No case owner",
    "fraværende til %(d)s": "absent until %(d)s",
    "Gem": "Save",
    "Servicemål": "Service targets",
    "Mål": "Target",
    "Fra": "From",
    "Senest": "At the latest",
    "Nået %(d)s": "Met %(d)s",
    "Nået for sent %(d)s": "Met late %(d)s",
    "Milepæle": "Milestones",
    "Milepæl": "Milestone",
    "Ingen milepæle endnu.": "No milestones yet.",
    "Sagsejeren er ændret.": "The case owner has been changed.",
}


def _area_catalogues() -> dict:
    """Each area of the UI (analytics, admin, studio, ...) keeps its English in its own
    module ``en_<area>.py`` with a dict ``ENGLISH``, so areas do not edit one shared dict."""
    import importlib
    merged = {}
    for path in sorted(HERE.glob("en_*.py")):
        module = importlib.import_module(f"inbox.translations.{path.stem}")
        merged.update(module.ENGLISH)
    return merged


def build() -> list:
    ENGLISH.update(_area_catalogues())
    """Write the English .po and .mo; return the message ids that have no English."""
    with open(HERE / "messages.pot", "rb") as f:
        catalog = read_po(f, locale="en")
    missing = []
    for message in catalog:
        if not message.id:
            continue
        english = ENGLISH.get(message.id)
        if english is None:
            missing.append(message.id)
        message.string = english or ("" if not isinstance(message.id, tuple) else ("", ""))
    out = HERE / "en" / "LC_MESSAGES"
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "messages.po", "wb") as f:
        write_po(f, catalog, omit_header=True, no_location=True)
    with open(out / "messages.mo", "wb") as f:
        write_mo(f, catalog)
    return missing


if __name__ == "__main__":
    missing = build()
    for message_id in missing:
        print(f"no English for: {message_id!r}")
    raise SystemExit(1 if missing else 0)
