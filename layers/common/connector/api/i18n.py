"""The pages' words in English and French, and which of the two a browser asked for.

The brand's operators are French: a page is French when the browser's Accept-Language ranks French above
English (q-values honoured, `q=0` meaning "not this one"), English otherwise. Reasons that come from Fastmag or
Le New Black are data, never translated.
"""

from __future__ import annotations

from typing import Literal

Language = Literal["en", "fr"]
LANGUAGES: tuple[Language, ...] = ("en", "fr")

# key → (English, French). Placeholders are str.format fields; the result is plain text, escaped by the caller.
_CATALOGUE: dict[str, tuple[str, str]] = {
    "status.title": ("Connector status", "État du connecteur"),
    "status.search": ("Find a key (EAN13, SKU, model, retailer, order)", "Chercher une clé (EAN13, SKU, modèle, …)"),
    "status.search.button": ("Open its history", "Voir son historique"),
    "health.last_success": ("Last success", "Dernier succès"),
    "health.last_run": ("Last run", "Dernière exécution"),
    "health.next_run": ("Next scheduled run", "Prochaine exécution planifiée"),
    "health.problems": ("Open problems", "Problèmes ouverts"),
    "health.never": ("never", "jamais"),
    "health.no_schedule": ("no schedule", "pas de planification"),
    "health.ago": ("{0} ago", "il y a {0}"),
    "schedule.enabled": ("enabled", "activée"),
    "schedule.disabled": ("disabled", "désactivée"),
    "schedule.unknown": ("unknown", "inconnue"),
    "schedules.title": ("Schedules", "Planifications"),
    "schedules.none_disabled": ("none while disabled", "aucune tant qu'elle est désactivée"),
    "schedules.within": ("within {0} (no tick seen yet)", "d'ici {0} (aucun déclenchement vu)"),
    "schedules.never": ("none (the expression names no later time)", "aucune (l'expression ne donne plus de date)"),
    "check.never": (
        "Configuration check: never run (<code>connector check</code>).",
        "Vérification de la configuration : jamais lancée (<code>connector check</code>).",
    ),
    "check.title": ("Configuration check", "Vérification de la configuration"),
    "check.counts": ("{0} ok, {1} failed", "{0} ok, {1} en échec"),
    "check.unknown": ("{0} unknown", "{0} inconnues"),
    "col.run": ("run", "exécution"),
    "col.trigger": ("trigger", "déclencheur"),
    "col.status": ("status", "état"),
    "col.started": ("started", "début"),
    "col.duration": ("duration", "durée"),
    "col.flow": ("flow", "flux"),
    "col.schedule": ("schedule", "planification"),
    "col.state": ("state", "état"),
    "col.expression": ("expression", "expression"),
    "col.next": ("next run", "prochaine"),
    "col.items": ("items", "éléments"),
    "col.reason": ("reason", "raison"),
    "col.order": ("order", "commande"),
    "col.outcome": ("outcome", "résultat"),
    "col.when": ("when", "quand"),
    "col.event": ("what happened", "événement"),
    "counter.read": ("read", "lus"),
    "counter.unchanged": ("unchanged", "inchangés"),
    "counter.sent": ("sent", "envoyés"),
    "counter.accepted": ("accepted", "acceptés"),
    "counter.rejected": ("rejected", "rejetés"),
    "counter.skipped": ("skipped", "ignorés"),
    "status.queued": ("queued", "en attente"),
    "status.running": ("running", "en cours"),
    "status.succeeded": ("succeeded", "réussie"),
    "status.partial": ("partial", "partielle"),
    "status.failed": ("failed", "échouée"),
    "status.held": ("held", "retenue"),
    "status.skipped": ("skipped", "sautée"),
    "trigger.button": ("button", "bouton"),
    "trigger.schedule": ("schedule", "planification"),
    "trigger.cli": ("command line", "ligne de commande"),
    "trigger.apply": ("apply", "application"),
    "run.preview": ("preview", "aperçu"),
    "run.none": ("No run yet.", "Aucune exécution pour l'instant."),
    "run.export": ("Export {0}", "Exporter {0}"),
    "run.history": ("Run history", "Historique des exécutions"),
    "run.title": ("Run {0}", "Exécution {0}"),
    "run.status": ("Status", "État"),
    "run.refreshes": (" (this page refreshes itself)", " (cette page se met à jour seule)"),
    "run.flow": ("Flow {0}, trigger {1}", "Flux {0}, déclencheur {1}"),
    "run.full": ("full", "complet"),
    "run.applies": ("applies preview", "applique l'aperçu"),
    "run.errors": ("Errors", "Erreurs"),
    "run.orders": ("Orders moved by this run", "Commandes traitées par cette exécution"),
    "run.send_anyway": ("Send anyway", "Envoyer quand même"),
    "run.send_anyway.help": (
        "A forced run of the same flow: the anomaly guard is bypassed. Check Fastmag first.",
        "Une exécution forcée du même flux, sans le garde-fou d'anomalie. Vérifiez Fastmag d'abord.",
    ),
    "run.back": ("Back to the status page", "Retour à l'état du connecteur"),
    "preview.download": ("Download the preview (JSON Lines)", "Télécharger l'aperçu (JSON Lines)"),
    "preview.download.help": (
        "The link is made when this page is shown and works for 15 minutes: reload the page for a new one.",
        "Le lien est créé à l'affichage de la page et vaut 15 minutes : rechargez la page pour un nouveau.",
    ),
    "preview.would_send": (
        "This preview would send {0} records ({1} new, {2} changed).",
        "Cet aperçu enverrait {0} enregistrements ({1} nouveaux, {2} modifiés).",
    ),
    "preview.apply": ("Send exactly this preview ({0} records)", "Envoyer exactement cet aperçu ({0} enregistrements)"),
    "preview.nothing": ("This preview would send nothing.", "Cet aperçu n'enverrait rien."),
    "preview.new": ("Run a new preview", "Lancer un nouvel aperçu"),
    "history.filter": ("Status", "État"),
    "history.all": ("all", "tous"),
    "history.show": ("Show", "Afficher"),
    "history.older": ("Older runs", "Exécutions plus anciennes"),
    "history.newest": ("Newest runs", "Exécutions récentes"),
    "confirm.preview": (
        "Preview only: compute and store what would be sent, send nothing",
        "Aperçu seulement : calculer et garder ce qui serait envoyé, ne rien envoyer",
    ),
    "confirm.full": (
        "Full: send every record, not only what changed",
        "Complet : tout envoyer, pas seulement les changements",
    ),
    "confirm.force": ("Force (bypass the anomaly guard)", "Forcer (sans le garde-fou d'anomalie)"),
    "confirm.force.help": (
        "The stock guard holds a push that would set too many SKUs with stock to zero at once, usually a Fastmag "
        "problem. Force only after checking Fastmag's stock.",
        "Le garde-fou retient un envoi qui mettrait d'un coup trop de SKU en stock à zéro, le plus souvent un "
        "problème côté Fastmag. Ne forcez qu'après avoir vérifié le stock dans Fastmag.",
    ),
    "confirm.confirm": ("Confirm", "Confirmer"),
    "confirm.cancel": ("Cancel", "Annuler"),
    # Refusals (connector.api.auth.Refusal values): what a refused browser reads, and the same words as JSON.
    "refusal.title": ("Access refused", "Accès refusé"),
    "refusal.missing": (
        "This page opens from its button in Fastmag: open it from there, or ask your administrator for a link.",
        "Cette page s'ouvre depuis son bouton dans Fastmag : ouvrez-la depuis Fastmag, "
        "ou demandez un lien à votre administrateur.",
    ),
    "refusal.invalid": (
        "This link is not valid any more: ask your administrator for a new one.",
        "Ce lien n'est plus valable : demandez-en un nouveau à votre administrateur.",
    ),
    "refusal.expired": (
        "Your session has ended: open the export again from its button in Fastmag.",
        "Votre session a expiré : rouvrez l'export depuis son bouton dans Fastmag.",
    ),
    "refusal.wrong_flow": (
        "This link opens another export: use this export's own button in Fastmag.",
        "Ce lien ouvre un autre export : utilisez le bouton de cet export dans Fastmag.",
    ),
    "refusal.no_csrf": (
        "This action must be sent from its page: reload the page and try again.",
        "Cette action doit partir de sa page : rechargez la page et recommencez.",
    ),
    "order.title": ("Order {0}", "Commande {0}"),
    "order.status": ("Status", "État"),
    "order.fastmag_number": ("Fastmag number", "Numéro Fastmag"),
    "order.lnb_status": ("Le New Black status", "État Le New Black"),
    "order.reason": ("Reason", "Raison"),
    "order.attempts": ("Attempts / automatic resends", "Tentatives / renvois automatiques"),
    "order.history": ("History", "Historique"),
    "order.runs": ("Runs that touched it", "Exécutions qui l'ont traitée"),
    "order.resolve": ("Resolve this stuck order", "Débloquer cette commande"),
    "order.resolve.exported": (
        "It is in Fastmag (give its number):",
        "Elle est dans Fastmag (donnez son numéro) :",
    ),
    "order.resolve.resend": ("It is not in Fastmag, send it again:", "Elle n'est pas dans Fastmag, la renvoyer :"),
    # Run and preview pages: counters' units, drill-down into the task log, preview review.
    "counter.warnings": ("warnings", "avertissements"),
    "counter.ignored": ("ignored", "écartés"),
    "counter.drift": ("drift", "écarts"),
    "counter.to stage": ("to stage", "à déposer"),
    "counter.staged": ("staged", "déposés"),
    "run.legend": ("What the counters count: {0}", "Ce que comptent les compteurs : {0}"),
    "run.warnings": ("Warnings (sent or kept with a caveat)", "Avertissements (envoyés ou gardés avec réserve)"),
    "run.uploads": ("Uploads to Le New Black", "Envois à Le New Black"),
    "uploads.staged": ("staged in S3", "déposés dans S3"),
    "uploads.uploaded": ("uploaded", "envoyés"),
    "uploads.failed": ("failed", "en échec"),
    "uploads.pending": ("pending", "en attente"),
    "run.readiness_report": ("Open the readiness report", "Ouvrir le rapport de préparation"),
    "run.reconcile_report": ("Open the reconcile report", "Ouvrir le rapport de rapprochement"),
    "records.title": ("Records rejected, skipped or warned", "Enregistrements rejetés, ignorés ou avec avertissement"),
    "records.none": ("No record matches.", "Aucun enregistrement ne correspond."),
    "records.no_log": ("This run logged no record outcome.", "Cette exécution n'a consigné aucun enregistrement."),
    "records.download": ("Download every record outcome:", "Télécharger tous les résultats :"),
    "records.problems": ("rejected, skipped or warned", "rejetés, ignorés ou avertis"),
    "records.search": ("Key contains", "La clé contient"),
    "records.shown": ("{0}–{1} of {2}", "{0}–{1} sur {2}"),
    "records.previous": ("Previous", "Précédents"),
    "records.next": ("Next", "Suivants"),
    "outcome.sent": ("sent", "envoyé"),
    "outcome.rejected": ("rejected", "rejeté"),
    "outcome.skipped": ("skipped", "ignoré"),
    "outcome.blocked": ("blocked", "bloqué"),
    "outcome.warned": ("warned", "averti"),
    "outcome.staged": ("staged", "déposé"),
    "outcome.uploaded": ("uploaded", "envoyé"),
    "outcome.error": ("error", "erreur"),
    "outcome.info": ("info", "info"),
    "col.key": ("key", "clé"),
    "col.what": ("what", "quoi"),
    "col.resource": ("resource", "ressource"),
    "col.change": ("change", "changement"),
    "col.fields": ("old → new", "avant → après"),
    "change.new": ("new", "nouveau"),
    "change.changed": ("changed", "modifié"),
    "change.unchanged": ("unchanged", "inchangé"),
    "change.skipped": ("skipped", "ignoré"),
    "preview.counts": ("What this preview holds", "Contenu de cet aperçu"),
    "preview.others": ("{0} skipped, {1} warnings", "{0} ignorés, {1} avertissements"),
    "preview.items": ("Its records", "Ses enregistrements"),
    "preview.all": ("all", "tous"),
    "preview.no_old": ("(old value not known)", "(ancienne valeur inconnue)"),
    "when.at": ("{0} at {1}", "{0} à {1}"),
    # --- The reconcile report page (api/reconcile_page.py) ---
    "reconcile.title": ("Reconcile report {0}", "Rapport de rapprochement {0}"),
    "reconcile.resource": ("Resource", "Ressource"),
    "reconcile.missing": ("Missing in Le New Black", "Absent de Le New Black"),
    "reconcile.different": ("Different in Le New Black", "Différent dans Le New Black"),
    "reconcile.unknown": ("Unknown to Fastmag (kept)", "Inconnu de Fastmag (conservé)"),
    "reconcile.equal": ("Equal", "Identiques"),
    "reconcile.shown": ("shown", "affichée"),
    "reconcile.key": ("Key", "Clé"),
    "reconcile.drift": ("Drift", "Écart"),
    "reconcile.field": ("Field", "Champ"),
    "reconcile.old": ("In Le New Black", "Dans Le New Black"),
    "reconcile.new": ("From Fastmag", "Depuis Fastmag"),
    "reconcile.none": (
        "No drift: Le New Black holds what Fastmag would send.",
        "Aucun écart : Le New Black contient ce que Fastmag enverrait.",
    ),
    "reconcile.range": ("Records {0}–{1} of {2}.", "Enregistrements {0} à {1} sur {2}."),
    "reconcile.next": ("Next page", "Page suivante"),
    "reconcile.csv": ("Download (CSV)", "Télécharger (CSV)"),
    "reconcile.all": ("every resource", "toutes les ressources"),
    "reconcile.run": ("The reconcile run", "L'exécution du rapprochement"),
    "reconcile.repair": ("Repair (preview first)", "Réparer (aperçu d'abord)"),
    "reconcile.repair.help": (
        "Reconciles again and shows exactly what a repair would send; nothing is sent until you confirm on its page. "
        "Records unknown to Fastmag are never deleted.",
        "Rapproche à nouveau et montre exactement ce qu'une réparation enverrait ; rien ne part avant votre "
        "confirmation sur sa page. Les enregistrements inconnus de Fastmag ne sont jamais supprimés.",
    ),
    # One key's page (api/key_html.py).
    "key.title": ("Key {0}", "Clé {0}"),
    "key.kind": ("Read as: {0}", "Lue comme : {0}"),
    "key.differences": ("Differences", "Différences"),
    "key.field": ("field", "champ"),
    "key.connector": ("the connector would send", "le connecteur enverrait"),
    "key.lnb": ("Le New Black holds", "Le New Black contient"),
    "key.events": ("Recent events", "Événements récents"),
    "key.events.loading": ("Searching the runs' records…", "Recherche dans les exécutions…"),
    "key.events.none": ("No event for this key.", "Aucun événement pour cette clé."),
    "key.event.at": ("when", "quand"),
    "key.event.flow": ("flow", "flux"),
    "key.event.event": ("what happened", "événement"),
    "key.event.outcome": ("outcome", "résultat"),
    "key.event.reason": ("reason", "raison"),
    "key.event.old": ("before", "avant"),
    "key.event.new": ("after", "après"),
}

