"""``{% load flagkit %}``: flags in Django templates.

Tags and filters evaluate with the ambient context the middleware sets for the request::

    {% flag "new_checkout" %}
      {% include "checkout/new.html" %}
    {% else %}
      {% include "checkout/old.html" %}
    {% endflag %}

    {% flag_variant "button_color" as color %}<button class="btn-{{ color }}">
    {% flag_value "support_email" "help@example.com" %}
    {% if "new_search"|flag_enabled %}…{% endif %}
    {% flagkit_bootstrap %}   (the client-visible flags as <script type="application/json">)
"""

from __future__ import annotations

from typing import Any

from django import template
from django.template.base import FilterExpression, Node, NodeList, Parser, Token
from django.template.context import Context
from django.utils.safestring import SafeString

from flagkit.bootstrap import ELEMENT_ID, script_tag

from ..flags import get_flags

register = template.Library()


class FlagNode(Node):
    """Renders one branch of ``{% flag %}…{% else %}…{% endflag %}``."""

    child_nodelists = ("nodelist_on", "nodelist_off")

    def __init__(self, key: FilterExpression, nodelist_on: NodeList, nodelist_off: NodeList) -> None:
        self.key = key
        self.nodelist_on = nodelist_on
        self.nodelist_off = nodelist_off

    def render(self, context: Context) -> str:
        key = self.key.resolve(context)
        if get_flags().is_enabled(str(key)):
            return self.nodelist_on.render(context)
        return self.nodelist_off.render(context)


@register.tag("flag")
def do_flag(parser: Parser, token: Token) -> FlagNode:
    """``{% flag "key" %}…{% else %}…{% endflag %}``: render a branch by a boolean flag.

    The key may be a literal or a template variable; ``{% else %}`` is optional.
    """
    bits = token.split_contents()
    if len(bits) != 2:
        raise template.TemplateSyntaxError(f"{bits[0]!r} takes exactly one argument: the flag key")
    key = parser.compile_filter(bits[1])
    nodelist_on = parser.parse(("else", "endflag"))
    nodelist_off = NodeList()
    if parser.next_token().contents == "else":
        nodelist_off = parser.parse(("endflag",))
        parser.delete_first_token()
    return FlagNode(key, nodelist_on, nodelist_off)


@register.simple_tag
def flag_variant(key: str) -> str:
    """The name of the variant served (``""`` when the flag is unknown or errored).

    ``{% flag_variant "button_color" as color %}`` stores it in a variable instead.
    """
    return get_flags().variant(str(key)) or ""


@register.simple_tag
def flag_value(key: str, default: Any = None) -> Any:
    """The flag's value, or ``default`` when unknown or of another type (as ``Flags.get_value``)."""
    if isinstance(default, str):
        default = str.__str__(default)  # template literals are SafeString; get_value wants type str
    return get_flags().get_value(str(key), default)


@register.filter
def flag_enabled(key: str) -> bool:
    """``{% if "key"|flag_enabled %}``: True when the boolean flag is on."""
    return get_flags().is_enabled(str(key))


@register.simple_tag
def flagkit_bootstrap(element_id: str = ELEMENT_ID) -> SafeString:
    """``{% flagkit_bootstrap %}``: the client-visible flags for this request in a JSON script tag.

    Emits ``<script type="application/json" id="flagkit-bootstrap">{...}</script>`` (escaped
    like Django's ``json_script``); read it with
    ``JSON.parse(document.getElementById("flagkit-bootstrap").textContent)``.
    """
    return SafeString(script_tag(get_flags().bootstrap(), str(element_id)))  # script_tag escapes
