"""English for the administration area (inbox/admin.py, templates/admin/, the password page)."""

ENGLISH = {
    "Rollerne er gemt.": "The roles are saved.",
    "%(user)s er deaktiveret. %(n)s opgave(r) er lagt tilbage i rollernes indbakke, og teamlederen har fået besked.":
        "%(user)s is deactivated. %(n)s task(s) went back to the roles' inbox, and the team leader was told.",
    "Brugeren er aktiv igen.": "The user is active again.",
    "Brugerens sessioner og API-nøgler er afsluttet.": "The user's sessions and API keys are ended.",
    "Skriv en dato (ÅÅÅÅ-MM-DD).": "Enter a date (YYYY-MM-DD).",
    "De to adgangskoder er ikke ens.": "The two passwords differ.",
    "Din adgangskode er skiftet.": "Your password is changed.",
    "Bruger deaktiveret": "User deactivated",
    "Administration": "Administration",
    "Skift adgangskode": "Change password",
    "Du er logget ind med en engangskode. Vælg din egen adgangskode for at fortsætte.":
        "You signed in with a one-time password. Choose your own password to continue.",
    "Ny adgangskode": "New password",
    "Mindst %(n)s tegn, og ikke dit brugernavn.": "At least %(n)s characters, and not your username.",
    "Gentag den nye adgangskode": "Repeat the new password",
    "Brugere og roller": "Users and roles",
    "Ny engangskode (vises kun én gang):": "New one-time password (shown only once):",
    "Brugerens sessioner og API-nøgler er afsluttet. Brugeren skal vælge sin egen kode ved næste login.":
        "The user's sessions and API keys are ended. The user must choose their own password at the next sign-in.",
    "Deaktiveret": "Deactivated",
    "skal skifte adgangskode": "must change password",
    "Åbne sessioner": "Open sessions",
    "Gyldige API-nøgler": "Valid API keys",
    "Fraværende til og med": "Absent up to and including",
    "Roller": "Roles",
    "Brugerens roller": "The user's roles",
    "Administrator (brugere, politik, revisionslog)": "Administrator (users, policy, audit log)",
    "Gem roller": "Save roles",
    "Fravær": "Absence",
    "Gem fravær": "Save absence",
    "Adgang": "Access",
    "Giv ny engangskode": "Issue a new one-time password",
    "Afslut sessioner og API-nøgler": "End sessions and API keys",
    "Deaktivér brugeren": "Deactivate the user",
    "Aktivér brugeren igen": "Activate the user again",
    "Deaktivering afslutter brugerens sessioner og API-nøgler, lægger brugerens tagne opgaver tilbage i rollernes "
    "indbakke og giver teamlederen besked.":
        "Deactivating ends the user's sessions and API keys, puts the tasks the user had claimed back in the "
        "roles' inbox and tells the team leader.",
    "Brugeren %(user)s er oprettet.": "The user %(user)s is created.",
    "Engangskode (vises kun én gang; brugeren skal vælge sin egen kode ved første login):":
        "One-time password (shown only once; the user must choose their own at the first sign-in):",
    "Kommunens brugere": "The municipality's users",
    "Administrator": "Administrator",
    "Fraværende til og med %(day)s": "Absent up to and including %(day)s",
    "Opret bruger": "Create user",
    "Små bogstaver, tal, punktum og bindestreg, fx aaby.jens.":
        "Lower-case letters, digits, full stop and hyphen, e.g. aaby.jens.",
    "Fulde navn": "Full name",
}
ENGLISH.update({
    "%(n)s uger": "%(n)s weeks",
    "%(n)s måneder": "%(n)s months",
    "%(n)s år": "%(n)s years",
    "1 dag": "1 day",
    "1 uge": "1 week",
    "1 måned": "1 month",
    "1 år": "1 year",
    "ja": "yes",
    "nej": "no",
    "ikke sat": "not set",
    "Skriv hvorfor politikken ændres.": "Write why the policy is changed.",
    "Begrundelsen kan højst have 1000 tegn.": "The reason can have at most 1000 characters.",
    "Ingen værdier er ændret.": "No value was changed.",
    "Version %(v)s er gemt og gælder for nye sager fra %(day)s. Se herunder, hvad den betyder for de kørende sager.":
        "Version %(v)s is saved and applies to new cases from %(day)s. See below what it means for running cases.",
    "Sæt kryds for at bekræfte, at de kørende sager skal flyttes.": "Tick the box to confirm that the running cases are to be moved.",
    "Politikken i kraft er ændret, siden prøvekørslen blev vist. Se den nye prøvekørsel.":
        "The policy in force changed since the dry run was shown. See the new dry run.",
    "%(n)s kørende sag(er) er flyttet til version %(v)s.": "%(n)s running case(s) moved to version %(v)s.",
    "præcis %(v)s (bevilling til borgeren)": "exactly %(v)s (granted to the citizen)",
    "mindst %(v)s": "at least %(v)s",
    "højst %(v)s": "at most %(v)s",
    "ingen grænse": "no bound",
    "lov": "law",
    "lokal grænse": "local bound",
    "Politik": "Policy",
    "Politik for %(name)s": "Policy of %(name)s",
    "Kommunens valg inden for lovens rammer. En ændring gælder for nye sager fra en dato; kørende sager flyttes "
    "først, når du anvender den på dem.":
        "The municipality's choices within the law. A change applies to new cases from a date; running cases move "
        "only when you apply it to them.",
    "Sammenlign med standard og andre kommuner": "Compare with the defaults and other municipalities",
    "I kraft: version %(v)s fra %(day)s, sat af %(who)s.": "In force: version %(v)s from %(day)s, set by %(who)s.",
    "Ingen politik.": "No policy.",
    "Ændr politikken for %(ct)s": "Change the policy for %(ct)s",
    "Prøvekørsel på kørende sager": "Dry run on running cases",
    "Parametre for %(ct)s": "Parameters for %(ct)s",
    "Parameter": "Parameter",
    "I kraft": "In force",
    "Standard": "Default",
    "Grænse": "Bound",
    "Reglen": "The rule",
    "ændret": "changed",
    "Historik": "History",
    "Versioner af politikken for %(ct)s": "Versions of the policy for %(ct)s",
    "Version": "Version",
    "Gælder fra": "Applies from",
    "Af": "By",
    "Ændringer": "Changes",
    "Begrundelse": "Reason",
    "Version %(v)s": "Version %(v)s",
    "første version (standardværdier)": "first version (defaults)",
    "Ingen versioner.": "No versions.",
    "Prøvekørsel": "Dry run",
    "Prøvekørsel: %(ct)s på politikken i kraft": "Dry run: %(ct)s on the policy in force",
    "I kraft nu: version %(v)s fra %(day)s.": "In force now: version %(v)s from %(day)s.",
    "Kørende sager beholder deres værdier, indtil du flytter dem her. Intet er ændret endnu.":
        "Running cases keep their values until you move them here. Nothing has changed yet.",
    "Version %(v)s gælder først fra %(day)s; kørende sager kan flyttes til den, når den er trådt i kraft.":
        "Version %(v)s applies only from %(day)s; running cases can be moved to it once it is in force.",
    "%(n)s kørende sag(er) er på en ældre version:": "%(n)s running case(s) are on an older version:",
    "Frister, der flyttes": "Deadlines that move",
    "Nu": "Now",
    "Bliver": "Becomes",
    "Ingen ventende frist flyttes; værdierne opdateres.": "No pending deadline moves; the values are updated.",
    "Jeg bekræfter, at de %(n)s sager flyttes til version %(v)s, og at fristerne ændres som vist.":
        "I confirm that the %(n)s cases move to version %(v)s and that the deadlines change as shown.",
    "Flyt de kørende sager": "Move the running cases",
    "Alle kørende sager er allerede på version %(v)s. Der er intet at flytte.":
        "All running cases are on version %(v)s already. There is nothing to move.",
    "Tilbage til politikken": "Back to the policy",
    "Ændr politikken": "Change the policy",
    "Lovens grænser gælder: en værdi uden for dem afvises med reglens ord, og intet gemmes.":
        "The law's bounds apply: a value outside them is refused with the rule's words, and nothing is stored.",
    "I kraft nu: version %(v)s.": "In force now: version %(v)s.",
    "Grænse:": "Bound:",
    "I kraft:": "In force:",
    "Skrives som ISO 8601-varighed, fx P14D, P3W, P2M.": "Written as an ISO 8601 duration, e.g. P14D, P3W, P2M.",
    "Gælder for nye sager fra": "Applies to new cases from",
    "Gem ny version": "Save new version",
    "Sammenlign politik": "Compare policy",
    "Anden kommune": "Other municipality",
    "Værdier i kraft side om side": "Values in force side by side",
    "forskellig": "differs",
    "%(ct)s: version %(v)s": "%(ct)s: version %(v)s",
    "Gælder fra %(day)s, sat af %(who)s.": "Applies from %(day)s, set by %(who)s.",
    "Begrundelse:": "Reason:",
    "Sammenlign med": "Compare with",
    "Version %(v)s fra %(day)s": "Version %(v)s from %(day)s",
    "To versioner side om side": "Two versions side by side",
})
ENGLISH.update({
    "Sagsnummeret skal være et tal.": "The case number must be a number.",
    "Revisionslog": "Audit log",
    "Hvem gjorde hvad i kommunen, og hvem så hvilke sager. Loggen kan kun læses; ingen række kan ændres eller "
    "slettes.": "Who did what in the municipality, and who viewed which cases. The log is read-only; no row can be "
               "changed or deleted.",
    "Vis sagsvisninger": "Show case views",
    "Bruger": "User",
    "Fra og med": "From",
    "Til og med": "To (inclusive)",
    "%(n)s hændelse(r).": "%(n)s event(s).",
    "Hent som CSV": "Download as CSV",
    "Hændelser i revisionsloggen": "Events in the audit log",
    "Tidspunkt": "Time",
    "Detaljer": "Details",
    "Ingen hændelser.": "No events.",
})
ENGLISH.update({
    "Vælg en zip-fil med kommunens mappe.": "Choose a zip file with the municipality's folder.",
    "%(file)s: key: kommunen %(key)s findes allerede; sæt kryds i »Opdatér en eksisterende kommune« for at ændre "
    "den.": "%(file)s: key: the municipality %(key)s exists already; tick “Update an existing municipality” to "
            "change it.",
    "Kommuner": "Municipalities",
    "%(name)s (%(key)s) er registreret.": "%(name)s (%(key)s) is registered.",
    "Registrér en kommune": "Register a municipality",
    "Upload kommunens mappe som zip-fil: municipality.json og kommunens egne BPMN-modeller (se "
    "docs/municipalities.md). Alt kontrolleres som ved »sagsflow municipality add«; ved den mindste fejl gemmes "
    "intet.": "Upload the municipality's folder as a zip file: municipality.json and the municipality's own BPMN "
              "models (see docs/municipalities.md). Everything is checked as by “sagsflow municipality add”; on "
              "the least problem nothing is stored.",
    "Kommunen er ikke registreret. Ret følgende:": "The municipality is not registered. Correct the following:",
    "Kommunens mappe (zip)": "The municipality's folder (zip)",
    "Højst 1 MB. Ingen symbolske links, ingen stier uden for mappen.":
        "At most 1 MB. No symbolic links, no paths outside the folder.",
    "Opdatér en eksisterende kommune": "Update an existing municipality",
    "Kontrollér og registrér": "Check and register",
    "Registrerede kommuner": "Registered municipalities",
    "Modeller for %(name)s": "Models of %(name)s",
    "Model": "Model",
    "Registreret": "Registered",
    "fælles model": "shared model",
    "Politikversioner for %(name)s": "Policy versions of %(name)s",
    "Afviger fra standard": "Differs from the default",
})
ENGLISH.update({
    "Fraværet er gemt. %(n)s opgave(r) er givet videre.": "The absence is saved. %(n)s task(s) were handed on.",
    "Brugeren er markeret som til stede. %(n)s opgave(r) er kommet tilbage.":
        "The user is marked as present. %(n)s task(s) came back.",
    "Opgaver i sager, brugeren ejer, går til stedfortræderen (hvis han eller hun har rollen) eller til rollens "
    "indbakke i mellemtiden og kommer tilbage bagefter. Tom slutdato: til stede.":
        "Tasks in cases the user owns go to the substitute (if they hold the role) or to the role's inbox "
        "meanwhile, and come back afterwards. No end date: present.",
    "Fraværende fra og med": "Absent from",
    "Stedfortræder": "Substitute",
    "Ingen (rollens indbakke)": "None (the role's inbox)",
})
ENGLISH.update({
    "Adgangskoden skal have mindst %(n)s tegn.": "The password must have at least %(n)s characters.",
    "Adgangskoden må ikke indeholde brugernavnet.": "The password must not contain the username.",
    "Adgangskoden kan ikke bruges.": "The password cannot be used.",
    "Vælg en ny adgangskode, ikke engangskoden.": "Choose a new password, not the one-time password.",
    "Opret en administrator for %(name)s": "Create an administrator for %(name)s",
    "Opret administrator": "Create administrator",
    "Skriv en dato som dd.mm.åååå.": "Enter a date as dd.mm.yyyy.",
})
