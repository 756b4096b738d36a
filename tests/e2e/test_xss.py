"""Hostile text everywhere it can be written, read back in every page that shows it:
nothing runs, nothing is injected, and what was written reads as written.

The corpus (tests/xss_corpus.py) goes in through the real write paths: customer
names and traits (the embed path), customer messages, agent names and replies,
knowledge-base titles and bodies (the importer's service), handoff questions and
sources, SLA policy names and breaches, agents' internal notes and the mentions
they ring. Then an admin and a customer look at it in
Chromium: the chat (history and live), the inbox's tabs, conversation pages (with
live messages), the analytics dashboard and breach list, and Django admin.
"""

import html
import json
import time
from datetime import timedelta
from urllib.parse import quote

import pytest
from django.contrib import admin
from django.db.models import F, Q
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import expect

from analytics.models import HandoffQuestion
from conversations import selectors, services
from conversations.identity import Identity, Visitor, customer_token_make
from conversations.models import Conversation, Customer, Message
from knowledge.models import Chunk, Entry, EvalCase
from knowledge.services import EntryData, entries_upsert
from routing.models import AgentProfile
from sla.models import DEFAULT_TARGETS, SLAPolicy, SLATarget, SLATimer
from sla.services import sla_sweep
from tests.e2e.test_handoff_flow import _login
from tests.e2e.threads import in_a_thread
from tests.factories import UserFactory
from tests.xss_corpus import KINDS, PAYLOADS

pytestmark = pytest.mark.e2e

ANSWERABLE = "How do I reset my password?"
MARKDOWN = [p for p in PAYLOADS if p.kind == "markdown"]
RESET_TITLE = f"Reset your password {PAYLOADS[2].text}"
MALLORY = PAYLOADS[13].text  # an agent's first name
# Element, attribute and URL traces of markup that got in, in every frame of the page.
PROBE = """() => {
  // Read through Element.prototype: a form's fields may clobber its own properties
  // (Django admin's customer form has a field named "attributes").
  const E = Element.prototype;
  const localName = Object.getOwnPropertyDescriptor(E, "localName").get;
  const found = [];
  const show = (el) => E.getAttributeNames.call(el).join(" ") + " <" + localName.call(el) + ">";
  const urlAttrs = ["href", "src", "action", "formaction", "xlink:href", "data", "poster"];
  for (const el of document.querySelectorAll("*")) {
    const tag = localName.call(el);
    if (["xss-probe", "iframe", "object", "embed", "base"].includes(tag)) found.push(show(el));
    if ((tag === "script" && el.type !== "application/json" || tag === "style") && el.textContent.includes("__xss")) {
      found.push(show(el));
    }
    if (tag === "meta" && E.hasAttribute.call(el, "http-equiv")) found.push(show(el));
    for (const name of E.getAttributeNames.call(el)) {
      const value = E.getAttribute.call(el, name);
      const plain = value.replace(/[\\s\\u0000-\\u001f]/g, "");
      if (name === "data-xss" || name.startsWith("on") || name === "v-html" || name === "srcdoc" ||
          (urlAttrs.includes(name) && /^(javascript|data|vbscript):/i.test(plain))) {
        found.push(`${tag}[${name}=${value.slice(0, 80)}]`);
      }
    }
  }
  return found;
}"""


class Watch:
    """What the payloads would leave behind in one browser context, across its pages."""

    def __init__(self, browser, **options):
        self.context = browser.new_context(**options)
        self.hits: list[tuple[str, object]] = []
        self.dialogs: list[str] = []
        self.context.expose_function("__xss", lambda pid: self.hits.append((self.page.url, pid)))
        self.page = self.context.new_page()
        self.page.on("dialog", self._dialog)
        self.pages: list[str] = []

    def _dialog(self, dialog):
        self.dialogs.append(f"{self.page.url}: {dialog.type} {dialog.message}")
        dialog.dismiss()

    def check(self, *, verbatim=()):
        """Nothing injected in any frame of the page; the ``verbatim`` texts shown as written."""
        self.pages.append(self.page.url)
        for frame in self.page.frames:
            assert frame.evaluate(PROBE) == [], f"markup got in at {frame.url}"
        if verbatim:
            shown = self.page.evaluate("document.body.innerText")
            missing = [t for t in verbatim if t not in shown]
            assert not missing, f"not shown as written at {self.page.url}: {missing}"
        assert self.hits == [] and self.dialogs == [], (self.hits, self.dialogs)

    def visit(self, url, *, verbatim=(), settle=False):
        """``settle``: wait for the page's own reads too (the inbox re-reads its list
        once its socket opens), at half a second of quiet a page."""
        self.page.goto(url)
        if settle:
            self.page.wait_for_load_state("networkidle")
        self.check(verbatim=verbatim)


