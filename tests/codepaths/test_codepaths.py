"""`when` and `variants`: functions, methods, async, wraps, per-call evaluation, context."""

from __future__ import annotations

import asyncio
import inspect
import threading
from typing import Any

import pytest

import flagkit
from flagkit import Flags
from flagkit.codepaths import VariantDispatcher
from flagkit.testing import override_flags

ROLLOUT = {
    "new_checkout": {"rules": [{"when": {"country": "US"}, "serve": "on"}]},
    "engine": {
        "variants": {"legacy": "L", "ai": "A", "hybrid": "H"},
        "default": "legacy",
        "rules": [
            {"when": {"plan": "pro"}, "serve": "ai"},
            {"when": {"plan": "team"}, "serve": "hybrid"},
        ],
    },
}


@pytest.fixture
def flags() -> Flags:
    return Flags.from_dict(ROLLOUT)


def old_checkout(cart: str) -> str:
    return f"old:{cart}"


# --- when ---------------------------------------------------------------------------------


def test_when_switches_on_the_ambient_context(flags: Flags) -> None:
    @flags.when("new_checkout", otherwise=old_checkout)
    def new_checkout(cart: str) -> str:
        return f"new:{cart}"

    assert new_checkout("c1") == "old:c1"
    with flags.context(country="US"):
        assert new_checkout("c1") == "new:c1"
    with flags.context(country="FR"):
        assert new_checkout(cart="c2") == "old:c2"


def test_when_without_otherwise_returns_none_when_off(flags: Flags) -> None:
    calls: list[int] = []

    @flags.when("new_checkout")
    def new_checkout() -> str:
        calls.append(1)
        return "new"

    assert new_checkout() is None
    assert calls == []
    with flags.context(country="US"):
        assert new_checkout() == "new"
    assert calls == [1]


def test_when_evaluates_on_each_call_not_at_decoration() -> None:
    flags = Flags.from_dict({})  # the flag does not exist yet when decorating

    @flags.when("late", otherwise=lambda: "off")
    def path() -> str:
        return "on"

    assert path() == "off"
    with override_flags(flags, late=True):
        assert path() == "on"
    assert path() == "off"


def test_when_preserves_metadata_and_signature(flags: Flags) -> None:
    @flags.when("new_checkout", otherwise=old_checkout)
    def new_checkout(cart: str, *, coupon: str | None = None) -> str:
        """Render the new checkout."""
        return cart

    assert new_checkout.__name__ == "new_checkout"
    assert new_checkout.__doc__ == "Render the new checkout."
    assert str(inspect.signature(new_checkout)) == "(cart: 'str', *, coupon: 'str | None' = None) -> 'str'"
    assert new_checkout.__wrapped__.__name__ == "new_checkout"  # type: ignore[attr-defined]  # set by wraps


def test_when_on_methods(flags: Flags) -> None:
    class Checkout:
        def __init__(self, prefix: str) -> None:
            self.prefix = prefix

        def old(self, cart: str) -> str:
            return f"{self.prefix}old:{cart}"

        @flags.when("new_checkout", otherwise=old)
        def render(self, cart: str) -> str:
            return f"{self.prefix}new:{cart}"

        @staticmethod
        @flags.when("new_checkout", otherwise=old_checkout)
        def static(cart: str) -> str:
            return f"static-new:{cart}"

    checkout = Checkout("> ")
    assert checkout.render("a") == "> old:a"
    assert Checkout.static("a") == "old:a"
    with flags.context(country="US"):
        assert checkout.render("a") == "> new:a"
        assert Checkout.static("a") == "static-new:a"


