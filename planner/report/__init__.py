"""Reports: report data shared with the CLI tables, Markdown, HTML, XLSX, charts and atomic file writing.

The only package that imports pandas, jinja2 and openpyxl (inside functions)."""
