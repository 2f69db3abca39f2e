"""A mypy plugin: a SQLModel table's column, read from the class, is a SQL expression.

SQLModel declares `Person.id: int | None`, which is what an *instance* holds; on the
*class* SQLAlchemy instruments the name, so `Person.id == 3` is a SQL expression, not a
`bool`. Without this plugin mypy types `select(Person.id).where(Person.id == 3)` as
`select(int | None).where(bool)` and refuses every query. Rather than wrap each column in
`sqlmodel.col(...)`, this plugin types a table model's field, read from the class, as
`sqlalchemy.orm.InstrumentedAttribute[T]` (what it is at run time). Instance access is
unchanged.

Enabled in pyproject.toml (`[tool.mypy] plugins`); see docs/ci.md.
"""

from __future__ import annotations

from collections.abc import Callable

from mypy.nodes import NameExpr, TypeInfo, Var
from mypy.plugin import AttributeContext, ClassDefContext, Plugin
from mypy.types import Instance, Type

_SQLMODEL = "sqlmodel.main.SQLModel"
_INSTRUMENTED = "sqlalchemy.orm.attributes.InstrumentedAttribute"
_METADATA = "learnbot_sqlmodel"


def _is_table_model(info: TypeInfo) -> bool:
    """A subclass of SQLModel declared with `table=True` (or inheriting from one)."""
    return any(_METADATA in base.metadata for base in info.mro)


def _mark_table_model(ctx: ClassDefContext) -> None:
    # Marked in the class's metadata, which mypy's cache keeps (a cached class
    # definition no longer has its keywords).
    table = ctx.cls.keywords.get("table")
    if isinstance(table, NameExpr) and table.fullname == "builtins.True":
        ctx.cls.info.metadata[_METADATA] = {"table": True}


class SQLModelColumnsPlugin(Plugin):
    """Types `Model.field` (class access) of a table model as an instrumented column."""

    def get_class_attribute_hook(self, fullname: str) -> Callable[[AttributeContext], Type] | None:
        class_name, _, attribute = fullname.rpartition(".")
        if attribute.startswith("_"):
            return None
        node = self.lookup_fully_qualified(class_name)
        if node is None or not isinstance(node.node, TypeInfo):
            return None
        info = node.node
        symbol = info.names.get(attribute)
        if symbol is None or not isinstance(symbol.node, Var) or symbol.node.is_classvar:
            return None
        if not _is_table_model(info):
            return None
        return self._instrumented

    def _instrumented(self, ctx: AttributeContext) -> Type:
        if ctx.is_lvalue:
            return ctx.default_attr_type
        node = self.lookup_fully_qualified(_INSTRUMENTED)
        if node is None or not isinstance(node.node, TypeInfo):
            ctx.api.fail(f"mypy_sqlmodel: {_INSTRUMENTED} is not loaded", ctx.context)
            return ctx.default_attr_type
        return Instance(node.node, [ctx.default_attr_type])

    def get_base_class_hook(self, fullname: str) -> Callable[[ClassDefContext], None] | None:
        return _mark_table_model if fullname == _SQLMODEL else None

    def get_additional_deps(self, file: object) -> list[tuple[int, str, int]]:
        return [(10, "sqlalchemy.orm.attributes", -1)]


def plugin(version: str) -> type[Plugin]:
    """mypy's entry point."""
    return SQLModelColumnsPlugin
