"""`customer_export` and `customer_erase`, and the Customer changelist's actions."""

import json

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from conversations.models import Customer
from tests.factories import ConversationFactory, CustomerFactory, MessageFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def zelda():
    customer = CustomerFactory(name="Zelda Quux", external_id="site-user-4711")
    MessageFactory(conversation=ConversationFactory(customer=customer), body="my address is 1 Main St")
    return customer


def test_export_by_external_id_writes_the_json_file(zelda, tmp_path):
    target = tmp_path / "zelda.json"
    call_command("customer_export", "site-user-4711", "-o", str(target))
    document = json.loads(target.read_text(encoding="utf-8"))
    assert document["customer"]["id"] == zelda.pk
    assert document["conversations"][0]["messages"][0]["body"] == "my address is 1 Main St"


def test_export_by_id_prints_it(zelda, capsys):
    call_command("customer_export", str(zelda.pk))
    assert json.loads(capsys.readouterr().out)["customer"]["name"] == "Zelda Quux"


def test_an_unknown_customer_is_an_error():
    with pytest.raises(CommandError, match="No customer"):
        call_command("customer_export", "nobody")


def test_erase_asks_for_yes_first(zelda):
    with pytest.raises(CommandError, match="--yes"):
        call_command("customer_erase", str(zelda.pk))
    assert Customer.objects.filter(pk=zelda.pk).exists()


def test_erase_with_yes_erases(zelda, capsys):
    call_command("customer_erase", "site-user-4711", "--yes")
    assert "1 conversation(s) kept" in capsys.readouterr().out
    assert not Customer.objects.filter(name="Zelda Quux").exists()
    assert Customer.objects.get().conversations.get().messages.get().body == "[erased]"


def _action(client, action, customer, **extra):
    return client.post(
        reverse("admin:conversations_customer_changelist"),
        {"action": action, "_selected_action": [customer.pk], **extra},
    )


def test_the_admin_action_confirms_before_erasing(zelda, admin_client):
    page = _action(admin_client, "erase_customers", zelda)
    assert page.status_code == 200 and b"There is no undo" in page.content and b"Zelda Quux" in page.content
    assert Customer.objects.filter(pk=zelda.pk).exists()  # asking changed nothing
    done = _action(admin_client, "erase_customers", zelda, confirmed="yes")
    assert done.status_code == 302
    assert not Customer.objects.filter(pk=zelda.pk).exists()


def test_the_admin_action_exports_json(zelda, admin_client):
    response = _action(admin_client, "export_customers", zelda)
    assert response["Content-Disposition"] == 'attachment; filename="customers.json"'
    assert json.loads(response.content)[0]["customer"]["external_id"] == "site-user-4711"


def test_staff_without_the_delete_permission_cannot_erase(zelda, client, django_user_model):
    from django.contrib.auth.models import Permission

    clerk = django_user_model.objects.create_user("clerk", password="x", is_staff=True)
    clerk.user_permissions.add(Permission.objects.get(codename="view_customer"))
    client.force_login(clerk)
    _action(client, "erase_customers", zelda, confirmed="yes")
    assert Customer.objects.filter(pk=zelda.pk).exists()
