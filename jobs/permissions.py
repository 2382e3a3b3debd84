"""Who may do what. Four roles, each a Django group (created by a migration) that includes the
one before it: Viewer < Operator < Editor < Admin. Superusers are Admins.

Checked in the services, so the web pages and the API cannot disagree; views also use `can()`
to decide which buttons to show.
"""

from enum import IntEnum
from typing import Any

from django.core.exceptions import PermissionDenied
from django.utils.translation import gettext as _
from django.utils.translation import pgettext_lazy


class Role(IntEnum):
    VIEWER = 1
    OPERATOR = 2
    EDITOR = 3
    ADMIN = 4

    @property
    def group_name(self) -> str:
        return self.name.capitalize()

    @property
    def label(self) -> str:
        return str(ROLE_LABELS[self])


ROLE_LABELS = {
    Role.VIEWER: pgettext_lazy("role", "Viewer"),
    Role.OPERATOR: pgettext_lazy("role", "Operator"),
    Role.EDITOR: pgettext_lazy("role", "Editor"),
    Role.ADMIN: pgettext_lazy("role", "Admin"),
}


class RoleRequired(PermissionDenied):
    """Refused for want of a role; the message names the role needed and the one the person has."""

    def __init__(self, needed: Role, role: Role | None, message: str | None = None) -> None:
        self.needed = needed
        self.role = role
        if message is None:
            if role is None:
                message = _("This needs the %(needed)s role; you have no role yet.") % {
                    "needed": needed.label
                }
            else:
                message = _("This needs the %(needed)s role; yours is %(role)s.") % {
                    "needed": needed.label,
                    "role": role.label,
                }
        super().__init__(message)


# The least role each action needs.
ACTIONS: dict[str, Role] = {
    "view": Role.VIEWER,
    "operate": Role.OPERATOR,  # run now, pause, resume, cancel, retry
    "edit": Role.EDITOR,  # create, edit, clone, delete jobs that are not shell jobs
    "admin": Role.ADMIN,  # shell jobs, users and roles
}


def role_of(user: Any) -> Role | None:
    if user is None or not user.is_authenticated or not user.is_active:
        return None
    if user.is_superuser:
        return Role.ADMIN
    cached = getattr(user, "_cronadmin_role", False)
    if cached is not False:
        return cached
    names = set(user.groups.values_list("name", flat=True))
    roles = [role for role in Role if role.group_name in names]
    role = max(roles) if roles else None
    user._cronadmin_role = role
    return role


def needed_role(action: str, *, kind: str | None = None) -> Role:
    if kind == "shell" and action == "edit":
        return Role.ADMIN
    return ACTIONS[action]


def can(user: Any, action: str, *, kind: str | None = None) -> bool:
    """`user` None is the system itself (the scheduler, management commands): always allowed."""
    if user is None:
        return True
    role = role_of(user)
    return role is not None and role >= needed_role(action, kind=kind)


def require(user: Any, action: str, *, kind: str | None = None) -> None:
    if not can(user, action, kind=kind):
        needed, role = needed_role(action, kind=kind), role_of(user)
        if kind == "shell" and action == "edit":
            raise RoleRequired(
                needed, role, _("Only administrators may create or change shell jobs.")
            )
        raise RoleRequired(needed, role)