_DAYS: dict[Language, tuple[str, ...]] = {
    "en": ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"),
    "fr": ("lun.", "mar.", "mer.", "jeu.", "ven.", "sam.", "dim."),
}


def weekday(language: Language, index: int) -> str:
    """Day names spelled out here: strftime's follow the process locale."""
    return _DAYS[language][index]


def known(key: str) -> bool:
    """Whether the catalogue has words for `key` (a label that is data otherwise stays as it is)."""
    return key in _CATALOGUE


def text(language: Language, key: str, *values: object) -> str:
    english, french = _CATALOGUE[key]
    return (french if language == "fr" else english).format(*values)


def preferred_language(accept_language: str | None) -> Language:
    """French when the header ranks some French above every English (ties go to the earlier one), else English.

    `fr-CH;q=0.8, en;q=0.5` → fr; `en-GB, fr;q=0.9` → en; `fr;q=0` → en; `*` alone → en.
    """
    best: dict[Language, tuple[float, int]] = {}
    for position, part in enumerate((accept_language or "").split(",")):
        tag, _, parameters = part.strip().partition(";")
        primary = tag.strip().lower().split("-")[0]
        if primary not in LANGUAGES:
            continue
        quality = 1.0
        for parameter in parameters.split(";"):
            name, _, value = parameter.strip().partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = min(max(float(value), 0.0), 1.0)
                except ValueError:
                    quality = 0.0  # an unreadable weight: not a preference
        language: Language = "fr" if primary == "fr" else "en"
        if quality > 0 and (language not in best or quality > best[language][0]):
            best[language] = (quality, -position)
    if "fr" in best and ("en" not in best or best["fr"] > best["en"]):
        return "fr"
    return "en"
