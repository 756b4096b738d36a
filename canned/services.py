"""Every write of canned responses. Agents keep their own; staff also keep the shared ones."""

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import NON_FIELD_ERRORS, PermissionDenied, ValidationError
from django.db import IntegrityError, transaction

from canned.models import CannedResponse


def _check_may_manage(actor: AbstractBaseUser, response: CannedResponse) -> None:
    if response.is_shared and not actor.is_staff:
        raise PermissionDenied("Only staff may change shared responses.")
    if not response.is_shared and response.owner_id != actor.pk:
        raise PermissionDenied("This response is another agent's.")


# The constraints' errors, by code, and the field each belongs to (the model reports
# a constraint's error as a non-field one).
_FIELD_OF = {"shortcut_taken": "shortcut", "body_too_long": "body"}


def _on_fields(e: ValidationError) -> ValidationError:
    errors = e.update_error_dict({})
    for error in errors.pop(NON_FIELD_ERRORS, []):
        errors.setdefault(_FIELD_OF.get(getattr(error, "code", None), NON_FIELD_ERRORS), []).append(error)
    return ValidationError(errors)


def _save(response: CannedResponse) -> CannedResponse:
    """Validate (fields, then the constraints) and write; a concurrent twin that
    slipped past the check is caught by the database's constraint."""
    try:
        response.full_clean()
    except ValidationError as e:
        raise _on_fields(e) from None
    try:
        with transaction.atomic():
            response.save()
    except IntegrityError:
        raise ValidationError({"shortcut": "This shortcut was just taken."}, code="shortcut_taken") from None
    return response


def _fields(title: str, shortcut: str, body: str) -> dict:
    return {"title": title.strip(), "shortcut": shortcut.strip().lstrip("/").lower(), "body": body.strip()}


@transaction.atomic
def canned_create(
    *, actor: AbstractBaseUser, title: str, shortcut: str, body: str, shared: bool = False
) -> CannedResponse:
    """A personal response of ``actor``'s, or with ``shared`` one for everyone (staff only)."""
    response = CannedResponse(owner=None if shared else actor, **_fields(title, shortcut, body))
    _check_may_manage(actor, response)
    return _save(response)


@transaction.atomic
def canned_update(*, actor: AbstractBaseUser, response_id: int, title: str, shortcut: str, body: str) -> CannedResponse:
    """Change a response's text; who owns it stays as it was made."""
    response = CannedResponse.objects.select_for_update().get(pk=response_id)
    _check_may_manage(actor, response)
    for field, value in _fields(title, shortcut, body).items():
        setattr(response, field, value)
    return _save(response)


@transaction.atomic
def canned_delete(*, actor: AbstractBaseUser, response_id: int) -> None:
    response = CannedResponse.objects.select_for_update().get(pk=response_id)
    _check_may_manage(actor, response)
    response.delete()