def test_when_on_async_functions_switches_the_awaited_result(flags: Flags) -> None:
    async def old_async(cart: str) -> str:
        await asyncio.sleep(0)
        return f"old:{cart}"

    @flags.when("new_checkout", otherwise=old_async)
    async def new_async(cart: str) -> str:
        await asyncio.sleep(0)
        return f"new:{cart}"

    @flags.when("new_checkout", otherwise=old_checkout)  # sync fallback for an async function
    async def new_async_sync_fallback(cart: str) -> str:
        return f"new:{cart}"

    @flags.when("new_checkout")
    async def new_async_no_fallback() -> str:
        return "new"

    assert inspect.iscoroutinefunction(new_async)

    async def main() -> list[Any]:
        out = [await new_async("a"), await new_async_sync_fallback("b"), await new_async_no_fallback()]
        with flags.context(country="US"):
            out += [await new_async("a"), await new_async_sync_fallback("b"), await new_async_no_fallback()]
        return out

    assert asyncio.run(main()) == ["old:a", "old:b", None, "new:a", "new:b", "new"]


def test_when_async_methods(flags: Flags) -> None:
    class Service:
        async def old(self) -> str:
            return "old"

        @flags.when("new_checkout", otherwise=old)
        async def run(self) -> str:
            return "new"

    async def main() -> tuple[str, str]:
        off = await Service().run()
        with flags.context(country="US"):
            return off, await Service().run()

    assert asyncio.run(main()) == ("old", "new")


def test_explicit_context_overrides_ambient_key_by_key(flags: Flags) -> None:
    @flags.when("new_checkout", otherwise=old_checkout, context=lambda cart: {"country": cart})
    def by_argument(cart: str) -> str:
        return f"new:{cart}"

    @flags.when("new_checkout", otherwise=old_checkout, context={"country": "FR"})
    def fixed(cart: str) -> str:
        return f"new:{cart}"

    assert by_argument("US") == "new:US"
    assert by_argument("DE") == "old:DE"
    with flags.context(country="US", plan="pro"):
        assert fixed("x") == "old:x"  # explicit FR beats ambient US
        assert by_argument("DE") == "old:DE"


def test_explicit_context_keeps_other_ambient_keys(flags: Flags) -> None:
    @flags.variants("engine", context={"country": "US"})
    def recommend() -> str:
        return "default"

    @recommend.variant("ai")
    def _() -> str:
        return "ai"

    assert recommend() == "default"
    with flags.context(plan="pro"):  # ambient plan is kept, explicit country added
        assert recommend() == "ai"


def test_context_argument_is_validated(flags: Flags) -> None:
    with pytest.raises(TypeError, match="context must be a mapping or a callable"):
        flags.when("new_checkout", context=42)  # type: ignore[arg-type]  # testing misuse
    with pytest.raises(TypeError, match="otherwise must be callable"):
        flags.when("new_checkout", otherwise="nope")  # type: ignore[arg-type]  # testing misuse


def test_when_never_raises_on_bad_context(flags: Flags) -> None:
    @flags.when("new_checkout", otherwise=old_checkout, context=lambda cart: {"country": ["not", "hashable"]})
    def path(cart: str) -> str:
        return "new"

    assert path("x") == "old:x"


def test_strict_mode_raises_for_unknown_keys() -> None:
    strict = Flags.from_dict({}, strict=True)

    @strict.when("missing")
    def path() -> str:
        return "new"

    with pytest.raises(flagkit.FlagNotFoundError):
        path()


# --- variants -----------------------------------------------------------------------------


def make_dispatcher(flags: Flags) -> VariantDispatcher:
    @flags.variants("engine")
    def recommend(user: str) -> str:
        """Recommend things."""
        return f"default:{user}"

    @recommend.variant("ai")
    def _ai(user: str) -> str:
        return f"ai:{user}"

    @recommend.variant("hybrid", "experimental")
    def _hybrid(user: str) -> str:
        return f"hybrid:{user}"

    return recommend


def test_variants_dispatch_on_variant_served(flags: Flags) -> None:
    recommend = make_dispatcher(flags)
    assert recommend("u") == "default:u"  # legacy has no implementation → default
    with flags.context(plan="pro"):
        assert recommend("u") == "ai:u"
    with flags.context(plan="team"):
        assert recommend(user="u") == "hybrid:u"
    assert set(recommend.implementations) == {"ai", "hybrid", "experimental"}
    assert recommend.key == "engine"


