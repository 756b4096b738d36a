"""Files in a browser: a customer's image previewed live on the agent's page, the
agent's PDF a download link in the chat, and a file past the limit refused with a
clear error, on both sides."""

import pytest
from playwright.sync_api import expect

from conversations import services
from conversations.models import Attachment, Conversation
from tests.e2e.test_handoff_flow import _login
from tests.factories import UserFactory
from tests.uploads import image_bytes, pdf_bytes

pytestmark = pytest.mark.e2e
MB = 1024 * 1024


def test_a_customers_image_and_an_agents_pdf_cross_live(live_url, browser, media, artifacts):
    alice = UserFactory(username="alice", first_name="Alice")

    customer_page = browser.new_context().new_page()
    customer_page.goto(f"{live_url}/chat/")
    expect(customer_page.get_by_test_id("live-status")).to_have_attribute("data-state", "live")
    customer_page.get_by_test_id("talk-to-person").click()
    expect(customer_page.get_by_test_id("chat-status")).to_contain_text("A person from our team")
    conversation = Conversation.objects.get()
    services.conversation_accept(conversation_id=conversation.pk, agent=alice)
    expect(customer_page.get_by_test_id("chat-status")).to_contain_text("chatting with Alice")

    agent_page = browser.new_context().new_page()
    _login(agent_page, live_url, "alice")
    agent_page.goto(f"{live_url}/inbox/c/{conversation.pk}/")
    expect(agent_page.get_by_test_id("live-status")).to_have_attribute("data-state", "live")
    expect(agent_page.get_by_label("Reply")).to_be_visible()

    # The customer sends a screenshot with a caption: the agent sees it previewed, live.
    customer_page.get_by_label("Message").fill("This is what I see")
    customer_page.locator("#attach-file").set_input_files(
        files=[{"name": "screen.png", "mimeType": "image/png", "buffer": image_bytes(size=(64, 48))}]
    )
    preview = agent_page.get_by_test_id("msg-customer").last.get_by_test_id("attachment-image").locator("img")
    expect(preview).to_have_attribute("alt", "screen.png")
    agent_page.wait_for_function(
        "img => img.complete && img.naturalWidth === 64", arg=preview.element_handle(), timeout=10_000
    )
    expect(agent_page.get_by_test_id("msg-customer").last).to_contain_text("This is what I see")
    expect(customer_page.get_by_test_id("msg-customer").last.get_by_test_id("attachment-image")).to_be_visible()

    # The agent answers with a PDF: the customer gets a download link that works for them.
    agent_page.locator("#attach-file").set_input_files(
        files=[{"name": "Setup guide.pdf", "mimeType": "application/pdf", "buffer": pdf_bytes()}]
    )
    link = customer_page.get_by_test_id("msg-agent").last.get_by_test_id("attachment-file").get_by_role("link")
    expect(link).to_contain_text("Setup guide.pdf")
    response = customer_page.request.get(link.evaluate("a => a.href"))
    assert response.status == 200
    assert response.headers["content-type"] == "application/pdf"
    assert response.headers["content-disposition"].startswith("attachment")
    assert response.body() == pdf_bytes()
    assert Attachment.objects.count() == 2

    # 11 MB: refused with the limit named, nothing sent, on either side.
    for page in (customer_page, agent_page):
        page.locator("#attach-file").set_input_files(
            files=[{"name": "huge.pdf", "mimeType": "application/pdf", "buffer": pdf_bytes(padding=11 * MB)}]
        )
        expect(page.locator("#chat-error")).to_have_text("Files can be at most 10 MB (this one is 11 MB).")
    assert Attachment.objects.count() == 2
    customer_page.screenshot(path=artifacts / "attachments-chat.png")
    agent_page.screenshot(path=artifacts / "attachments-agent.png")
