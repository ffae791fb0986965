""" Text from someone else's file (class names, group names, paths) into a page, a markdown card or a matplotlib
figure: escaped here, in one place, so a name is shown as written and never runs or renders as markup."""
import html
import re

_MARKDOWN_SPECIAL = re.compile(r'([\\`*_{}\[\]()#+\-!|>~$])')  # $: math in model-card viewers


def html_text(text) -> str:
    """Text for an HTML page (element content or a quoted attribute)."""
    return html.escape(str(text), quote=True)


def markdown_text(text) -> str:
    """Text for a markdown document (a model card): HTML escaped (markdown renders raw HTML), markdown syntax
    backslash-escaped, line breaks folded."""
    flat = ' '.join(str(text).split())
    return _MARKDOWN_SPECIAL.sub(r'\\\1', html_text(flat))


def plot_text(text) -> str:
    """Text for a matplotlib label or title: `$` would start mathtext (and a malformed formula aborts the figure)."""
    return str(text).replace('$', r'\$')


_SPREADSHEET_FORMULA = ('=', '+', '-', '@', '\t', '\r')


def spreadsheet_cell(text) -> str:
    """Text for a CSV cell a spreadsheet may open (a class name, an image path): a cell starting with = + - @ (or a
    tab / carriage return) is a formula there (=HYPERLINK(...) on a click, =cmd|... on open); a leading ' makes it text
    and is not shown. A leading ' of the text itself is doubled, so `read_spreadsheet_cell` gives back exactly the
    text written."""
    text = str(text)
    return "'" + text if text.startswith(_SPREADSHEET_FORMULA + ("'",)) else text


def read_spreadsheet_cell(text: str) -> str:
    """The text `spreadsheet_cell` wrote into a cell."""
    return text[1:] if text.startswith("'") else text
