import pytest
from django.test import Client
from django.urls import reverse

from canned.models import CannedResponse

pytestmark = pytest.mark.django_db


def test_the_admin_lists_searches_and_filters_for_staff(admin_user, agent):
    shared = CannedResponse.objects.create(title="Team greeting", shortcut="greet", body="Hi", owner=None)
    mine = CannedResponse.objects.create(title="My refund", shortcut="refund", body="Sorry", owner=agent)
    client = Client()
    client.force_login(admin_user)
    changelist = reverse("admin:canned_cannedresponse_changelist")
    assert client.get(changelist).status_code == 200
    assert list(client.get(changelist, {"kind": "shared"}).context["cl"].queryset) == [shared]
    assert list(client.get(changelist, {"kind": "personal"}).context["cl"].queryset) == [mine]
    assert list(client.get(changelist, {"q": "refund"}).context["cl"].queryset) == [mine]
    assert client.get(reverse("admin:canned_cannedresponse_change", args=[mine.pk])).status_code == 200
    assert client.get(reverse("admin:canned_cannedresponse_add")).status_code == 200


def test_the_admin_is_staff_only(agent_client):
    response = agent_client.get(reverse("admin:canned_cannedresponse_changelist"))
    assert response.status_code == 302 and response["Location"].startswith("/admin/login/")
