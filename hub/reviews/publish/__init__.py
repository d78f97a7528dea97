"""The knowledge base publisher: review pages and index pages rendered to Markdown, built by MkDocs."""
