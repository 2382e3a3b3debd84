"""`{% schedule_builder form %}`: the builder drawn with the job form, showing its schedule."""

from typing import Any

from django import template

from jobs.schedule_builder_form import ScheduleBuilderForm

register = template.Library()


@register.inclusion_tag("jobs/_schedule_builder.html")
def schedule_builder(form: Any) -> dict[str, Any]:
    return {"builder": ScheduleBuilderForm.for_schedule(str(form["schedule"].value() or ""))}
