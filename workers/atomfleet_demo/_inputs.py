"""Reading uploaded inputs, with the errors a user can act on."""

from __future__ import annotations

from atomfleet import AtomContext, InvalidAtomInput, ObjectNotFound


def read_uploaded_text(ctx: AtomContext, key: str) -> str:
    """The UTF-8 text of one of the tenant's uploads; a missing or binary file fails the run clearly."""
    try:
        return ctx.files.read_text(key)
    except ObjectNotFound:
        raise InvalidAtomInput(f"input file {key!r} does not exist", code="input_not_found") from None
    except UnicodeDecodeError as exc:
        raise InvalidAtomInput(f"input file {key!r} is not UTF-8 text: {exc}") from exc
