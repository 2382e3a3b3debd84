"""The person's own settings: language, time zone, password and API tokens."""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRefresh

from jobs import services
from jobs.forms import ApiTokenForm, ProfileForm, add_service_errors, timezone_names
from jobs.models import ApiToken, UserProfile


def _profile_initial(request: HttpRequest) -> dict[str, str]:
    profile = UserProfile.objects.filter(user=request.user).first()
    return {"language": profile.language, "timezone": profile.timezone} if profile else {}


@require_http_methods(["GET", "POST"])
@login_required
def profile(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        form = ProfileForm(request.POST)
        if form.is_valid():
            try:
                services.profile_update(
                    actor=request.user,
                    language=form.cleaned_data["language"],
                    timezone_name=form.cleaned_data["timezone"].strip(),
                )
            except ValidationError as exc:
                add_service_errors(form, exc)
            else:
                messages.success(request, _("Your preferences are saved."))
                response = HttpResponseRedirect(reverse("jobs:profile"))
                _remember_language(response, form.cleaned_data["language"])
                return response
    else:
        form = ProfileForm(initial=_profile_initial(request))
    context = {"form": form, "timezones": timezone_names(), **_tokens_context(request)}
    return render(request, "jobs/profile.html", context)


def _tokens_context(
    request: HttpRequest, form: ApiTokenForm | None = None, new_token: str = ""
) -> dict[str, object]:
    tokens = ApiToken.objects.filter(user=request.user, revoked_at__isnull=True)
    return {"tokens": tokens, "token_form": form or ApiTokenForm(), "new_token": new_token}


def _tokens_response(request: HttpRequest, **context: object) -> HttpResponse:
    if request.htmx:
        return render(request, "jobs/_api_tokens.html", _tokens_context(request, **context))
    page = {"form": ProfileForm(initial=_profile_initial(request)), "timezones": timezone_names()}
    return render(request, "jobs/profile.html", {**page, **_tokens_context(request, **context)})


def get_own_token(request: HttpRequest, pk: int) -> ApiToken:
    # Someone else's token is "not found", not "forbidden": its existence is nobody's business.
    return get_object_or_404(ApiToken, pk=pk, user=request.user, revoked_at__isnull=True)


@require_POST
@login_required
def api_token_create(request: HttpRequest) -> HttpResponse:
    form = ApiTokenForm(request.POST)
    if not form.is_valid():
        return _tokens_response(request, form=form)
    try:
        _token, secret = services.api_token_create(
            actor=request.user, user=request.user, name=form.cleaned_data["name"]
        )
    except ValidationError as exc:
        form.add_error("name", exc.messages)
        return _tokens_response(request, form=form)
    # Shown in this one answer and never again: only its hash is stored.
    return _tokens_response(request, new_token=secret)


@require_POST
@login_required
def api_token_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    services.api_token_revoke(actor=request.user, token=get_own_token(request, pk))
    messages.success(request, _("Token revoked."))
    return _tokens_response(request)


@require_POST
def language_set(request: HttpRequest) -> HttpResponse:
    """The language switch in the header: saved in the profile when logged in, else a cookie."""
    language = request.POST.get("language", "")
    target = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        target = reverse("jobs:dashboard")
    response = HttpResponseRedirect(target)
    if language not in dict(settings.LANGUAGES):
        return response
    if request.user.is_authenticated:
        saved = UserProfile.objects.filter(user=request.user).values_list("timezone", flat=True)
        services.profile_update(
            actor=request.user, language=language, timezone_name=saved.first() or ""
        )
    _remember_language(response, language)
    return response


def _remember_language(response: HttpResponse, language: str) -> None:
    if language:
        response.set_cookie(
            settings.LANGUAGE_COOKIE_NAME,
            language,
            max_age=365 * 24 * 3600,
            samesite="Lax",
            secure=settings.SESSION_COOKIE_SECURE,
        )
    else:
        response.delete_cookie(settings.LANGUAGE_COOKIE_NAME)


def _safe_next(request: HttpRequest) -> str:
    target = request.POST.get("next", "")
    allowed = url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    )
    return target if allowed else ""


@require_POST
@login_required
def profile_timezone(request: HttpRequest) -> HttpResponse:
    """Take the time zone a first visit offers (the browser's), or keep the one shown."""
    try:
        services.profile_timezone_set(
            actor=request.user, timezone_name=request.POST.get("timezone", "").strip()
        )
    except ValidationError as exc:
        if request.htmx:
            context = {"zone_error": " ".join(exc.messages), "zone_unset": True}
            return render(request, "includes/zone_offer.html", context)
        messages.warning(request, " ".join(exc.messages))
    if request.htmx:
        # Every time on the page was drawn in the old zone.
        return HttpResponseClientRefresh()
    return HttpResponseRedirect(_safe_next(request) or reverse("jobs:profile"))
