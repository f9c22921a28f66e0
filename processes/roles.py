"""The role catalogue (``processes.md`` §1). BPMN lane labels map to these keys."""

ROLES: dict[str, tuple[str, str]] = {
    "sagsbehandler": ("Sagsbehandler (myndighed)", "Caseworker"),
    "fagkonsulent": ("Fagkonsulent", "Specialist consultant"),
    "sekretariat": ("Rehabiliteringsteamets sekretariat", "Team secretariat"),
    "sundhedskoordinator": ("Sundhedskoordinator", "Health coordinator"),
    "moedeleder": ("Mødeleder", "Meeting chair"),
    "rehabiliteringsteam": ("Rehabiliteringsteamet", "Rehabilitation team"),
    "jobcenterrepraesentant": ("Jobcentrets repræsentant i rehabiliteringsteamet",
                               "Jobcentre representative on the team"),
    "afgoerelse": ("Afgørelsesteam", "Decision unit"),
    "pensionsteam": ("Pensionsteam", "Pension team"),
    "koordinerende_sagsbehandler": ("Koordinerende sagsbehandler", "Coordinating caseworker"),
    "virksomhedskonsulent": ("Virksomhedskonsulent", "Employer consultant"),
    "ydelse": ("Ydelsessagsbehandler", "Benefits officer"),
    "teamleder": ("Teamleder", "Team leader"),
    "leder": ("Leder", "Manager"),
    "procesdesigner": ("Procesdesigner", "Process designer"),
}
