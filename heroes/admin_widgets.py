"""The admin's widgets: an autocomplete select made safe with tampered values and free of a
query per row, and a select that skips the form renderer's templates."""

from django import forms
from django.contrib.admin.widgets import AutocompleteSelect
from django.core.exceptions import ValidationError
from django.forms.utils import flatatt
from django.utils.html import conditional_escape, escape
from django.utils.safestring import mark_safe


class Autocomplete(AutocompleteSelect):
    """An autocomplete select that labels its chosen option without a query when told it.

    Django's widget runs one query per rendered select to label the chosen option,
    so an inline of 20 rows costs 20 queries; formsets fill in `known` (value to
    label) from the rows they already fetched. Values that cannot be a primary key
    (tampered input shown again with its errors) are left out instead of raising.
    """

    known: dict[str, str] = {}

    def optgroups(self, name, value, attr=None):
        pk = self.field.remote_field.model._meta.pk
        valid = []
        for item in value:
            try:
                pk.clean(item, None)
            except ValidationError:
                continue
            valid.append(str(item))
        if valid and all(item in self.known for item in valid):
            options = [
                self.create_option(name, item, self.known[item], set(valid), index)
                for index, item in enumerate(valid)
            ]
            if not self.is_required:
                options.insert(0, self.create_option(name, "", "", False, 0))
            return [(None, options, 0)]
        return super().optgroups(name, valid, attr)


def label_known_choices(form, instance, names) -> None:
    """Tell the form's autocomplete selects for `names` the labels of `instance`'s relations."""
    for name in names:
        field = form.fields.get(name)
        # The admin wraps the select in a RelatedFieldWidgetWrapper (the add/change links).
        widget = getattr(field, "widget", None)
        widget = getattr(widget, "widget", widget)
        related = getattr(instance, name, None) if instance is not None else None
        if isinstance(widget, Autocomplete) and related is not None:
            widget.known = {str(related.pk): str(related)}


class DirectlyRendered:
    """For a widget: formatted in Python instead of through the form renderer's templates.

    The renderer runs a template per option and per list of attributes: the two fields
    of the action form above a change list (a select of seven actions, a hidden input)
    took a tenth of a 20-row page. `html(widget)` gives the templates' HTML (whitespace
    aside) from the widget's context.
    """

    def render(self, name, value, attrs=None, renderer=None):
        return mark_safe(self.html(self.get_context(name, value, attrs)["widget"]))  # noqa: S308


def _attributes(attrs: dict) -> str:
    # flatatt formats twice per call; most options have no attributes.
    return flatatt(attrs) if attrs else ""


class DirectSelect(DirectlyRendered, forms.Select):
    def html(self, widget):
        groups = []
        for group_name, options, _ in widget["optgroups"]:
            html = "".join(
                f'<option value="{escape(option["value"])}"{_attributes(option["attrs"])}>'
                f"{conditional_escape(option['label'])}</option>"
                for option in options
            )
            groups.append(
                f'<optgroup label="{escape(group_name)}">{html}</optgroup>' if group_name else html
            )
        attributes = _attributes(widget["attrs"])
        return f'<select name="{escape(widget["name"])}"{attributes}>{"".join(groups)}</select>'


class DirectHiddenInput(DirectlyRendered, forms.HiddenInput):
    def html(self, widget):
        value = "" if widget["value"] is None else f' value="{escape(widget["value"])}"'
        attributes = _attributes(widget["attrs"])
        return f'<input type="{widget["type"]}" name="{escape(widget["name"])}"{value}{attributes}>'
