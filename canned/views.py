"""The agents' page for their canned responses, and the reply box's suggestions."""

from django.contrib import messages as flash
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from canned import selectors, services
from canned.forms import CannedResponseForm
from canned.models import CannedResponse
from conversations.models import Conversation


@login_required
@require_GET
def canned_list(request: HttpRequest) -> HttpResponse:
    responses = selectors.canned_usable(user=request.user).select_related("owner")
    manageable = set(selectors.canned_manageable(user=request.user).values_list("pk", flat=True))
    return render(
        request,
        "canned/list.html",
        {"responses": [(r, r.pk in manageable) for r in responses]},
    )


def _form_page(request: HttpRequest, form: CannedResponseForm, response: CannedResponse | None) -> HttpResponse:
    return render(request, "canned/form.html", {"form": form, "response": response}, status=400 if form.errors else 200)


@login_required
@require_http_methods(["GET", "POST"])
def canned_create(request: HttpRequest) -> HttpResponse:
    form = CannedResponseForm(request.POST or None, may_share=request.user.is_staff)
    if request.method == "POST" and form.is_valid():
        try:
            made = services.canned_create(actor=request.user, **form.cleaned_data)
        except ValidationError as e:
            form.add_error(None, e)
        else:
            flash.success(request, f"Saved /{made.shortcut}.")
            return redirect("canned-list")
    return _form_page(request, form, None)


@login_required
@require_http_methods(["GET", "POST"])
def canned_edit(request: HttpRequest, pk: int) -> HttpResponse:
    response = get_object_or_404(selectors.canned_manageable(user=request.user), pk=pk)
    initial = {"title": response.title, "shortcut": response.shortcut, "body": response.body}
    # Who owns a response stays as it was made: no "shared" box here.
    form = CannedResponseForm(request.POST or None, initial=initial, may_share=False)
    if request.method == "POST" and form.is_valid():
        try:
            services.canned_update(actor=request.user, response_id=pk, **form.cleaned_data)
        except ValidationError as e:
            form.add_error(None, e)
        else:
            flash.success(request, f"Saved /{form.cleaned_data['shortcut']}.")
            return redirect("canned-list")
    return _form_page(request, form, response)


@login_required
@require_POST
def canned_delete(request: HttpRequest, pk: int) -> HttpResponse:
    response = get_object_or_404(selectors.canned_manageable(user=request.user), pk=pk)
    services.canned_delete(actor=request.user, response_id=pk)
    flash.success(request, f"Deleted /{response.shortcut}.")
    return redirect("canned-list")


@login_required
@require_GET
def canned_suggest(request: HttpRequest, pk: int) -> JsonResponse:
    """``?q=`` a shortcut's first letters: the matching responses, filled for this conversation."""
    conversation = get_object_or_404(Conversation.objects.select_related("customer"), pk=pk)
    found = selectors.canned_suggestions(conversation=conversation, user=request.user, prefix=request.GET.get("q", ""))
    return JsonResponse(found, safe=False)
