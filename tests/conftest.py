"""Personas shared by every test: a customer, two agents, an admin and an outsider."""

import pytest
from django.test import Client

from conversations.identity import customer_token_make
from conversations.management.commands.demo_data import DEMO_KB
from knowledge.services import kb_import_jsonl
from tests.factories import CustomerFactory, UserFactory


@pytest.fixture
def customer(db):
    return CustomerFactory(name="Casey Customer")


@pytest.fixture
def other_customer(db):
    return CustomerFactory(name="Olive Other")


@pytest.fixture
def agent(db):
    return UserFactory(username="alice", first_name="Alice")


@pytest.fixture
def other_agent(db):
    return UserFactory(username="bob", first_name="Bob")


@pytest.fixture
def admin_user(db):
    return UserFactory(username="admin", first_name="Ada", is_staff=True, is_superuser=True)


@pytest.fixture
def agent_client(agent):
    client = Client()
    client.force_login(agent)
    return client


@pytest.fixture
def customer_token(customer):
    return customer_token_make(customer_id=customer.pk)


@pytest.fixture
def customer_client(customer, customer_token, settings):
    client = Client()
    client.cookies[settings.BATON_CUSTOMER_COOKIE] = customer_token
    return client


@pytest.fixture
def demo_kb(db):
    """The demo help centre, embedded with the real model."""
    return kb_import_jsonl(path=DEMO_KB)
