"""English for the Simulér page (inbox/simulation.py, templates/simulation*.html)."""

ENGLISH = {
    "I kø": "Queued",
    "Kører": "Running",
    "Færdig": "Done",
    "Fejlet": "Failed",
    "Egen kommune": "Own municipality",
    "Anden kommune": "Other municipality",
    "Politikændring": "Policy change",
    "Udkast fra studiet": "Studio draft",
    "Skriv antal nye sager pr. uge som et tal mellem 0,1 og 100.":
        "Enter the new cases per week as a number between 0.1 and 100.",
    "Skriv perioden i år som et tal mellem 0,1 og 5.": "Enter the period in years as a number between 0.1 and 5.",
    "Skriv indkøringsperioden som et helt antal uger (0 eller mere).":
        "Enter the warm-up as a whole number of weeks (0 or more).",
    "Indkøringsperioden skal være kortere end perioden (%(weeks)s uger er ikke kortere end %(years)s år).":
        "The warm-up must be shorter than the period (%(weeks)s weeks is not shorter than %(years)s years).",
    "Højst antal sager skal være et helt tal fra 1 til 5000, eller tomt.":
        "The maximum number of cases must be a whole number from 1 to 5000, or empty.",
    "Antal gentagelser skal være et helt tal fra 1 til 10.": "Replications must be a whole number from 1 to 10.",
    "Startværdien skal være et helt tal fra 0 til 999999.": "The seed must be a whole number from 0 to 999999.",
    "Mødepladser pr. uge skal være et helt tal fra 1 til 200.":
        "Meeting slots per week must be a whole number from 1 to 200.",
    "Mødepladser pr. uge skal kunne deles ligeligt på de %(n)s mødedage.":
        "Meeting slots per week must divide evenly over the %(n)s meeting days.",
    "Antal medarbejdere skal være et helt tal fra 1 til 500, eller tomt (ingen begrænsning).":
        "The number of staff must be a whole number from 1 to 500, or empty (no limit).",
    "Vælg en parameter fra politikkataloget.": "Choose a parameter from the policy catalogue.",
    "Skriv den foreslåede værdi for «%(label)s».": "Enter the proposed value for “%(label)s”.",
    "«%(value)s» kan ikke læses: skriv en varighed som P10D, P3W eller P2M, ja/nej eller et helt tal.":
        "“%(value)s” cannot be read: enter a duration such as P10D, P3W or P2M, yes/no (ja/nej) or a whole number.",
    "«%(label)s» skal være %(bound)s; %(value)s ligger uden for.":
        "“%(label)s” must be %(bound)s; %(value)s is outside.",
    "%(value)s er den værdi, der gælder nu; foreslå en anden værdi.":
        "%(value)s is the value in force now; propose another value.",
    "%(name)s med %(label)s = %(value)s": "%(name)s with %(label)s = %(value)s",
    "Vælg den parameter, værdien skal gælde for.": "Choose the parameter the value is for.",
    "%(name)s med udkastet «%(title)s»": "%(name)s with the draft “%(title)s”",
    "Vælg mindst én variant at simulere.": "Choose at least one variant to simulate.",
    "Vælg højst %(n)s varianter i én kørsel.": "Choose at most %(n)s variants in one run.",
    "Kørslen er for stor: omkring %(n)s simulerede sager i alt (højst %(max)s). Vælg færre varianter, gentagelser "
    "eller år, eller sæt et højeste antal sager.":
        "The run is too large: about %(n)s simulated cases in all (at most %(max)s). Choose fewer variants, "
        "replications or years, or set a maximum number of cases.",
    "Simulering med %(n)s variant(er)": "Simulation with %(n)s variant(s)",
    "Faktisk: %(name)s": "Actual: %(name)s",
    "Simuleret: %(label)s": "Simulated: %(label)s",
    "Simuleret og faktisk: en række pr. mål, en kolonne pr. variant":
        "Simulated and actual: a row per measure, a column per variant",
    "Forløbstider: gennemsnit over gentagelserne med 95 %-interval (dage)":
        "Lead times: mean over the replications with 95% interval (days)",
    "Simulerede sager pr. gentagelse": "Simulated cases per replication",
    "Simuleret mod faktisk for %(name)s: forløbstider (dage)": "Simulated against actual for %(name)s: lead times (days)",
    "Simuleret, median": "Simulated, median",
    "Faktisk, median": "Actual, median",
    "Forskel": "Difference",
    "Simuleret, gennemsnit": "Simulated, mean",
    "Faktisk, gennemsnit": "Actual, mean",
    "Faktiske sager": "Actual cases",
    "Nye sager pr. uge": "New cases per week",
    "Højst antal sager": "Maximum number of cases",
    "Periode (år)": "Period (years)",
    "Indkøringsperiode (uger)": "Warm-up (weeks)",
    "Mødepladser pr. uge": "Meeting slots per week",
    "Gentagelser": "Replications",
    "Startværdi": "Seed",
    "Medarbejdere": "Staff",
    "ingen begrænsning": "no limit",
    "ubegrænset": "unlimited",
    "Simulér": "Simulate",
    "Simulér: %(name)s": "Simulate: %(name)s",
    "Hvad sker der med ventetider, frister og udfald, hvis vi arbejder som en anden kommune, ændrer politikken eller "
    "tager et udkast fra studiet i brug? Simuleringen kører de rigtige modeller med jeres sagsmængde og medarbejdere.":
        "What happens to waiting times, deadlines and outcomes if we work like another municipality, change the "
        "policy or adopt a draft from the studio? The simulation runs the real models with your case load and staff.",
    "Ingen baggrundsproces kører lige nu. En ny kørsel venter i køen, til en baggrundsproces (sagsflow worker eller "
    "sagsflow run) starter.":
        "No background worker is running right now. A new run waits in the queue until a worker (sagsflow worker or "
        "sagsflow run) starts.",
    "Navn på kørslen": "Name of the run",
    "valgfrit": "optional",
    "Varianter": "Variants",
    "Alle varianter får den samme sagsmængde og de samme tilfældige udfald.":
        "Every variant gets the same case load and the same random outcomes.",
    "%(name)s (egen kommune, som I arbejder nu)": "%(name)s (own municipality, as you work now)",
    "%(name)s (deres modeller og politik med jeres sagsmængde)": "%(name)s (their models and policy with your case load)",
    "Udkast fra studiet: «%(title)s» (%(ct)s)": "Studio draft: “%(title)s” (%(ct)s)",
    "Egen kommune med en foreslået politikændring": "Own municipality with a proposed policy change",
    "Parameter fra politikkataloget": "Parameter from the policy catalogue",
    "Ingen ændring": "No change",
    "nu": "now",
    "grænse:": "bound:",
    "Foreslået værdi": "Proposed value",
    "Varighed som ISO 8601, fx P10D (10 dage), P3W (3 uger), P2M (2 måneder); ja/nej; eller et helt tal. Værdien "
    "skal ligge inden for lovens grænser.":
        "A duration as ISO 8601, e.g. P10D (10 days), P3W (3 weeks), P2M (2 months); ja/nej (yes/no); or a whole "
        "number. The value must lie within the statutory bounds.",
    "Scenarie": "Scenario",
    "Rehabiliteringssager; de går videre til ressourceforløb, fleksjob og førtidspension som i modellerne.":
        "Rehabilitation team cases; they go on to resource programmes, flex jobs and disability pension as in the "
        "models.",
    "Tomt: nye sager i hele perioden.": "Empty: new cases for the whole period.",
    "Fx 1 eller 0,5.": "E.g. 1 or 0.5.",
    "Forløb, der starter i indkøringen, tælles ikke med.": "Intervals that start in the warm-up are not counted.",
    "Flere gentagelser giver et snævrere interval (1-10).": "More replications give a narrower interval (1-10).",
    "Startværdi for tilfældighed": "Random seed",
    "Samme startværdi giver samme resultat.": "The same seed gives the same result.",
    "Mødepladser pr. uge i rehabiliteringsteamet": "Rehabilitation team meeting slots per week",
    "Medarbejdere pr. rolle": "Staff per role",
    "Tomt: rollen er ikke en flaskehals.": "Empty: the role is not a bottleneck.",
    "Start simulering": "Start simulation",
    "Tidligere kørsler": "Earlier runs",
    "Kørsel": "Run",
    "Bestilt": "Requested",
    "Ingen kørsler endnu.": "No runs yet.",
    "Simulering #%(id)s": "Simulation #%(id)s",
    "Tilbage til Simulér": "Back to Simulate",
    "Simulering #%(id)s: %(title)s": "Simulation #%(id)s: %(title)s",
    "Bestilt %(when)s af %(who)s": "Requested %(when)s by %(who)s",
    "Fremskridt": "Progress",
    "Siden opdaterer sig selv, mens kørslen står i kø og kører, og viser resultatet, når den er færdig.":
        "The page updates itself while the run is queued and running, and shows the result when it is done.",
    "Ingen baggrundsproces kører lige nu. Kørslen venter i køen, til en baggrundsproces (sagsflow worker eller "
    "sagsflow run) starter.":
        "No background worker is running right now. The run waits in the queue until a worker (sagsflow worker or "
        "sagsflow run) starts.",
    "Bemærkning:": "Note:",
    "Kørslen fejlede": "The run failed",
    "Varianter og scenarie": "Variants and scenario",
    "Resultat": "Result",
    "Simulerede tal er gennemsnit over gentagelserne; de faktiske tal er egne sager i %(name)s af samme sagstype "
    "fra %(from)s til %(to)s, beregnet %(when)s med de samme definitioner (Overblik og Sammenlign).":
        "Simulated figures are means over the replications; the actual figures are %(name)s's own cases of the same "
        "case type from %(from)s to %(to)s, computed %(when)s with the same definitions (Overview and Compare).",
    "Forløbstider, median i dage, pr. variant og faktisk": "Lead times, median in days, per variant and actual",
    "Sat i kø igen: baggrundsprocessen blev stoppet.": "Put back in the queue: the worker was stopped.",
    "Sat i kø igen: baggrundsprocessen %(worker)s stoppede under kørslen.":
        "Put back in the queue: the worker %(worker)s stopped while running it.",
    "Sat i kø igen: baggrundsprocessen %(worker)s meldte ikke fremskridt i %(time)s.":
        "Put back in the queue: the worker %(worker)s reported no progress for %(time)s.",
    "Kørslen blev afbrudt %(n)s gange og prøves ikke igen. Sidst: %(last)s":
        "The run was interrupted %(n)s times and is not tried again. Last: %(last)s",
    "Teknisk fejl: %(error)s": "Technical error: %(error)s",
    "Ny kørsel med disse indstillinger": "New run with these settings",
}
