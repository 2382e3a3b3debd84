"""The Django admin, for diagnosis. Operators use the product's own pages and the API, which go
through the services; here the ledger and scheduler tables are read-only."""

from django.contrib import admin

from jobs.models import AuditEvent, Job, JobVersion, Run, SchedulerLease, SchedulerNode


def superusers_only(request) -> bool:  # type: ignore[no-untyped-def]
    # Whoever edits users here can make anyone a superuser: the Admin role (or staff status)
    # alone must not open it (docs/ui.md).
    return request.user.is_active and request.user.is_superuser


admin.site.has_permission = superusers_only  # type: ignore[method-assign]


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request, obj=None) -> bool:  # type: ignore[no-untyped-def]
        return False

    def has_change_permission(self, request, obj=None) -> bool:  # type: ignore[no-untyped-def]
        return False

    def has_delete_permission(self, request, obj=None) -> bool:  # type: ignore[no-untyped-def]
        return False


@admin.register(Job)
class JobAdmin(ReadOnlyAdmin):
    list_display = ["name", "kind", "schedule", "timezone", "state", "version", "updated_at"]
    list_filter = ["state", "kind"]
    search_fields = ["name", "description"]


@admin.register(JobVersion)
class JobVersionAdmin(ReadOnlyAdmin):
    list_display = ["job", "version", "created_at", "created_by"]
    list_select_related = ["job", "created_by"]


@admin.register(Run)
class RunAdmin(ReadOnlyAdmin):
    list_display = [
        "id",
        "job",
        "trigger",
        "state",
        "scheduled_for",
        "started_at",
        "finished_at",
        "attempt",
    ]
    list_filter = ["state", "trigger"]
    list_select_related = ["job"]
    raw_id_fields = ["job", "retry_of", "node", "requested_by"]
    show_full_result_count = False


@admin.register(SchedulerNode)
class SchedulerNodeAdmin(ReadOnlyAdmin):
    list_display = ["host", "pid", "started_at", "heartbeat_at", "stopped_at", "applied_change"]


@admin.register(SchedulerLease)
class SchedulerLeaseAdmin(ReadOnlyAdmin):
    list_display = ["name", "holder", "term", "renewed_at", "expires_at"]


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = ["at", "actor_name", "action", "object_type", "object_id", "object_repr", "ip"]
    list_filter = ["action", "object_type"]
    search_fields = ["actor_name", "object_repr"]
