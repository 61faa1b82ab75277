"""The data model: validated tables of invoice lines, customers, products, enrollments, payments."""
