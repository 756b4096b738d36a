"""Knowledge-base Markdown as HTML that is safe to put in any page."""

import nh3
from markdown_it import MarkdownIt
from markdown_it.common.utils import escapeHtml

# CommonMark with raw HTML off: an entry's "<b>" is shown as the text it is.
# Linkify stays off: a bare "example.com" in an answer is not worth a link nobody wrote.
# A line break stays one (breaks), as answers showed them when they were plain text.
_MARKDOWN = MarkdownIt("commonmark", {"html": False, "linkify": False, "breaks": True})
# An image is shown as its alt text: no pictures from anywhere in a customer's chat
# (a tracking pixel), and the words the entry's author gave it are not lost.
_MARKDOWN.add_render_rule(
    "image",
    lambda self, tokens, idx, options, env: escapeHtml(self.renderInlineAsText(tokens[idx].children, options, env)),
)

# What the Markdown above produces, and nothing else (no images, tables or raw HTML).
_CLEANER = nh3.Cleaner(
    tags={
        *("h1", "h2", "h3", "h4", "h5", "h6", "p", "br", "hr"),
        *("ul", "ol", "li", "strong", "em", "code", "pre", "blockquote", "a"),
    },
    clean_content_tags={"script", "style"},
    attributes={"a": {"href", "title"}, "ol": {"start"}, "*": set()},
    url_schemes={"http", "https", "mailto"},
    url_relative="deny",
    link_rel="noopener noreferrer nofollow",
    set_tag_attribute_values={"a": {"target": "_blank"}},
)


def markdown_html(text: str) -> str:
    """A bot answer's Markdown as sanitised HTML.

    On the server, so that one renderer and one sanitiser serve the chat, the
    conversation page and every socket event alike, and the browser only inserts
    the result. The sanitiser (nh3) runs on whatever the renderer let through: a
    hostile knowledge-base entry cannot put script, handlers or javascript: links
    in a customer's chat or an agent's page.
    """
    return _CLEANER.clean(_MARKDOWN.render(text))
