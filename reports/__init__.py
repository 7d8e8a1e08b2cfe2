"""HTML reports: self-contained pages (inline CSS, data-URI images and plots) rendered from plain dicts.

This package imports only the standard library, jinja2, matplotlib and Pillow; it knows nothing of models or
datasets. ``html`` renders templates, ``plots`` draws figures as data URIs, ``embed`` makes image
thumbnails.
"""

from reports.embed import image_data_uri, image_data_uri_or_placeholder
from reports.html import format_value, render_comparison, render_report, render_template

__all__ = [
    "format_value",
    "image_data_uri",
    "image_data_uri_or_placeholder",
    "render_comparison",
    "render_report",
    "render_template",
]
