"""English for the administration area (inbox/admin.py, templates/admin/, the password page)."""

ENGLISH = {
    "Rollerne er gemt.": "The roles are saved.",
    "%(user)s er deaktiveret. %(n)s opgave(r) er lagt tilbage i rollernes indbakke, og teamlederen har fået besked.":
        "%(user)s is deactivated. %(n)s task(s) went back to the roles' inbox, and the team leader was told.",
    "Brugeren er aktiv igen.": "The user is active again.",
    "Brugerens sessioner og API-nøgler er afsluttet.": "The user's sessions and API keys are ended.",
    "Skriv en dato (ÅÅÅÅ-MM-DD).": "Enter a date (YYYY-MM-DD).",
    "Fraværet er gemt.": "The absence is saved.",
    "Brugeren er markeret som til stede.": "The user is marked as present.",
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
    "Opgaver i sager, brugeren ejer, går til rollens indbakke i mellemtiden. Tom: til stede.":
        "Tasks in cases the user owns go to the role's inbox meanwhile. Empty: present.",
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