def open_chat_as(page, base: str, customer: Customer) -> None:
    """The customer's chat page, as that customer: the one place that knows how the
    page learns who the visitor is."""
    token = customer_token_make(customer_id=customer.pk)
    # Where chat.js keeps its session on Baton's own page: this origin's localStorage.
    page.add_init_script(f"localStorage.setItem('baton.session', {json.dumps(token)})")
    page.goto(f"{base}/chat/")
    expect(page.get_by_label("Message")).to_be_enabled()


def _seed(admin_user, mallory):
    """Every payload through every write path; returns the chat customer and their conversation."""
    SLAPolicy.objects.update(is_default=False)
    policy = SLAPolicy.objects.create(name=PAYLOADS[34].text[:100], is_default=True)
    for priority, (first_response, resolution) in DEFAULT_TARGETS.items():
        SLATarget.objects.create(
            policy=policy, priority=priority, first_response_seconds=first_response, resolution_seconds=resolution
        )
    entries_upsert(
        entries=[
            EntryData(
                external_id="reset",
                title=RESET_TITLE,
                body="\n".join(p.text for p in MARKDOWN),
                questions=(ANSWERABLE,),
                category=PAYLOADS[5].text[:100],
            ),
            *(
                EntryData(external_id=f"xss-{p.id}", title=p.text, body=f"{p.text}\n\n{p.text} again", questions=())
                for p in PAYLOADS
            ),
        ]
    )
    for profile in (admin_user, mallory):
        AgentProfile.objects.update_or_create(user=profile, defaults={"capacity": 200})

    for p in PAYLOADS:
        if p.id % 2:  # verified by the embedding site, with its traits
            customer = services.customer_identify(
                identity=Identity(
                    external_id=f"xss-{p.id}",
                    name=p.text,
                    traits={"segment": p.text[:50], "language": "en", "plan": p.text, p.text[:40]: p.id},
                )
            )
        else:  # a visitor's own name for themselves
            customer = services.customer_for_visitor(
                visitor=Visitor(visitor_key=f"xss-visitor-{p.id:06d}", name=p.text)
            )
        services.message_post_from_customer(customer=customer, body=p.text)
        conversation = selectors.conversation_open_for(customer=customer)
        services.conversation_handoff(
            conversation=conversation,
            reason=Conversation.HandoffReason.LOW_CONFIDENCE,
            confidence=0.2,
            sources=[{"id": f"xss-{p.id}", "title": p.text, "score": 0.2}],
        )
        if p.id % 3 == 0:  # some assigned (Mine, All open), a few resolved
            agent = mallory if p.id % 2 else admin_user
            services.conversation_accept(conversation_id=conversation.pk, agent=agent)
            services.message_post_from_agent(conversation_id=conversation.pk, agent=agent, body=p.text)
            if p.id % 4 == 0:
                services.conversation_resolve(conversation_id=conversation.pk, agent=agent)

    # The chat customer: a bot answer, every payload said, a handoff, every payload answered.
    chatter = services.customer_identify(identity=Identity(external_id="xss-chat", name=PAYLOADS[0].text))
    services.message_post_from_customer(customer=chatter, body=ANSWERABLE)
    for p in PAYLOADS:
        services.message_post_from_customer(customer=chatter, body=p.text)
    conversation = services.customer_request_handoff(customer=chatter)
    services.conversation_accept(conversation_id=conversation.pk, agent=mallory)
    for p in PAYLOADS:
        services.message_post_from_agent(conversation_id=conversation.pk, agent=mallory, body=p.text)
    for p in PAYLOADS:  # internal notes, each mentioning the admin, whose bell quotes it
        services.note_add(conversation_id=conversation.pk, author=mallory, body=f"@admin note {p.id}: {p.text}")
    # Breach rows: every open timer missed, its deadline two days back, so the
    # breaches fall inside the report's period whatever the time of day (a
    # deadline after midnight in the admin's zone would be tomorrow's: not shown).
    back = timedelta(days=2)
    SLATimer.objects.filter(state=SLATimer.State.RUNNING).update(
        started_at=F("started_at") - back, at_risk_at=F("at_risk_at") - back, due_at=F("due_at") - back
    )
    sla_sweep(now=timezone.now())
    return chatter, conversation