def test_variants_resolve_and_read_only_implementations(flags: Flags) -> None:
    recommend = make_dispatcher(flags)
    impls = recommend.implementations
    assert recommend.resolve("u") is recommend.__wrapped__
    with flags.context(plan="pro"):
        assert recommend.resolve("u") is impls["ai"]
    assert impls["hybrid"] is impls["experimental"]
    with pytest.raises(TypeError):
        impls["ai"] = len  # type: ignore[index]  # read-only view: register with .variant()

    @recommend.variant("legacy")
    def _legacy(user: str) -> str:
        return f"legacy:{user}"

    assert impls["legacy"] is _legacy  # a live view
    assert recommend("u") == "legacy:u"


def test_variants_default_for_unknown_flag_and_errors() -> None:
    flags = Flags.from_dict({})
    recommend = make_dispatcher(flags)
    assert recommend("u") == "default:u"


def test_variants_preserve_metadata(flags: Flags) -> None:
    recommend = make_dispatcher(flags)
    assert recommend.__name__ == "recommend"
    assert recommend.__qualname__.endswith("make_dispatcher.<locals>.recommend")
    assert recommend.__doc__ == "Recommend things."
    assert recommend.__wrapped__.__name__ == "recommend"
    assert str(inspect.signature(recommend)) == "(user: 'str') -> 'str'"
    assert "recommend" in repr(recommend)
    # A real function (frameworks such as Starlette treat any other callable as an ASGI app),
    # still recognised as a dispatcher.
    assert inspect.isfunction(recommend)
    assert not inspect.iscoroutinefunction(recommend)
    assert isinstance(recommend, VariantDispatcher)


def test_variant_registration_returns_the_function(flags: Flags) -> None:
    @flags.variants("engine")
    def recommend() -> str:
        return "default"

    def ai() -> str:
        return "ai"

    assert recommend.variant("ai")(ai) is ai
    with pytest.raises(TypeError, match="at least one variant"):
        recommend.variant()


def test_variants_on_methods(flags: Flags) -> None:
    # classmethod/staticmethod objects do not expose .variant: register, then wrap.
    @flags.variants("engine")
    def _for_class(cls: type, user: str) -> str:
        return f"{cls.__name__}-default:{user}"

    @_for_class.variant("ai")
    def _for_class_ai(cls: type, user: str) -> str:
        return f"{cls.__name__}-ai:{user}"

    @flags.variants("engine")
    def _static(user: str) -> str:
        return f"static-default:{user}"

    @_static.variant("ai")
    def _static_ai(user: str) -> str:
        return f"static-ai:{user}"

    class Recommender:
        name = "r"

        @flags.variants("engine")
        def recommend(self, user: str) -> str:
            return f"{self.name}-default:{user}"

        @recommend.variant("ai")
        def _ai(self, user: str) -> str:
            return f"{self.name}-ai:{user}"

        for_class = classmethod(_for_class)
        static = staticmethod(_static)

    rec = Recommender()
    assert rec.recommend("u") == "r-default:u"
    assert Recommender.recommend(rec, "u") == "r-default:u"  # unbound, through the class
    assert (Recommender.for_class("u"), rec.static("u")) == ("Recommender-default:u", "static-default:u")
    with flags.context(plan="pro"):
        assert rec.recommend("u") == "r-ai:u"
        assert Recommender.recommend(rec, "u") == "r-ai:u"
        assert (Recommender.for_class("u"), rec.for_class("u")) == ("Recommender-ai:u", "Recommender-ai:u")
        assert (Recommender.static("u"), rec.static("u")) == ("static-ai:u", "static-ai:u")
    assert rec.recommend.__name__ == "recommend"
    assert rec.recommend.__self__ is rec  # bound like any method
    assert str(inspect.signature(rec.recommend)) == "(user: 'str') -> 'str'"
    assert inspect.isfunction(Recommender.__dict__["recommend"])
    assert isinstance(Recommender.__dict__["recommend"], VariantDispatcher)


