"""English for the model texts area (issue 14.7): what the UI says about the English a
model declares beside its Danish."""
ENGLISH = {
    "Advarsler: disse tekster i modellerne har ingen engelsk oversættelse og vises på dansk, også for "
    "brugere, der har valgt engelsk.":
        "Warnings: these texts in the models have no English translation and are shown in Danish, also to "
        "users who chose English.",
}