def _admin_urls(chat_conversation, mallory) -> list[str]:
    urls = [reverse("admin:index")]
    for model in admin.site._registry:
        meta = model._meta
        urls.append(reverse(f"admin:{meta.app_label}_{meta.model_name}_changelist"))
    payload_customer = Customer.objects.get(external_id=f"xss-{PAYLOADS[10].id}")
    question = HandoffQuestion.objects.order_by("pk").first()
    urls += [
        reverse("admin:conversations_customer_change", args=[payload_customer.pk]),
        # The delete confirmation names the object and everything that goes with it.
        reverse("admin:conversations_customer_delete", args=[payload_customer.pk]),
        reverse("admin:conversations_customer_history", args=[payload_customer.pk]),
        reverse("admin:knowledge_entry_delete", args=[Entry.objects.get(external_id="reset").pk]),
        reverse("admin:conversations_conversation_change", args=[chat_conversation.pk]),
        reverse("admin:conversations_message_change", args=[chat_conversation.messages.order_by("-seq")[0].pk]),
        reverse("admin:knowledge_entry_change", args=[Entry.objects.get(external_id="reset").pk]),
        reverse("admin:knowledge_entry_change", args=[Entry.objects.get(external_id="xss-35").pk]),
        reverse("admin:analytics_handoffquestion_change", args=[question.pk]),
        reverse("admin:sla_slapolicy_change", args=[SLAPolicy.objects.get(is_default=True).pk]),
        reverse("admin:knowledge_chunk_change", args=[Chunk.objects.filter(entry__external_id="reset")[0].pk]),
        reverse("admin:knowledge_evalcase_change", args=[EvalCase.objects.order_by("pk")[0].pk]),
        reverse("admin:auth_user_change", args=[mallory.pk]),
        reverse("admin:knowledge_botconfig_tradeoff"),
        # The search term is echoed in the search box and the result count.
        reverse("admin:conversations_customer_changelist") + "?q=" + quote(PAYLOADS[34].text, safe=""),
        reverse("admin:conversations_message_changelist") + "?q=" + quote(PAYLOADS[2].text, safe=""),
    ]
    return urls


