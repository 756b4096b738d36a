"""Every model has a working admin page: list, search and change views render."""

import pytest
from django.contrib import admin
from django.test import Client
from django.urls import reverse

from conversations import services
from knowledge.services import EntryData, entries_upsert

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(admin_user):
    client = Client()
    client.force_login(admin_user)
    return client


def test_every_model_of_ours_is_registered():
    ours = {"conversations", "knowledge", "canned"}
    registered = {(m._meta.app_label, m._meta.model_name) for m in admin.site._registry}
    from django.apps import apps

    for app in ours:
        for model in apps.get_app_config(app).get_models():
            assert (app, model._meta.model_name) in registered, model


def test_admin_pages_render(admin_client, customer, agent):
    message = services.message_post_from_customer(customer=customer, body="hello <b>there</b>")
    services.note_add(conversation_id=message.conversation_id, author=agent, body="a note <b>for the team</b>")
    entries_upsert(entries=[EntryData("reset-password", "Reset your password", "Use the link.", ("forgot it",))])
    for model in admin.site._registry:
        if model._meta.app_label not in {"conversations", "knowledge", "canned"}:
            continue
        changelist = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
        assert admin_client.get(changelist).status_code == 200, changelist
        assert admin_client.get(changelist, {"q": "password"}).status_code == 200, changelist
        obj = model.objects.first()
        if obj is not None:
            change = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_change", args=[obj.pk])
            assert admin_client.get(change).status_code == 200, change


def test_admin_is_staff_only(agent_client):
    response = agent_client.get(reverse("admin:conversations_conversation_changelist"))
    assert response.status_code == 302


def test_editing_an_entry_in_admin_re_embeds_it(admin_client):
    entries_upsert(entries=[EntryData("reset-password", "Reset your password", "Use the link.", ("forgot it",))])
    from knowledge.models import Chunk, Entry

    entry = Entry.objects.get()
    response = admin_client.post(
        reverse("admin:knowledge_entry_change", args=[entry.pk]),
        {
            "external_id": "reset-password",
            "title": "Reset your password",
            "body": "Use the link.",
            "questions": '["I cannot log in"]',
            "category": "",
            "url": "help.example.com/reset",  # typed without a scheme
            # The read-only chunks inline's management form.
            "chunks-TOTAL_FORMS": "0",
            "chunks-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    assert list(Chunk.objects.filter(kind="question").values_list("text", flat=True)) == ["I cannot log in"]
    assert Entry.objects.get().url == "https://help.example.com/reset"


def test_a_conversations_notes_show_read_only_in_its_admin_page(admin_client, customer, agent):
    message = services.message_post_from_customer(customer=customer, body="hello")
    note = services.note_add(conversation_id=message.conversation_id, author=agent, body="Refund <b>approved</b>")
    page = admin_client.get(reverse("admin:conversations_conversation_change", args=[message.conversation_id]))
    html = page.content.decode()
    assert "Refund &lt;b&gt;approved&lt;/b&gt;" in html and "Internal notes" in html
    assert 'name="notes-0-body"' not in html  # shown, not editable
    change = admin_client.post(reverse("admin:conversations_note_change", args=[note.pk]), {"body": "changed"})
    assert change.status_code == 403
    note.refresh_from_db()
    assert note.body == "Refund <b>approved</b>"