def test_variants_on_async_functions(flags: Flags) -> None:
    @flags.variants("engine")
    async def recommend(user: str) -> str:
        await asyncio.sleep(0)
        return f"default:{user}"

    @recommend.variant("ai")
    async def _ai(user: str) -> str:
        return f"ai:{user}"

    @recommend.variant("hybrid")
    def _hybrid(user: str) -> str:  # sync implementation under an async default is awaited fine
        return f"hybrid:{user}"

    assert inspect.iscoroutinefunction(recommend)  # on every supported Python, 3.11 included
    assert inspect.isfunction(recommend)
    assert str(inspect.signature(recommend)) == "(user: 'str') -> 'str'"

    async def main() -> list[str]:
        out = [await recommend("u")]
        for plan in ("pro", "team"):
            with flags.context(plan=plan):
                out.append(await recommend("u"))
        return out

    assert asyncio.run(main()) == ["default:u", "ai:u", "hybrid:u"]


def test_variants_async_methods(flags: Flags) -> None:
    class Service:
        label = "s"

        @flags.variants("engine")
        async def run(self) -> str:
            """Run the engine."""
            return f"{self.label}-default"

        @run.variant("ai")
        async def _ai(self) -> str:
            await asyncio.sleep(0)
            return f"{self.label}-ai"

    service = Service()
    assert inspect.iscoroutinefunction(Service.run)
    assert inspect.iscoroutinefunction(service.run)
    assert service.run.__doc__ == "Run the engine."

    async def main() -> list[str]:
        out = [await service.run(), await Service.run(service)]
        with flags.context(plan="pro"):
            out += [await service.run(), await Service.run(service)]
        return out

    assert asyncio.run(main()) == ["s-default", "s-default", "s-ai", "s-ai"]


def test_variants_reject_non_callables(flags: Flags) -> None:
    with pytest.raises(TypeError, match="variants\\(\\) decorates a callable"):
        flags.variants("engine")(42)  # type: ignore[type-var]  # testing misuse
    recommend = make_dispatcher(flags)
    with pytest.raises(TypeError, match="variant\\(\\) registers a callable"):
        recommend.variant("ai")(42)  # type: ignore[type-var]  # testing misuse


def test_variants_explicit_context_from_arguments(flags: Flags) -> None:
    @flags.variants("engine", context=lambda plan: {"plan": plan})
    def recommend(plan: str) -> str:
        return "default"

    @recommend.variant("ai")
    def _(plan: str) -> str:
        return "ai"

    assert recommend("pro") == "ai"
    with flags.context(plan="pro"):
        assert recommend("free") == "default"


def test_context_isolated_between_threads(flags: Flags) -> None:
    @flags.when("new_checkout", otherwise=lambda: "old")
    def path() -> str:
        return "new"

    barrier = threading.Barrier(8)
    results: dict[int, str] = {}

    def worker(i: int) -> None:
        country = "US" if i % 2 else "FR"
        with flags.context(country=country):
            barrier.wait()
            results[i] = path()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == {i: ("new" if i % 2 else "old") for i in range(8)}


def test_context_isolated_between_asyncio_tasks(flags: Flags) -> None:
    @flags.when("new_checkout", otherwise=lambda: "old")
    async def path() -> str:
        return "new"

    async def task(country: str) -> str:
        with flags.context(country=country):
            await asyncio.sleep(0.01)
            return await path()

    async def main() -> list[str]:
        return await asyncio.gather(*(task("US" if i % 2 else "FR") for i in range(10)))

    assert asyncio.run(main()) == ["new" if i % 2 else "old" for i in range(10)]
