"""Re-encrypting the stored secrets of job settings with the current key (key rotation)."""

from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from jobs.kinds.http import map_header_values
from jobs.models import Job, JobVersion
from jobs.vault import VaultError, is_sealed, reseal


def job_secrets_reencrypt(*, from_secret_key: bool = False, batch_size: int = 200) -> int:
    """Encrypt every stored secret with the first of CRONADMIN_ENCRYPTION_KEYS; returns how many
    rows (jobs and saved versions) changed.

    Rows are rewritten with QuerySet.update(): the definition does not change, so no version is
    made and updated_at stays, while the database trigger still tells the scheduler. Each batch
    commits on its own and re-running is harmless, so a failure part-way loses nothing: every
    value is readable with the keys configured. `from_secret_key`: see vault.reseal.
    """
    changed = 0
    jobs = Job.objects.filter(kind=Job.Kind.HTTP)
    for ids in _batches(jobs.values_list("pk", flat=True), batch_size):
        with transaction.atomic():
            for job in Job.objects.select_for_update().filter(pk__in=ids):
                config = _resealed(job.config, f"job {job.pk}", from_secret_key)
                if config != job.config:
                    Job.objects.filter(pk=job.pk).update(config=config)
                    changed += 1
    versions = JobVersion.objects.filter(definition__kind=Job.Kind.HTTP)
    for ids in _batches(versions.values_list("pk", flat=True), batch_size):
        with transaction.atomic():
            for saved in JobVersion.objects.select_for_update().filter(pk__in=ids):
                definition = saved.definition
                config = definition.get("config")
                if not isinstance(config, dict):
                    continue
                where = f"version {saved.version} of job {saved.job_id}"
                resealed = _resealed(config, where, from_secret_key)
                if resealed != config:
                    definition = {**definition, "config": resealed}
                    JobVersion.objects.filter(pk=saved.pk).update(definition=definition)
                    changed += 1
    return changed + _webhook_urls_reencrypt(from_secret_key, batch_size)


def _webhook_urls_reencrypt(from_secret_key: bool, batch_size: int) -> int:
    """The notification webhooks' URLs, in jobs and saved versions, like the headers above."""
    changed = 0
    jobs = Job.objects.exclude(notify_webhook_url="")
    for ids in _batches(jobs.values_list("pk", flat=True), batch_size):
        with transaction.atomic():
            for job in Job.objects.select_for_update().filter(pk__in=ids):
                url = _resealed_url(job.notify_webhook_url, f"job {job.pk}", from_secret_key)
                if url != job.notify_webhook_url:
                    Job.objects.filter(pk=job.pk).update(notify_webhook_url=url)
                    changed += 1
    versions = JobVersion.objects.filter(definition__has_key="notify_webhook_url")
    for ids in _batches(versions.values_list("pk", flat=True), batch_size):
        with transaction.atomic():
            for saved in JobVersion.objects.select_for_update().filter(pk__in=ids):
                value = saved.definition.get("notify_webhook_url")
                where = f"version {saved.version} of job {saved.job_id}"
                url = _resealed_url(value, where, from_secret_key)
                if url != value:
                    definition = {**saved.definition, "notify_webhook_url": url}
                    JobVersion.objects.filter(pk=saved.pk).update(definition=definition)
                    changed += 1
    return changed


def _resealed_url(value: Any, where: str, from_secret_key: bool) -> Any:
    if not is_sealed(value):
        return value
    try:
        return reseal(value, from_secret_key=from_secret_key)
    except VaultError as exc:
        raise ValidationError(
            _("The notification webhook of %(where)s: %(error)s") % {"where": where, "error": exc},
            code="undecryptable",
        ) from None


def _resealed(config: Any, where: str, from_secret_key: bool) -> Any:
    if not isinstance(config, dict):
        return config

    def change(name: str, value: str) -> str:
        if not is_sealed(value):
            return value
        try:
            return reseal(value, from_secret_key=from_secret_key)
        except VaultError as exc:
            raise ValidationError(
                _("The %(name)s header of %(where)s: %(error)s")
                % {"name": name, "where": where, "error": exc},
                code="undecryptable",
            ) from None

    return map_header_values(config, change)


def _batches(ids: Any, size: int) -> list[list[int]]:
    # Ids are read first: rewriting rows while iterating a cursor over them is not portable.
    every = list(ids.order_by("pk"))
    return [every[i : i + size] for i in range(0, len(every), size)]
