"""English of the notification texts (processes/notices.py TEXTS, extracted by scripts/translations)."""

ENGLISH = {
    "Frist nærmer sig: %(task)s": "Deadline approaching: %(task)s",
    "Fristen udløber %(due)s (sag %(case)s).": "The deadline is %(due)s (case %(case)s).",
    "Fristen er overskredet: %(task)s": "The deadline has passed: %(task)s",
    "Fristen udløb %(due)s (sag %(case)s). Opgaven er stadig åben.":
        "The deadline was %(due)s (case %(case)s). The task is still open.",
    "Frist overskredet: %(rule)s": "Deadline breached: %(rule)s",
    "Fristen udløb %(due)s (sag %(case)s, %(case_type)s).": "The deadline was %(due)s (case %(case)s, %(case_type)s).",
    "Servicemål overskredet: %(target)s": "Service target missed: %(target)s",
    "Målet var %(due)s (sag %(case)s, start %(start)s).": "The target was %(due)s (case %(case)s, start %(start)s).",
    "Servicemål nærmer sig: %(target)s": "Service target approaching: %(target)s",
    "Målet er %(due)s (sag %(case)s).": "The target is %(due)s (case %(case)s).",
    "Opgave givet til dig: %(task)s": "Task given to you: %(task)s",
    "%(actor)s har givet dig opgaven (sag %(case)s).": "%(actor)s has given you the task (case %(case)s).",
    "Levering mislykkedes %(attempts)s gange (%(channel)s)": "Delivery failed %(attempts)s times (%(channel)s)",
    "Udgående %(channel)s #%(item)s: %(error)s": "Outgoing %(channel)s #%(item)s: %(error)s",
    "%(user)s (%(username)s) er deaktiveret": "%(user)s (%(username)s) is deactivated",
    "%(count)s opgave(r), som %(user)s havde taget, er lagt tilbage i rollernes fælles indbakke%(released)s":
        "%(count)s task(s) that %(user)s had claimed are back in the roles' shared inbox%(released)s",
}
