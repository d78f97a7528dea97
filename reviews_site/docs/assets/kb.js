// The knowledge base's own fixes on top of Material for MkDocs: the search dialog gets a name
// (screen readers announce "Search, dialog" instead of an unnamed dialog).
document.querySelectorAll('.md-search[role="dialog"]').forEach(function (el) {
  if (!el.hasAttribute("aria-label")) el.setAttribute("aria-label", "Search");
});
