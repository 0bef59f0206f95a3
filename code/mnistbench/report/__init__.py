"""What the report and the supplement need from records: values, tables, figures and studies.
It reads records and never trains."""
