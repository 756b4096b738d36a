"""The agents' search page: a GET form over conversations and messages (issue #15)."""

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from conversations import search
from conversations.forms import SearchForm

PAGE_SIZE = 25


@login_required
@require_GET
def inbox_search(request: HttpRequest) -> HttpResponse:
    form = SearchForm(request.GET or None)
    context = {"form": form, "page": None, "rows": [], "text": "", "postgres": search.full_text()}
    if not form.is_bound:
        return render(request, "conversations/search.html", context)
    if not form.is_valid():
        return render(request, "conversations/search.html", context, status=400)
    text, filters = form.cleaned_data["q"], form.filters()
    if not text and not filters.any:
        return render(request, "conversations/search.html", context)
    page = Paginator(search.search_conversations(text=text, filters=filters), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    snippets = search.search_snippets(conversation_ids=[c.pk for c in page], text=text)
    context |= {"page": page, "text": text, "rows": [(c, snippets.get(c.pk)) for c in page]}
    return render(request, "conversations/search.html", context)
