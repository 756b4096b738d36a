"""The "Export" and "Erase" actions of the Customer changelist: privacy sits above
conversations, so it extends that app's CustomerAdmin instead of that app importing it."""

import json

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.template.response import TemplateResponse

from conversations.admin import CustomerAdmin
from conversations.models import Customer
from privacy import selectors, services


@admin.action(description="Export the selected customers' data (JSON)")
def export_customers(modeladmin, request, queryset):
    document = [selectors.customer_export(customer=c) for c in queryset.order_by("pk")]
    response = HttpResponse(
        json.dumps(document, indent=2, ensure_ascii=False), content_type="application/json; charset=utf-8"
    )
    response["Content-Disposition"] = 'attachment; filename="customers.json"'
    return response


@admin.action(description="Erase the selected customers' personal data", permissions=["delete"])
def erase_customers(modeladmin, request, queryset):
    """Asks first (a confirmation page, like Django's delete action), then erases."""
    if not modeladmin.has_delete_permission(request):
        raise PermissionDenied
    customers = list(queryset.order_by("pk"))
    if request.POST.get("confirmed") == "yes":
        for customer in customers:
            services.customer_erase(customer=customer)
        modeladmin.message_user(request, f"Erased {len(customers)} customer(s).", messages.SUCCESS)
        return None
    context = {
        **modeladmin.admin_site.each_context(request),
        "title": "Erase customers' personal data?",
        "customers": customers,
        "opts": modeladmin.model._meta,
        "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
    }
    return TemplateResponse(request, "privacy/erase_confirm.html", context)


admin.site.unregister(Customer)


@admin.register(Customer)
class PrivateCustomerAdmin(CustomerAdmin):
    actions = [export_customers, erase_customers]
