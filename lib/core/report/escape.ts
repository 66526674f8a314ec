/** Text and attribute values for HTML and SVG markup: `&`, `<`, `>`, `"` and `'` escaped. */
export function escapeMarkup(value: unknown): string {
  return String(value)
    .replace(/&/g, "&amp;")
    .replace(/</g, "&lt;")
    .replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;")
    .replace(/'/g, "&#39;");
}
