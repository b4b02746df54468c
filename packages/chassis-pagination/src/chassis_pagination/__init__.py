"""chassis-pagination: offset and keyset (cursor) pagination for chassis services.

``paginate(source, session)`` in a handler (``await paginate_async(source, session)`` with an
``AsyncSession``) cuts one page out of a SQLAlchemy ``Select``, a legacy ``Query`` or a
sequence, as the request's ``offset``, ``limit`` and ``cursor`` say; the
plugin (entry point ``pagination``) then adds an RFC 8288 ``Link`` header, ``X-Total-Count``
when totals are on, and ``meta.pagination`` when the kernel's envelope is on.
"""

from ._components import components, components_path, with_components
from ._errors import InvalidPageParameter
from ._paginate import Page, paginate, paginate_async
from ._plugin import configure_app, settings_model, wrap_response
from ._settings import OperationOptions, PaginationSettings

__all__ = [
    "InvalidPageParameter",
    "OperationOptions",
    "Page",
    "PaginationSettings",
    "components",
    "components_path",
    "paginate",
    "paginate_async",
    "with_components",
]

# Hook implementations, found by the plugin manager on this module.
_HOOKS = (configure_app, settings_model, wrap_response)