def test_the_corpus_is_shown_as_text_everywhere_and_never_runs(live_url, browser):
    assert len(PAYLOADS) >= 40
    assert {"tag", "event", "url", "svg", "markdown", "attribute", "template", "rtl"} <= KINDS
    admin_user = UserFactory(username="admin", first_name="Ada", is_staff=True, is_superuser=True)
    mallory = UserFactory(username="mallory", first_name=MALLORY)
    started = time.monotonic()
    chatter, chat_conversation = in_a_thread(lambda: _seed(admin_user, mallory))
    seeded = time.monotonic()
    assert chat_conversation.messages.filter(sender=Message.Sender.BOT).exists()  # the KB answer
    texts = [p.text for p in PAYLOADS]

    # The customer: the history, then replies arriving over the socket.
    customer = Watch(browser)
    open_chat_as(customer.page, live_url, chatter)
    agent_said = customer.page.locator("[data-testid=msg-agent]")
    expect(agent_said).to_have_count(len(PAYLOADS))
    # The knowledge base's Markdown is rendered (conversations/markdown.py): the links
    # it refuses stay text, an entity reading as its character, and none is a link.
    bot_said = customer.page.locator("[data-testid=msg-bot]").first
    for p in MARKDOWN:
        expect(bot_said).to_contain_text(html.unescape(p.text))
    expect(bot_said.locator(".body a")).to_have_count(0)
    expect(bot_said).to_contain_text(f"Source: {RESET_TITLE}")
    customer.check(verbatim=texts)
    in_a_thread(
        lambda: [
            services.message_post_from_agent(conversation_id=chat_conversation.pk, agent=mallory, body=p.text)
            for p in PAYLOADS
        ]
    )
    expect(agent_said).to_have_count(2 * len(PAYLOADS))
    customer.check(verbatim=texts)
    assert "@admin note" not in customer.page.evaluate("document.body.innerText")  # agents' notes stay theirs

    # The admin: the inbox's tabs, conversation pages, analytics, Django admin.
    staff = Watch(browser, viewport={"width": 1280, "height": 900})
    _login(staff.page, live_url, "admin")
    resolved = [p.text for p in PAYLOADS if p.id % 12 == 0]
    for view in ("pending", "mine", "open"):
        staff.visit(f"{live_url}/inbox/?view={view}", settle=True)
    # The agents' board, drawn by routing.js: an agent's name is text too.
    expect(staff.page.locator("#routing-agents [data-field=name]", has_text=MALLORY)).to_have_count(1)
    staff.check(verbatim=[MALLORY])
    staff.visit(f"{live_url}/inbox/?view=resolved", verbatim=resolved, settle=True)
    staff.page.goto(f"{live_url}/inbox/?view=open")
    expect(staff.page.locator("#inbox-rows tr[data-conversation]")).to_have_count(
        Conversation.objects.filter(status__in=["pending_handoff", "assigned"]).count()
    )
    staff.check(verbatim=[p.text for p in PAYLOADS if p.kind != "rtl" and p.id % 12])

    staff.visit(f"{live_url}/inbox/c/{chat_conversation.pk}/")
    said = staff.page.locator("#messages [data-testid=msg-customer]")
    expect(said).to_have_count(len(PAYLOADS) + 1)
    notes = staff.page.locator("#messages [data-testid=note]")
    expect(notes).to_have_count(len(PAYLOADS))
    staff.check(verbatim=[*texts, *(f"@admin note {p.id}: {p.text}" for p in PAYLOADS)])
    in_a_thread(lambda: [services.message_post_from_customer(customer=chatter, body=p.text) for p in PAYLOADS])
    expect(said).to_have_count(2 * len(PAYLOADS) + 1)
    in_a_thread(
        lambda: [services.note_add(conversation_id=chat_conversation.pk, author=mallory, body=p.text) for p in PAYLOADS]
    )
    expect(notes).to_have_count(2 * len(PAYLOADS))
    staff.check()
    for p in PAYLOADS[::9]:  # the learn form holds the handoff question in an attribute
        conversation = Conversation.objects.filter(
            Q(customer__external_id=f"xss-{p.id}") | Q(customer__visitor_key=f"xss-visitor-{p.id:06d}")
        ).latest("pk")
        staff.visit(f"{live_url}/inbox/c/{conversation.pk}/")
        expect(staff.page.locator("input[name=question]")).to_have_value(p.text)
    # Teaching the bot from the page: the new entry's title comes back in the flash message.
    learnt = PAYLOADS[36]
    staff.page.get_by_text("Teach the bot this answer").click()
    staff.page.get_by_label("New entry's title").fill(learnt.text)
    staff.page.get_by_label("Answer").fill(PAYLOADS[37].text)
    staff.page.get_by_role("button", name="Save to knowledge base").click()
    expect(staff.page.get_by_role("alert").filter(has_text="Saved to the knowledge base")).to_contain_text(learnt.text)
    staff.check(verbatim=[learnt.text])

    # Knowledge-base titles: the entry the bot answered with, those it handed off on.
    staff.visit(f"{live_url}/analytics/", verbatim=[RESET_TITLE, PAYLOADS[0].text], settle=True)
    assert staff.page.locator("#table-handoff_questions tbody tr td[data-col=question]").count() > 1
    staff.visit(f"{live_url}/analytics/breaches/")
    expect(staff.page.locator("#table-breaches tbody tr td[data-col=policy]").first).to_have_text(
        PAYLOADS[34].text[:100]
    )
    for url in _admin_urls(chat_conversation, mallory):
        staff.visit(f"{live_url}{url}")

    assert customer.hits == staff.hits == []
    assert customer.dialogs == staff.dialogs == []
    print(
        f"\n{len(PAYLOADS)} payloads, seeded in {seeded - started:.1f} s, checked in"
        f" {len(customer.pages) + len(staff.pages)} page views in {time.monotonic() - seeded:.1f} s"
    )
