from django import template
from django.utils.html import format_html

from analytics.tables import cell_text

register = template.Library()


@register.simple_tag
def cell(row: dict, column, tz=None):
    """One table cell as the page shows it: formatted, escaped, a dash for no value."""
    value = row.get(column.key)
    if column.kind == "link" and value is not None:
        return format_html('<a href="{}">{}</a>', value[1], value[0])
    return cell_text(value, column.kind, tz)
